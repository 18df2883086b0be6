"""CLI: ``python -m methods.feature_unlearning --positives P.npy --negatives N.npy --out DIR [--preset quick]``.

Runs the Features tab's entry (:func:`unlearn_from_labels`: the run, the latent-shift baseline, the PGD probe if the
preset has it) and prints the tab's verdict and table. Writes ``DIR/generator.safetensors`` + ``config.json``
(loadable by ``methods.sample``), ``DIR/direction.safetensors``, ``DIR/losses.json`` and ``DIR/report.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import InputError
from ..backends import DEFAULT_FACE_GENERATOR, load_generator
from ..image_metrics import MSSSIM_MODES
from ..runtime.cli import print_result, tqdm_progress
from .compare import unlearn_from_labels
from .config import PRESETS, THRESHOLDS, FeatureUnlearningConfig


def main(argv: Optional[list[str]] = None) -> int:
    d = FeatureUnlearningConfig.default
    p = argparse.ArgumentParser(prog="python -m methods.feature_unlearning",
                                description="Feature Unlearning (Moon, Cho & Kim, AAAI 2024) from labelled latents.")
    p.add_argument("--positives", required=True, type=Path, help=".npy latents (n, D) that show the feature")
    p.add_argument("--negatives", required=True, type=Path, help=".npy latents (n, D) that do not")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--generator", default=DEFAULT_FACE_GENERATOR, help="registered name or a saved directory")
    p.add_argument("--preset", choices=list(PRESETS), default="full", help="steps, batch and lr (quick: the tab's default)")
    p.add_argument("--steps", type=int, help="default: the preset's")
    p.add_argument("--batch-size", type=int, help="default: the preset's")
    p.add_argument("--lr", type=float, help="default: the preset's")
    p.add_argument("--alpha", type=float, help="default: the preset's")
    p.add_argument("--threshold", choices=THRESHOLDS, default=d("threshold"))
    p.add_argument("--msssim", choices=MSSSIM_MODES, default=d("msssim_mode"), help="how MS-SSIM runs at 64 px")
    p.add_argument("--eval-samples", type=int, help="default: the preset's")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--probe", action=argparse.BooleanOptionalAction, default=None,
                   help="the PGD probe after the run (default: the preset's; full: on)")
    p.add_argument("--feature", default="the feature", help="the feature's name in the verdict, e.g. 'open mouths'")
    args = p.parse_args(argv)
    try:
        given = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
                                   ("alpha", args.alpha), ("eval_samples", args.eval_samples)) if v is not None}
        config = FeatureUnlearningConfig(**{**PRESETS[args.preset].settings, **given}, threshold=args.threshold,
                                         msssim_mode=args.msssim, seed=args.seed)
        backend = load_generator(args.generator)
        positives, negatives = np.load(args.positives), np.load(args.negatives)
        probe = PRESETS[args.preset].options["probe"] if args.probe is None else args.probe
        with tqdm_progress(config.steps, "feature unlearning", "step") as progress:
            result = unlearn_from_labels(backend, positives, negatives, config, probe=probe, out_dir=args.out,
                                         progress=progress, feature=args.feature)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    print_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
