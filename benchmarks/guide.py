"""Benchmark of GUIDE on real photos that ship with installed packages: writes benchmarks/results/guide.{json,md}.

    .venv/bin/python benchmarks/guide.py

For each photo: the default run as the CLI does it (align, six other views, W inversion, GUIDE, dlib evaluation on
100 random latents), timed; then the paper's baseline (200 steps) at several learning rates, so that it can be
compared with GUIDE at equal preservation: at GUIDE's lr even 5 baseline steps wreck the random faces (SSIM 0.5). Everything is judged by
dlib's face descriptor, which no loss uses.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from methods import guide
from methods.backends import load_generator
from methods.guide.face_input import align_face, example_photos, lfw_photos, other_views
from methods.guide import unlearn_identity
from methods.guide.inversion import invert

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results"
N_RANDOM = 100
BASELINE_LRS = (3e-6, 1e-5, 3e-5, 1e-3)  # 1e-3 = GUIDE's


def main() -> None:
    backend = load_generator("digiface-dcgan")
    photos = {name: str(path) for name, path in example_photos().items()}
    photos.update(lfw_photos())
    results = {}
    for name, photo in photos.items():
        started = time.perf_counter()
        comparison = unlearn_identity(backend, photo, guide.GuideConfig(), compare_baseline=False, n_random=N_RANDOM)
        wall = time.perf_counter() - started
        report = comparison.report
        entry = {"default_run_s": round(wall, 1), "train_s": report["train_s"], "inversion_ssim": report["inversion"]["ssim"],
                 "guide": report["evaluation"], "baseline": {}}
        # the baseline, same inversions, several lengths
        face = align_face(photo)
        views = other_views(face)
        inverted = invert(backend, np.stack([face.image, *views.values()]))
        other_w = {k: inverted.w[i + 1 : i + 2] for i, k in enumerate(views)}
        reference = guide.evaluation_reference(backend, inverted.w[:1], face.image, other_w, n_random=N_RANDOM)
        for lr in BASELINE_LRS:
            run = guide.run(replace(guide.GuideConfig(), baseline=True, lr=lr), backend, inverted.w[:1])
            entry["baseline"][lr] = guide.evaluate(run.generator, reference)
        results[name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "baseline"}, default=str)[:600], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "guide.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (OUT / "guide.md").write_text(markdown(results))
    print(markdown(results))


def _f(v, fmt="{:.3f}"):
    return "—" if v is None else fmt.format(v)


def markdown(results: dict) -> str:
    lines = ["| photo | dlib photo ↔ inversion | ID: G_s(w_u) ↔ G_u(w_u) | G_u(w_u) a face | ID_others forgotten | "
             "random faces same person | SSIM random | default run |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        e = r["guide"]
        lines.append(f"| {name} | {_f(e['photo_vs_reconstruction'])} | **{_f(e['id_source_before_vs_after'])}** | "
                     f"{'yes' if e['unlearned_source_is_a_face'] else 'no'} | **{_f(e['id_others_forgotten_rate'], '{:.0%}')}** "
                     f"({len(e['id_others'])} views) | **{_f(e['preservation_same_person_rate'], '{:.0%}')}** "
                     f"({e['preservation_faces_compared']} faces) | **{_f(e['preservation_ssim'])}** | {r['default_run_s']} s |")
    lines += ["", "GUIDE vs the paper's baseline (target = average face, L_local only; 200 steps) at several learning rates. "
              "Each cell: ID_others forgotten / mean SSIM on random latents / random faces still the same person.", "",
              "| photo | GUIDE (lr 1e-3) | " + " | ".join(f"baseline lr {lr:g}" for lr in BASELINE_LRS) + " |",
              "|---|---|" + "---|" * len(BASELINE_LRS)]
    for name, r in results.items():
        g = r["guide"]
        cells = [f"{_f(b['id_others_forgotten_rate'], '{:.0%}')} / {_f(b['preservation_ssim'], '{:.2f}')} / "
                 f"{_f(b['preservation_same_person_rate'], '{:.0%}')}" for b in r["baseline"].values()]
        lines.append(f"| {name} | {_f(g['id_others_forgotten_rate'], '{:.0%}')} / {_f(g['preservation_ssim'], '{:.2f}')} / "
                     f"{_f(g['preservation_same_person_rate'], '{:.0%}')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
