"""Feature Unlearning on the GAN and on the VAE, side by side, with labels and a judge no part of the method sees:
writes benchmarks/results/features_gan_vae.{json,md} (``--dev``: features_gan_vae_dev.*, the settings sweep).

The protocol, for each generator and each feature:
1. label a pool of 2000 latents z ~ N(0, I) by dlib's 68 landmarks on the images (no face found: not labelled);
2. run the Features CLI at its defaults (``python -m methods.feature_unlearning --generator G --positives P
   --negatives N --out DIR``; ``--dev`` adds the swept settings) with those positives and negatives;
3. judge 1000 fresh latents with the same measure at the same threshold: the original, the unlearned generator and
   the latent shift (no training), each judged only where dlib finds a face.

Features: an open mouth (inner-lip opening, the mean of the three inner-lip pairs, over the mouth-corner width,
above 0.2) and a turned head (the nose tip's offset from the eyes' midpoint over the eye-corner width, above 0.12
either way). Settings are chosen on the development seeds (``--dev``) and reported on the held-out ones.

    .venv/bin/python benchmarks/features_gan_vae.py [--dev]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from methods.backends import load_generator
from methods.judges.faces import landmarks68

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
GENERATORS = ("digiface-dcgan", "digiface-vae")
POOL, FRESH = 2000, 1000
SEEDS = {"dev": (101, 202), "heldout": (303, 404)}  # (pool seed, fresh seed)
OPEN_MOUTH, TURNED = 0.2, 0.12
DEV_SETTINGS = {"defaults": [], "lr 2e-4": ["--lr", "2e-4"], "600 steps": ["--steps", "600"],
                "alpha 2": ["--alpha", "2"], "alpha 4": ["--alpha", "4"]}


def measures(images: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image: open-mouth ratio and head-turn ratio from dlib's landmarks (NaN where no face is found)."""
    mouth, turn = [], []
    for pts in landmarks68(images):
        if pts is None:
            mouth.append(np.nan)
            turn.append(np.nan)
            continue
        gap = np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
        mouth.append(gap / max(np.linalg.norm(pts[48] - pts[54]), 1e-6))
        eyes = (pts[36] + pts[45]) / 2
        turn.append(abs(pts[30][0] - eyes[0]) / max(np.linalg.norm(pts[36] - pts[45]), 1e-6))
    return {"open mouth": np.asarray(mouth), "turned head": np.asarray(turn)}


THRESHOLDS = {"open mouth": OPEN_MOUTH, "turned head": TURNED}


def rate(values: np.ndarray, threshold: float) -> float:
    found = np.isfinite(values)
    return float((values[found] > threshold).mean()) if found.any() else float("nan")


def paired_difference(a: np.ndarray, b: np.ndarray, threshold: float, resamples: int = 2000) -> dict:
    """Rate of ``a`` minus rate of ``b`` on the latents where both images have a face, with a paired bootstrap 95%
    interval: the two generators drew the same latents, so their outcomes are compared latent by latent."""
    both = np.isfinite(a) & np.isfinite(b)
    da = (a[both] > threshold).astype(float) - (b[both] > threshold).astype(float)
    rng = np.random.default_rng(0)
    means = da[rng.integers(0, len(da), (resamples, len(da)))].mean(axis=1)
    return {"points": round(100 * float(da.mean()), 2), "ci95": [round(100 * float(q), 2) for q in np.percentile(means, [2.5, 97.5])],
            "n": int(both.sum())}


def run_cli(generator: str, pos: np.ndarray, neg: np.ndarray, work: Path, extra: list[str]) -> tuple[Path, float]:
    np.save(work / "pos.npy", pos)
    np.save(work / "neg.npy", neg)
    out = work / "run"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "methods.feature_unlearning", "--generator", generator, "--positives",
                           str(work / "pos.npy"), "--negatives", str(work / "neg.npy"), "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return out, time.perf_counter() - started


