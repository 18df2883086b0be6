"""Feature Unlearning's quick preset, chosen on development faces: variants of the quick settings on the shipped
open-mouth labels, judged by dlib on 400 new faces of a seed no reported table uses (benchmarks/presets.py reports on
seed 910000). Writes benchmarks/results/features_dev.{json,md}.

    .venv/bin/python benchmarks/features_dev.py

The chosen variant is the fastest whose open-mouth rate stays within 0.5 points of the previous quick settings' and
whose feature-free faces keep SSIM >= 0.98 (on the run's own held-out latents).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from methods import feature_unlearning as fu
from methods.backends import DEFAULT_FACE_GENERATOR, load_generator
from methods.feature_unlearning.labels import LabelSet
from methods.judges.faces import open_mouth_rate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
LABELS = ROOT / "assets" / "examples" / "features" / "open-mouths" / "labels.json"
DEV_FACES, DEV_SEED = 400, 920_000
BASE = {"steps": 75, "batch_size": 16, "lr": 2e-4, "alpha": 1.0, "eval_samples": 256}  # the quick preset before this search
VARIANTS = {
    "previous quick": {},
    "eval 128": {"eval_samples": 128},
    "60 steps lr 2.5e-4, eval 128": {"steps": 60, "lr": 2.5e-4, "eval_samples": 128},
    "75 steps × 12, eval 128": {"batch_size": 12, "eval_samples": 128},
    "50 steps lr 3e-4, eval 128": {"steps": 50, "lr": 3e-4, "eval_samples": 128},
}
MAX_RATE_LOSS, MIN_SSIM = 0.005, 0.98


def main() -> None:
    backend = load_generator(DEFAULT_FACE_GENERATOR)
    pos, neg = LabelSet.load(LABELS).latents(backend)
    z = backend.sample_latents(DEV_FACES, seed=DEV_SEED)
    before = open_mouth_rate(backend.render(z))["open_mouth_rate"]
    fu.unlearn_from_labels(backend, pos, neg, fu.FeatureUnlearningConfig(steps=2, batch_size=4, eval_samples=0))  # warm-up
    rows = []
    for name, change in VARIANTS.items():
        settings = {**BASE, **change}
        started = time.perf_counter()
        result = fu.unlearn_from_labels(backend, pos, neg, fu.FeatureUnlearningConfig(**settings), probe=False)
        seconds = time.perf_counter() - started
        rows.append({"variant": name, "settings": settings, "seconds": round(seconds, 1), "open_before": round(before, 4),
                     "open_after": round(open_mouth_rate(result.generator.render(z))["open_mouth_rate"], 4),
                     "ssim_feature_free": round(result.report["heldout"]["unlearned"]["ssim_kept"], 4)})
        print(rows[-1], flush=True)
    base = rows[0]
    for r in rows:
        r["within_tolerance"] = r["open_after"] - base["open_after"] <= MAX_RATE_LOSS and r["ssim_feature_free"] >= MIN_SSIM
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "features_dev.json").write_text(json.dumps(rows, indent=2) + "\n")
    md = (f"Open mouths by dlib on {DEV_FACES} development faces: {before:.1%} before.\n\n"
          "| variant (quick preset) | run time | open mouths after | feature-free SSIM | within tolerance |\n|---|---|---|---|---|\n"
          + "".join(f"| {r['variant']} | {r['seconds']:.1f} s | {r['open_after']:.1%} | {r['ssim_feature_free']:.3f} | "
                    f"{'yes' if r['within_tolerance'] else 'no'} |\n" for r in rows))
    (OUT / "features_dev.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
