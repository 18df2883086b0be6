"""Identity unlearning end to end, for the tab and the CLI: photo -> aligned face -> other views -> W
inversion -> GUIDE (and the baseline, for comparison) -> dlib evaluation -> galleries -> saved generator."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .backends import GeneratorBackend
from .face_input import AlignedFace, PhotoSource, align_face, other_views
from .guide import GuideConfig, GuideResult, evaluate, evaluation_reference, run
from .inversion import InversionConfig, invert
from .runtime import CancelFn, ProgressFn, report_progress, to_uint8, write_json


@dataclass
class IdentityComparison:
    face: AlignedFace
    reconstruction: np.ndarray  # uint8 (64, 64, 3): G_s(w_u)
    inversion_ssim: float
    views: dict[str, np.ndarray]  # name -> aligned uint8 face (the source first)
    results: dict[str, GuideResult]  # "GUIDE" and/or "baseline"
    reports: dict[str, dict[str, Any]]
    before: dict[str, np.ndarray]  # row name -> uint8 (n, 64, 64, 3): the views, then random faces
    random_before: np.ndarray
    random_after: dict[str, np.ndarray]  # method -> uint8 (n, 64, 64, 3)
    views_after: dict[str, np.ndarray]  # method -> the views through the unlearned generator
    target: np.ndarray  # uint8 (64, 64, 3): G_s(w_t) of the first method


def unlearn_identity(backend: GeneratorBackend, photo: PhotoSource, config: GuideConfig,
                     extra_photos: Sequence[PhotoSource] = (), compare_baseline: bool = True, out_dir: Optional[Path] = None,
                     n_random: int = 48, n_show: int = 8, inversion: Optional[InversionConfig] = None,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> IdentityComparison:
    """Run GUIDE (``config``; plus the baseline when ``compare_baseline``) on one photo and measure it.

    ID_others uses ``extra_photos`` when given, and always the photo's other views (mirrored, re-cropped,
    re-lit), each aligned and inverted on its own. Writes the first result into ``out_dir``."""
    config.validate()
    report_progress(progress, 0.0, "finding and aligning the face")
    face = align_face(photo)
    views = {"source": face.image}
    views.update({f"photo {i + 1}": align_face(p).image for i, p in enumerate(extra_photos)})
    views.update(other_views(face))
    report_progress(progress, 0.05, f"inverting {len(views)} images into W")
    inverted = invert(backend, np.stack(list(views.values())), inversion,
                      progress=lambda f, m: report_progress(progress, 0.05 + 0.25 * f, m), cancel=cancel)
    source_w = inverted.w[:1]
    other_w = {name: inverted.w[i : i + 1] for i, name in enumerate(views) if name != "source"}
    runs = [("GUIDE", config)] + ([("baseline", replace(config, baseline=True))] if compare_baseline and not config.baseline else [])
    if config.baseline:
        runs = [("baseline", config)]
    reference = evaluation_reference(backend, source_w, face.image, other_w, n_random=n_random)
    results, reports = {}, {}
    span = 0.6 / len(runs)
    for k, (name, cfg) in enumerate(runs):
        start = 0.3 + k * span
        result = run(cfg, backend, source_w, progress=lambda f, m, s=start: report_progress(progress, s + 0.6 * span * f, f"{name}: {m}"),
                     cancel=cancel)
        report_progress(progress, start + 0.6 * span, f"{name}: measuring with dlib")
        result.report["inversion"] = {"ssim": round(inverted.ssim[0], 4), "seconds": round(inverted.seconds, 1),
                                      "views": list(views)}
        result.report["evaluation"] = evaluate(result.generator, reference)
        result.report["notes"] = face.notes
        results[name], reports[name] = result, result.report
    report_progress(progress, 0.95, "drawing the galleries")
    random_w = backend.to_w(backend.sample_latents(n_show, 2024))
    comparison = IdentityComparison(
        face=face, reconstruction=to_uint8(backend.render_w(source_w))[0], inversion_ssim=inverted.ssim[0], views=views,
        results=results, reports=reports, before={"photo": np.stack(list(views.values())),
                                                  "before": to_uint8(backend.render_w(inverted.w))},
        random_before=to_uint8(backend.render_w(random_w)),
        random_after={name: to_uint8(r.generator.render_w(random_w)) for name, r in results.items()},
        views_after={name: to_uint8(r.generator.render_w(inverted.w)) for name, r in results.items()},
        target=to_uint8(backend.render_w(next(iter(results.values())).target_w))[0])
    if out_dir is not None:
        first = next(iter(results.values()))
        save_result(first, Path(out_dir))
    report_progress(progress, 1.0, "done")
    return comparison


def save_result(result: GuideResult, out_dir: Path) -> list[Path]:
    """generator.safetensors + config.json, source_latent.npy (1, D) and report.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.generator.save(out_dir, provenance={"method": result.report["method"], "settings": result.report["settings"]})
    np.save(out_dir / "source_latent.npy", result.source_w.flatten(1).numpy().astype(np.float32))
    write_json(out_dir / "report.json", result.report)
    return [out_dir / n for n in ("generator.safetensors", "config.json", "source_latent.npy", "report.json")]


def metrics_table(reports: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """Rows (metric, one value per method) of what the tab shows."""
    def row(label: str, key: str, fmt: str = "{:.3f}") -> list[Any]:
        values = []
        for report in reports.values():
            v = report["evaluation"].get(key)
            values.append("—" if v is None else fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
        return [label, *values]

    first = next(iter(reports.values()))
    return [
        row("dlib distance photo ↔ inversion G_s(w_u) (< 0.6 = same person)", "photo_vs_reconstruction"),
        row("ID: dlib distance G_s(w_u) ↔ G_u(w_u) (> 0.6 = forgotten)", "id_source_before_vs_after"),
        row("dlib distance photo ↔ G_u(w_u)", "photo_vs_unlearned"),
        row("G_u(w_u) is still a face (detected)", "unlearned_source_is_a_face", "{}"),
        row("ID_others: share of other images forgotten (> 0.6)", "id_others_forgotten_rate", "{:.0%}"),
        row("ID_others: mean dlib distance before ↔ after", "id_others_mean"),
        row(f"preservation: random faces still the same person ({first['evaluation']['n_random']} latents)",
            "preservation_same_person_rate", "{:.0%}"),
        row("preservation: mean SSIM on random latents", "preservation_ssim"),
        ["fine-tuning time (s)", *[f"{r['train_s']:.1f}" for r in reports.values()]],
        ["perceptual loss", *[r["perceptual_loss"] for r in reports.values()]],
        ["identity loss", *[r["identity_loss"].split(" (")[0] + (" (no weights here)" if "not available" in r["identity_loss"] else "")
                            for r in reports.values()]],
    ]
