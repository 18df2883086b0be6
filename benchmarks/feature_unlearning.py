"""Benchmark of Feature Unlearning on the DigiFace DCGAN: writes benchmarks/results/feature_unlearning.{json,md}.

    .venv/bin/python benchmarks/feature_unlearning.py [--pool 3000] [--fresh 1000]

The feature is "open mouth", labelled and judged by dlib's 68-point landmarks (inner-lip opening /
width >= 0.30 on dlib's own HOG face box), a model that no loss of the method sees. The labels come
from images, never from the latent projection. Timings are wall-clock on the machine it runs on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from methods.judges import faces
from methods import feature_unlearning as fu
from methods.feature_unlearning.probe import pgd_probe, train_feature_classifier
from methods.backends import load_generator
from methods.image_metrics import ssim_per_image
from methods.runtime import use_all_cores

OUT = ROOT / "benchmarks" / "results"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def app_start_seconds() -> float:
    """Seconds from `python app.py` to the first HTTP 200."""
    import tempfile

    from ui.launch import running_app

    started = time.perf_counter()
    with running_app(Path(tempfile.gettempdir()) / "feature-unlearning-bench-app.log"):
        return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=3000)
    ap.add_argument("--fresh", type=int, default=1000)
    ap.add_argument("--probe", type=int, default=256)
    args = ap.parse_args()
    use_all_cores()
    g = load_generator("digiface-dcgan")
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
                 "feature": "open mouth (dlib 68-point landmarks, inner-lip opening/width >= %.2f)" % faces.MOUTH_OPEN_THRESHOLD}

    # 1. label a pool by an image measure independent of the latent projection
    pool = g.sample_latents(args.pool, seed=12345)
    pool_images = g.render(pool)
    opening, t_label = timed(faces.mouth_opening, pool_images)
    found = np.isfinite(opening)
    is_open = opening >= faces.MOUTH_OPEN_THRESHOLD
    pos, neg = pool[torch.from_numpy(found & is_open)], pool[torch.from_numpy(found & ~is_open)]
    res["pool"] = {"n": args.pool, "dlib_face_found": float(found.mean()), "positives": len(pos), "negatives": len(neg),
                   "open_mouth_rate": float(is_open[found].mean()), "labelling_s": round(t_label, 1)}
    print("pool", res["pool"], flush=True)

    # 2. the default run, timed
    config = fu.FeatureUnlearningConfig()
    result, t_run = timed(fu.run, config, g, pos, neg)
    res["default_run"] = {"settings": result.report["settings"], "wall_s": round(t_run, 1),
                          "train_s": result.report["train_seconds"]}
    print("run", res["default_run"], flush=True)
    d, unlearned = result.direction, result.generator
    shifted = fu.ShiftedGenerator(g, d)

    # 3. fresh latents: feature rate, preservation, face detection
    fresh = g.sample_latents(args.fresh, seed=777)
    has = d.has_feature(fresh)
    imgs = {"original": g.render(fresh), "unlearned": unlearned.render(fresh), "latent shift": shifted.render(fresh)}
    res["fresh"] = {"n": args.fresh, "share_with_feature_by_projection": float(has.float().mean())}
    for name, x in imgs.items():
        rate = faces.open_mouth_rate(x)
        res["fresh"][name] = {
            "open_mouth_rate": rate["open_mouth_rate"],
            "dlib_face_found": rate["dlib_face_found"],
            "mtcnn_detection_rate": faces.mtcnn_detection_rate(x),
            "ssim_kept_vs_original": float(ssim_per_image(x[~has], imgs["original"][~has]).mean()),
            "ssim_all_vs_original": float(ssim_per_image(x, imgs["original"]).mean()),
        }
        print(name, res["fresh"][name], flush=True)

    # 4. adversarial probe: attack a classifier fit on half the pool labels; judge with the other half and dlib
    idx = np.flatnonzero(found)
    rng = np.random.default_rng(0)
    rng.shuffle(idx)
    half = len(idx) // 2
    labels = torch.from_numpy(is_open)
    attacker = train_feature_classifier(pool_images[idx[:half]], labels[idx[:half]], seed=1)
    judge = train_feature_classifier(pool_images[idx[half:]], labels[idx[half:]], seed=2)
    start = g.sample_latents(args.probe, seed=99)
    res["probe"] = {"radius": 1.5, "steps": 10, "n": args.probe,
                    "attacker_heldout_balanced_accuracy": attacker.heldout_balanced_accuracy,
                    "judge_heldout_balanced_accuracy": judge.heldout_balanced_accuracy}
    for name, gen in (("original", g), ("unlearned", unlearned), ("latent shift", shifted)):
        p = pgd_probe(gen, attacker.model, start, radius=1.5, steps=10)
        with torch.no_grad():
            judged = float((judge.model(p.attacked_images) > 0).float().mean())
        res["probe"][name] = {"judge_rate_after_attack": judged,
                              "dlib_open_mouth_rate_after_attack": faces.open_mouth_rate(p.attacked_images)["open_mouth_rate"]}
        print("probe", name, res["probe"][name], flush=True)

    # 5. speed: MS-SSIM variants, gallery render, app start
    for mode in ("native", "upsample"):
        cfg = fu.FeatureUnlearningConfig(steps=20, msssim_mode=mode, eval_samples=0)
        r, t = timed(fu.run, cfg, g, pos, neg)
        res.setdefault("msssim_step_s", {})[mode] = round(r.report["train_seconds"] / 20, 3)
    from ui.features import _page
    from methods.feature_unlearning.labels import LabelSet

    labels_set = LabelSet("digiface-dcgan", 64)
    render_times = [timed(_page, g, seed, labels_set)[1] for seed in range(10)]
    res["gallery_64_render_s_median"] = round(statistics.median(render_times), 3)
    res["app_start_s"] = round(app_start_seconds(), 1)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "feature_unlearning.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "feature_unlearning.md").write_text(markdown(res))
    print(markdown(res))


def markdown(r: dict) -> str:
    f, p = r["fresh"], r["probe"]
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    rows = [
        ("open-mouth rate (dlib), %d fresh latents" % f["n"], *(pct(f[k]["open_mouth_rate"]) for k in ("original", "unlearned", "latent shift"))),
        ("SSIM to original, faces the projection marks feature-free (64 px)", *(f"{f[k]['ssim_kept_vs_original']:.4f}" for k in ("original", "unlearned", "latent shift"))),
        ("SSIM to original, all faces", *(f"{f[k]['ssim_all_vs_original']:.4f}" for k in ("original", "unlearned", "latent shift"))),
        ("face detection rate (MTCNN, p >= 0.9)", *(pct(f[k]["mtcnn_detection_rate"]) for k in ("original", "unlearned", "latent shift"))),
        ("faces dlib finds", *(pct(f[k]["dlib_face_found"]) for k in ("original", "unlearned", "latent shift"))),
        ("probe: open-mouth rate after PGD on z, judged by dlib", *(pct(p[k]["dlib_open_mouth_rate_after_attack"]) for k in ("original", "unlearned", "latent shift"))),
        ("probe: rate after PGD, judged by a 2nd classifier", *(pct(p[k]["judge_rate_after_attack"]) for k in ("original", "unlearned", "latent shift"))),
        ("extra cost when sampling", "—", "none", "projection + the latent"),
    ]
    out = ["| measure | original | unlearned (default run) | latent shift (no training) |", "|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += [
        "",
        f"- Machine: {r['machine']}. Labels: {r['pool']['n']} pool latents, dlib found a face in {pct(r['pool']['dlib_face_found'])}, "
        f"{r['pool']['positives']} open / {r['pool']['negatives']} closed ({pct(r['pool']['open_mouth_rate'])} open), labelled in {r['pool']['labelling_s']} s.",
        f"- Default run ({r['default_run']['settings']['steps']} steps × batch {r['default_run']['settings']['batch_size']}, "
        f"lr {r['default_run']['settings']['lr']}, α {r['default_run']['settings']['alpha']}, threshold {r['default_run']['settings']['threshold']}): "
        f"**{r['default_run']['wall_s']} s** wall ({r['default_run']['train_s']} s training).",
        f"- MS-SSIM at 64 px: native (3-px window, 5 scales) {r['msssim_step_s']['native']} s/step; up-sampled to 176 px (11-px window) "
        f"{r['msssim_step_s']['upsample']} s/step.",
        f"- 64-sample gallery (render + PNG tiles): {r['gallery_64_render_s_median']} s median; app start to first HTTP 200: {r['app_start_s']} s.",
        f"- Probe: L2 PGD, radius {p['radius']}, {p['steps']} steps, {p['n']} latents; attacker/judge classifiers' held-out balanced accuracy "
        f"{p['attacker_heldout_balanced_accuracy']:.2f}/{p['judge_heldout_balanced_accuracy']:.2f}.",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