def one(generator_name: str, feature: str, split: str, extra: list[str], work: Path) -> dict:
    from methods.feature_unlearning.direction import FeatureDirection, latent_shift

    generator = load_generator(generator_name)
    pool_seed, fresh_seed = SEEDS[split]
    pool = generator.sample_latents(POOL, seed=pool_seed)
    values = measures(generator.render(pool))[feature]
    found = np.isfinite(values)
    positive = found & (values > THRESHOLDS[feature])
    negative = found & ~positive
    out, seconds = run_cli(generator_name, pool[torch.from_numpy(positive)].numpy(), pool[torch.from_numpy(negative)].numpy(),
                           work, extra)
    report = json.loads((out / "report.json").read_text())
    unlearned = load_generator(str(out))
    direction = FeatureDirection.load(out / "direction.safetensors")
    fresh = generator.sample_latents(FRESH, seed=fresh_seed)
    judged = {name: measures(g.render(z)) for name, (g, z) in
              {"original": (generator, fresh), "unlearned": (unlearned, fresh),
               "latent shift": (generator, latent_shift(fresh, direction))}.items()}
    probe = report.get("probe", {})
    return {"generator": generator_name, "feature": feature, "split": split, "settings": extra or "the CLI's defaults",
            "pool": {"faces_found": float(found.mean()), "positives": int(positive.sum()), "negatives": int(negative.sum())},
            "rate": {name: round(rate(m[feature], THRESHOLDS[feature]), 4) for name, m in judged.items()},
            "face_found": {name: round(float(np.isfinite(m[feature]).mean()), 4) for name, m in judged.items()},
            "unlearned_minus_shift": paired_difference(judged["unlearned"][feature], judged["latent shift"][feature],
                                                       THRESHOLDS[feature]),
            "feature_free_ssim": report["heldout"]["unlearned"]["ssim_kept"],
            "probe_after_pgd": {k: probe[k]["judge_rate_after_attack"] for k in ("original", "unlearned", "latent shift")
                                if isinstance(probe.get(k), dict)} or probe,
            "train_s": report["train_seconds"], "cli_s": round(seconds, 1),
            "threads": os.environ.get("OMP_NUM_THREADS", "all cores")}


def markdown(rows: list[dict], title: str) -> str:
    lines = [f"# {title}", "", "Written by `benchmarks/features_gan_vae.py` (protocol in its docstring). Rates are of the "
             "faces dlib finds, on 1000 fresh latents; the difference compares the unlearned generator with the latent "
             "shift latent by latent, where both images have a face (negative: the unlearned generator shows the feature "
             "less). SSIM is the unlearned generator's on the latents without the feature (by projection), against the "
             "original.", "",
             "| generator | feature | settings | rate: original | unlearned | latent shift | unlearned − shift, points "
             "(paired 95% CI) | feature-free SSIM | faces found (unlearned) | PGD probe after attack: original / unlearned "
             "/ shift | train (s, threads) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        settings = r["settings"] if isinstance(r["settings"], str) else " ".join(r["settings"])
        p = r["probe_after_pgd"]
        probe = " / ".join(f"{p[k]:.0%}" for k in ("original", "unlearned", "latent shift")) if "unlearned" in p else "—"
        d = r.get("unlearned_minus_shift")
        diff = f"{d['points']:+.1f} ({d['ci95'][0]:+.1f} to {d['ci95'][1]:+.1f})" if d else "—"
        lines.append(f"| {r['generator']} | {r['feature']} | {settings} | {r['rate']['original']:.1%} | "
                     f"{r['rate']['unlearned']:.1%} | {r['rate']['latent shift']:.1%} | {diff} | {r['feature_free_ssim']:.3f} | "
                     f"{r['face_found']['unlearned']:.0%} | {probe} | {r['train_s']:.0f} ({r.get('threads', 'all cores')}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", action="store_true", help="the settings sweep on the development seeds (open mouths)")
    ap.add_argument("--generators", nargs="*", default=list(GENERATORS))
    ap.add_argument("--settings", nargs="*", choices=list(DEV_SETTINGS), default=list(DEV_SETTINGS),
                    help="with --dev: which of the swept settings to run")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.dev:
            for generator in args.generators:
                for name in args.settings:
                    rows.append(one(generator, "open mouth", "dev", DEV_SETTINGS[name], Path(tempfile.mkdtemp(dir=tmp))))
                    print(json.dumps(rows[-1]), flush=True)
        else:
            for generator in args.generators:
                for feature in THRESHOLDS:
                    rows.append(one(generator, feature, "heldout", [], Path(tempfile.mkdtemp(dir=tmp))))
                    print(json.dumps(rows[-1]), flush=True)
    stem = "features_gan_vae_dev" if args.dev else "features_gan_vae"
    previous = OUT / f"{stem}.json"  # rows of other generators (or, with --dev, other settings) from an earlier call are kept
    key = lambda r: (r["generator"], r["feature"], str(r["settings"]))  # noqa: E731
    if previous.is_file():
        done = {key(r) for r in rows}
        rows = [r for r in json.loads(previous.read_text())["rows"] if key(r) not in done] + rows
        rows.sort(key=lambda r: (GENERATORS.index(r["generator"]), list(THRESHOLDS).index(r["feature"])))
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "threads": os.environ.get("OMP_NUM_THREADS", "all cores"), "rows": rows}
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=2))
    title = ("Feature Unlearning settings on the development seeds (open mouths)" if args.dev else
             "Feature Unlearning on the GAN and the VAE, held-out seeds")
    (OUT / f"{stem}.md").write_text(markdown(rows, title))
    print(markdown(rows, title))


if __name__ == "__main__":
    main()
