"""CLI: ``python -m methods.guide --image FACE.jpg --out DIR [--preset quick --baseline --attack --robust --target ufo
--steps 200 --d 1.0 --seed 0 --other-image P.jpg ...]``.

Writes ``DIR/generator.safetensors`` + ``config.json``, ``DIR/source_latent.npy`` ((1, 8192) = w_u in W) and
``DIR/report.json``; with ``--attack`` also ``DIR/attack/original_latents.npy`` and ``unlearned_latents.npy`` ((n_images, 8192):
the photo first, then its views; each the best latent the held-out attack found) and ``DIR/attack/report.json`` (``original_distance``,
``unlearned_distance``: dlib distances image <-> render of its latent, in that order; the budget).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from ..errors import InputError
from ..runtime.distributed import is_main_process
from ..backends import DEFAULT_FACE_GENERATOR, load_generator
from .config import PRESETS, ROBUST_ROUNDS, TARGETS, GuideConfig
from .pipeline import unlearn_identity


def main(argv: Optional[list[str]] = None) -> int:
    d = GuideConfig.default
    p = argparse.ArgumentParser(prog="python -m methods.guide",
                                description="GUIDE (Seo et al., CVPR 2024): make a face generator unable to produce one person, from one photo.")
    p.add_argument("--image", type=Path, required=True, help="one photo of the person (JPEG/PNG)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--baseline", action="store_true", help="the paper's baseline: target = average face, L_local only")
    p.add_argument("--preset", choices=list(PRESETS), default="full",
                   help="steps, lr, inversion steps and views (quick: the tab's default)")
    p.add_argument("--steps", type=int, help="default: the preset's")
    p.add_argument("--target", choices=TARGETS, default=d("target"),
                   help="nobody: a random face of nobody in particular (default); ufo: the paper's UFO point")
    p.add_argument("--d", type=float, default=d("d"), help="UFO distance in units of R (a typical face's distance from w̄)")
    p.add_argument("--robust", action="store_true",
                   help=f"robust mode: {ROBUST_ROUNDS} rounds of re-inverting the photo into the result and forgetting what is found")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--other-image", type=Path, action="append", default=[], help="other photos of the person (ID_others)")
    p.add_argument("--generator", default=DEFAULT_FACE_GENERATOR)
    p.add_argument("--attack", action="store_true",
                   help="then try to bring the person back with the held-out attack (inverting the photo and its views "
                        "again, with starts and a schedule no training used); writes DIR/attack/")
    p.add_argument("--n-random", type=int, help="random latents for the preservation metrics (default: the preset's)")
    args = p.parse_args(argv)
    try:
        preset = PRESETS[args.preset]
        config = GuideConfig(**{**preset.settings, **({"steps": args.steps} if args.steps else {})}, d=args.d,
                             seed=args.seed, baseline=args.baseline, target=args.target,
                             robust_rounds=ROBUST_ROUNDS if args.robust else preset.settings.get("robust_rounds", 0))
        backend = load_generator(args.generator)
        options = {**preset.options, "compare_baseline": False, "attack": args.attack, "attack_views": None,
                   **({"n_random": args.n_random} if args.n_random else {})}
        result = unlearn_identity(backend, args.image, config, extra_photos=args.other_image, out_dir=args.out, **options)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    if not is_main_process():
        return 0
    e = result.report["evaluation"]
    print(f"wrote {args.out}: ID distance before/after {e['id_source_before_vs_after']}, ID_others forgotten "
          f"{e.get('id_others_forgotten_rate')}, preservation {e['preservation_same_person_rate']} (SSIM {e['preservation_ssim']:.3f})")
    if "attack" in result.report:
        a = result.report["attack"]
        print(f"recovery attack, {a['name']} ({args.out / 'attack'}): recognised again {a['recovered_unlearned']:.0%} of "
              f"{a['n']} images (original generator: {a['recovered_original']:.0%})")
    if "robust" in result.report:
        rounds = ", ".join(f"{r['recovered']:.0%}" for r in result.report["robust"]["rounds"])
        print(f"robust rounds: the in-loop attack recovered {rounds} (a training fit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
