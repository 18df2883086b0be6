"""Feature Unlearning on labels from a looser judge: does the fine-tune reach the latent shift it imitates?
Writes benchmarks/results/feature_threshold.{json,md}.

    .venv/bin/python benchmarks/feature_threshold.py [--pool 2000] [--fresh 600]

An independent labelling: dlib's landmarks call a mouth open at inner-lip opening / width >= 0.2 (looser than the
suite's 0.3: about 15% of faces). A pool of faces is labelled at that threshold; every variant of the full settings
fine-tunes on those labels; dlib at the same threshold counts open mouths on fresh faces. Settings are chosen on a
development set of fresh faces (seed 777) and reported on held-out faces (seed 778), with the latent shift (the
no-training baseline the fine-tune imitates) and SSIM of the faces without the feature (by projection) to the
original's. The chosen variant is the one with the lowest development rate among those that keep that SSIM >= 0.98.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from methods import feature_unlearning as fu
from methods.backends import load_generator
from methods.image_metrics import ssim_per_image
from methods.judges import faces
from methods.runtime import use_all_cores

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
LOOSE = 0.2  # inner-lip opening / width: the independent, looser judge
DEV_SEED, HELDOUT_SEED, POOL_SEED = 777, 778, 12345
MIN_SSIM = 0.98
FULL = fu.PRESETS["full"].settings
VARIANTS = {
    "full preset (300 steps × 32, lr 1e-4, α 1)": {"alpha": 1.0},
    "α 2": {"alpha": 2.0},
    "α 3": {"alpha": 3.0},
    "600 steps": {"steps": 600},
    "lr 2e-4": {"lr": 2e-4},
}


def judged(backend, generator, latents: torch.Tensor, direction: fu.FeatureDirection, original: torch.Tensor) -> dict:
    """Open mouths at the loose threshold, and SSIM to the original on faces without the feature (by projection)."""
    images = generator.render(latents) if generator is not None else backend.render(fu.latent_shift(latents, direction))
    kept = ~direction.has_feature(latents)
    return {"open_rate": round(faces.open_mouth_rate(images, threshold=LOOSE)["open_mouth_rate"], 4),
            "ssim_feature_free": round(float(ssim_per_image(images[kept], original[kept]).mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--fresh", type=int, default=600)
    args = parser.parse_args()
    use_all_cores()
    g = load_generator("digiface-dcgan")
    pool = g.sample_latents(args.pool, seed=POOL_SEED)
    opening = faces.mouth_opening(g.render(pool))
    found = np.isfinite(opening)
    is_open = opening >= LOOSE
    pos, neg = pool[torch.from_numpy(found & is_open)], pool[torch.from_numpy(found & ~is_open)]
    res = {"judge": f"dlib 68-point landmarks, inner-lip opening / width >= {LOOSE}",
           "pool": {"n": args.pool, "positives": len(pos), "negatives": len(neg), "open_rate": round(float(is_open[found].mean()), 4)}}
    print(res["pool"], flush=True)
    sets = {name: g.sample_latents(args.fresh, seed=seed) for name, seed in (("dev", DEV_SEED), ("heldout", HELDOUT_SEED))}
    originals = {name: g.render(z) for name, z in sets.items()}
    res["original"] = {name: round(faces.open_mouth_rate(x, threshold=LOOSE)["open_mouth_rate"], 4) for name, x in originals.items()}
    direction = fu.FeatureDirection.from_labels(pos, neg)
    res["latent_shift"] = {name: judged(g, None, z, direction, originals[name]) for name, z in sets.items()}
    print("original", res["original"], "latent shift", res["latent_shift"], flush=True)
    runs = {}
    for name, change in VARIANTS.items():
        config = fu.FeatureUnlearningConfig(**{**FULL, **change})
        started = time.perf_counter()
        result = fu.run(config, g, pos, neg)
        runs[name] = result.generator
        res.setdefault("variants", {})[name] = {"settings": {**FULL, **change}, "seconds": round(time.perf_counter() - started, 1),
                                                "dev": judged(g, result.generator, sets["dev"], direction, originals["dev"])}
        print(name, res["variants"][name], flush=True)
    eligible = {n: v for n, v in res["variants"].items() if v["dev"]["ssim_feature_free"] >= MIN_SSIM}
    chosen = min(eligible, key=lambda n: eligible[n]["dev"]["open_rate"]) if eligible else next(iter(VARIANTS))
    res["chosen"] = chosen
    for name in dict.fromkeys([next(iter(VARIANTS)), chosen]):
        res["variants"][name]["heldout"] = judged(g, runs[name], sets["heldout"], direction, originals["heldout"])
        print("held out", name, res["variants"][name]["heldout"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "feature_threshold.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [f"Open mouths by dlib at opening/width >= {LOOSE} ({args.fresh} fresh faces each; labels: {len(pos)} open and "
             f"{len(neg)} closed of a {args.pool}-face pool). Original: {res['original']['dev']:.1%} (dev), "
             f"{res['original']['heldout']:.1%} (held out).", "",
             "| variant | run time | dev: open mouths | dev: feature-free SSIM | held out: open mouths | held out: feature-free SSIM |",
             "|---|---|---|---|---|---|"]
    shift = res["latent_shift"]
    lines.append(f"| latent shift (no training; the target) | — | {shift['dev']['open_rate']:.1%} | {shift['dev']['ssim_feature_free']:.3f} | "
                 f"{shift['heldout']['open_rate']:.1%} | {shift['heldout']['ssim_feature_free']:.3f} |")
    for name, v in res["variants"].items():
        h = v.get("heldout")
        held = f"{h['open_rate']:.1%} | {h['ssim_feature_free']:.3f}" if h else "— | —"
        lines.append(f"| {name}{' (chosen on dev)' if name == chosen else ''} | {v['seconds']:.0f} s | {v['dev']['open_rate']:.1%} | "
                     f"{v['dev']['ssim_feature_free']:.3f} | {held} |")
    (OUT / "feature_threshold.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
