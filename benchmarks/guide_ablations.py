"""The measurements behind GUIDE's design choices on this generator: writes benchmarks/results/guide_ablations.{json,md}.

    .venv/bin/python benchmarks/guide_ablations.py

1. Where the average face lives: is the rendering of the mean W latent a face (dlib/MTCNN), before vs after the
   first block's ReLU?
2. Inversion in z only vs in W: dlib distance photo ↔ reconstruction.
3. The residual penalty of the W inversion (0.1 vs the default 1.0): how far the photo's other views land
   from the source in W (in units of R), and GUIDE's ID_others with each.
4. A wider neighbourhood (α_max 1.0 vs the default 0.5) on the photo that misses the ID_others target.
5. The global preservation term: the official N_g 2, λ_global 1 vs the defaults N_g 16, λ_global 2.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from methods.guide.face_input import lfw_photos
from methods import guide
from methods.backends import load_generator
from methods.guide.face_input import align_face, example_photos, other_views
from methods.judges.faces import face_descriptors, identity_distance
from methods.guide.inversion import InversionConfig, invert

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results"


def guide_id_others(backend, face, views, inversion: InversionConfig, config: guide.GuideConfig) -> dict:
    inverted = invert(backend, np.stack([face.image, *views.values()]), inversion)
    stats = guide.latent_stats(backend)
    spread = (inverted.w[1:] - inverted.w[:1]).flatten(1).norm(dim=1) / stats.radius
    reference = guide.evaluation_reference(backend, inverted.w[:1], face.image,
                                           {k: inverted.w[i + 1 : i + 2] for i, k in enumerate(views)}, n_random=60)
    e = guide.evaluate(guide.run(config, backend, inverted.w[:1]).generator, reference)
    return {"views_distance_over_R": round(float(spread.mean()), 3), "id_others_forgotten_rate": e["id_others_forgotten_rate"],
            "preservation_ssim": round(e["preservation_ssim"], 3), "id_source_before_vs_after": e["id_source_before_vs_after"]}


def main() -> None:
    backend = load_generator("digiface-dcgan")
    res: dict = {}
    with torch.no_grad():
        z = backend.sample_latents(2000, 777)
        pre_mean = backend.to_w(z, pre_activation=True).mean(0, keepdim=True)
        post_mean = backend.to_w(z).mean(0, keepdim=True)
        found = np.isfinite(face_descriptors(backend.render_w(torch.cat([backend.project_w(pre_mean), post_mean])))).all(1)
    res["average_face_is_a_face"] = {"mean before the ReLU (= z 0)": bool(found[0]), "mean after the ReLU": bool(found[1])}
    res["radius_R"] = round(guide.latent_stats(backend).radius, 3)

    photos = {name: str(path) for name, path in example_photos().items()}
    res["inversion_dlib_distance"] = {}
    faces = {name: align_face(photo) for name, photo in photos.items()}
    for name, face in faces.items():
        row = {}
        for space in ("z", "w"):
            inverted = invert(backend, face.image[None], InversionConfig(space=space))
            row[space] = round(float(identity_distance(face_descriptors(face.image[None]), face_descriptors(inverted.reconstruction))[0]), 3)
        res["inversion_dlib_distance"][name] = row
        print(name, row, flush=True)

    res["residual_weight"] = {}
    for name, face in faces.items():
        views = other_views(face)
        res["residual_weight"][name] = {w: guide_id_others(backend, face, views, InversionConfig(residual_weight=w), guide.GuideConfig())
                                        for w in (0.1, 1.0)}
        print(name, res["residual_weight"][name], flush=True)

    res["global_term"] = {}
    for name, face in faces.items():
        views = other_views(face)
        res["global_term"][name] = {f"N_g {n}, λ {lam:g}": guide_id_others(backend, face, views, InversionConfig(),
                                                                          replace(guide.GuideConfig(), n_global=n, lambda_global=lam))
                                    for n, lam in ((2, 1.0), (16, 2.0))}
        print(name, res["global_term"][name], flush=True)

    name, photo = list(lfw_photos((1,)).items())[0]
    face = align_face(photo)
    views = other_views(face)
    res["alpha_max"] = {name: {a: guide_id_others(backend, face, views, InversionConfig(), replace(guide.GuideConfig(), alpha_max=a))
                               for a in (0.5, 1.0)}}
    print(res["alpha_max"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "guide_ablations.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    lines = [f"- Average face rendered from the mean W latent is a face: before the ReLU "
             f"{res['average_face_is_a_face']['mean before the ReLU (= z 0)']}, after the ReLU {res['average_face_is_a_face']['mean after the ReLU']}. "
             f"R (median ‖w − w̄‖) = {res['radius_R']}.",
             "", "| photo | dlib photo ↔ inversion, z only | in W |", "|---|---|---|"]
    lines += [f"| {n} | {r['z']} | {r['w']} |" for n, r in res["inversion_dlib_distance"].items()]
    lines += ["", "| photo | residual weight | other views' distance from the source (× R) | GUIDE ID_others forgotten | SSIM random |",
              "|---|---|---|---|---|"]
    for n, rows in res["residual_weight"].items():
        lines += [f"| {n} | {w} | {r['views_distance_over_R']} | {r['id_others_forgotten_rate']:.0%} | {r['preservation_ssim']} |" for w, r in rows.items()]
    lines += ["", "| photo | α_max (× R) | ID_others forgotten | SSIM random |", "|---|---|---|---|"]
    for n, rows in res["alpha_max"].items():
        lines += [f"| {n} | {a} | {r['id_others_forgotten_rate']:.0%} | {r['preservation_ssim']} |" for a, r in rows.items()]
    lines += ["", "| photo | global term | ID_others forgotten | SSIM random |", "|---|---|---|---|"]
    for n, rows in res["global_term"].items():
        lines += [f"| {n} | {k} | {r['id_others_forgotten_rate']:.0%} | {r['preservation_ssim']} |" for k, r in rows.items()]
    md = "\n".join(lines) + "\n"
    (OUT / "guide_ablations.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
