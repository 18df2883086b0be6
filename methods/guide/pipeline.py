"""Identity unlearning end to end, for the tab and the CLI: photo -> aligned face -> other views -> W
inversion -> GUIDE (and the baseline, for comparison) -> dlib evaluation -> galleries -> saved generator."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..runtime import (AttackReport, CancelFn, MetricRow, ProgressFn, RunResult, report_progress, save_attack, save_run,
                       subrange, to_uint8)
from .attack import in_loop_finder, reinversion_attack
from .config import HELDOUT_ATTACK_STEPS, GuideConfig
from ..runtime.distributed import from_main_process, is_main_process
from ..runtime.results import other_process_result
from .evaluate import evaluate, evaluation_reference, verdict
from .face_input import FaceInputError, PhotoSource, align_face, other_views
from .inversion import InversionConfig, invert
from .train import GuideResult, run

GALLERY_SEED = 2024
INVERSION_SHARE, TRAINING_SHARE = 0.25, 0.6  # of the progress bar, after 5% for alignment


def unlearn_identity(backend: WSpaceBackend, photo: PhotoSource, config: GuideConfig,
                     extra_photos: Sequence[PhotoSource] = (), compare_baseline: bool = True, out_dir: Optional[Path] = None,
                     n_random: int = 48, n_show: int = 8, inversion_steps: int = InversionConfig.default("steps"),
                     view_names: Optional[Sequence[str]] = None, attack: bool = False, attack_steps: int = HELDOUT_ATTACK_STEPS,
                     attack_views: Optional[Sequence[str]] = None,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> RunResult:
    """Run GUIDE (``config``; plus the baseline when ``compare_baseline``, never beside robust rounds) on one photo
    and measure it.

    ID_others uses ``extra_photos`` when given, and always the photo's other views (mirrored, re-cropped,
    re-lit; only those in ``view_names`` when given), each aligned and inverted on its own. Writes the first
    method's result into ``out_dir``.
    Galleries: "photo · inversion · target", "the person's images" (the views before/after), "random faces";
    ``details``: the aligned face, the views, every method's GuideResult and report. ``attack``: then try to bring
    the person back from the first method's generator (:func:`~methods.guide.attack.reinversion_attack`, with
    its held-out variant with ``attack_steps``, on the photo and ``attack_views`` of its views, all when None); its report goes to ``report["attack"]`` and its files to ``out_dir/attack/``.
    """
    report_progress(progress, 0.0, "finding and aligning the face")
    face = align_face(photo)
    views = {"source": face.image}
    extra_names = [f"photo {i + 1}" for i in range(len(extra_photos))]
    for i, extra in enumerate(extra_photos):
        try:
            views[f"photo {i + 1}"] = align_face(extra).image
        except FaceInputError as exc:  # say which of the extra photos it was
            raise FaceInputError(f"more photos, #{i + 1} ({_name(extra)}): {exc}") from exc
    views.update(other_views(face, view_names))
    report_progress(progress, 0.05, f"inverting {len(views)} images into W")
    inverted = invert(backend, np.stack(list(views.values())), InversionConfig(steps=inversion_steps),
                      progress=subrange(progress, 0.05, 0.05 + INVERSION_SHARE), cancel=cancel)
    source_w = from_main_process(inverted.w[:1])  # every process trains from the same latent
    other_w = {name: inverted.w[i : i + 1] for i, name in enumerate(views) if name != "source"}
    # robust runs alone: it is the slow one, and its question (does the person come back?) is GUIDE's, not the baseline's
    runs = [("GUIDE", config)] + ([("baseline", replace(config, baseline=True))]
                                  if compare_baseline and not config.baseline and not config.robust_rounds else [])
    if config.baseline:
        runs = [("baseline", config)]
    reference = evaluation_reference(backend, source_w, face.image, other_w, n_random=n_random)
    # the photo and its generated views: what the robust mode's attack and the verdict's attack re-invert (other photos
    # of the person stay held out of the training and are judged by ID_others)
    attacked_names = [name for name in views if name not in extra_names]
    attacked = np.stack([views[name] for name in attacked_names])
    robust = config.robust_rounds > 0 and not config.baseline
    finder = in_loop_finder(attacked, config.robust_attack_steps, seed=config.seed) if robust else None
    results: dict[str, GuideResult] = {}
    span = TRAINING_SHARE / len(runs)
    for k, (name, cfg) in enumerate(runs):
        start = 0.05 + INVERSION_SHARE + k * span
        result = run(cfg, backend, source_w, progress=subrange(progress, start, start + 0.6 * span, f"{name}: "), cancel=cancel,
                     find_person=finder if name == "GUIDE" else None)
        results[name] = result
        if not is_main_process():  # it trained beside the main process; the main one measures
            continue
        report_progress(progress, start + 0.6 * span, f"{name}: measuring with dlib")
        result.report["inversion"] = {"ssim": round(inverted.ssim[0], 4), "seconds": round(inverted.seconds, 1),
                                      "views": list(views)}
        result.report["evaluation"] = evaluate(result.generator, reference, extra_names)
        result.report["notes"] = face.notes
    first = next(iter(results.values()))
    if not is_main_process():
        return other_process_result("guide", first.report)
    attack_report, attack_latents = None, {}
    if attack:
        report_progress(progress, 0.9, "recovery attack (held out): inverting the photo again into both generators")
        judged = np.stack([views[name] for name in attacked_names
                           if attack_views is None or name == "source" or name in attack_views])
        attack_report, attack_latents = reinversion_attack(
            backend, first.generator, judged, attack_steps, heldout=True,
            progress=subrange(progress, 0.9, 0.95), cancel=cancel)
        first.report["attack"] = attack_report.to_json()
    report_progress(progress, 0.95, "drawing the galleries")
    random_w = backend.to_w(backend.sample_latents(n_show, GALLERY_SEED))
    galleries = {
        "photo · inversion · target": {"photo · inversion · target": np.stack(
            [face.image, to_uint8(backend.render_w(source_w))[0], to_uint8(backend.render_w(first.target_w))[0]])},
        "the person's images": {"photo": np.stack(list(views.values())), "before": to_uint8(backend.render_w(inverted.w)),
                                **{f"after {n}": to_uint8(r.generator.render_w(inverted.w)) for n, r in results.items()}},
        "random faces": {"before": to_uint8(backend.render_w(random_w)),
                         **{f"after {n}": to_uint8(r.generator.render_w(random_w)) for n, r in results.items()}},
    }
    if attack_report is not None:
        found = {k: torch.from_numpy(v).reshape(-1, *backend.w_shape) for k, v in attack_latents.items()}
        galleries["recovery attack"] = {
            "photo": judged,
            "original: found": to_uint8(backend.render_w(found["original_latents.npy"])),
            f"{next(iter(results))}: found": to_uint8(first.generator.render_w(found["unlearned_latents.npy"]))}
    reports = {name: r.report for name, r in results.items()}
    files = save_result(first, Path(out_dir)) if out_dir is not None else []
    if attack_report is not None and out_dir is not None:
        files += save_attack(Path(out_dir), attack_report, attack_latents, **attack_report.extra)
    report_progress(progress, 1.0, "done")
    rows = metric_rows(reports) + (attack_rows(attack_report, len(results)) if attack_report else [])
    headline = verdict(first.report["evaluation"]) + (" " + attack_report.verdict("the person") if attack_report else "")
    if "robust" in first.report:
        rounds = ", ".join(f"{r['recovered']:.0%}" for r in first.report["robust"]["rounds"])
        headline += (f" Robust mode: the attack it trained against still recovered {rounds} of the images in its rounds "
                     "(a training fit).")
    elif attack_report is None and not config.baseline:
        headline += (" Robust mode and the recovery attack were off in this run: on this generator re-inverting the "
                     "photo usually finds the person again (the full preset measures it).")
    return RunResult("guide", first.generator, list(results), rows, galleries, first.report, files,
                     details={"face": face, "views": views, "inversion_ssim": inverted.ssim[0], "results": results,
                              "reports": reports},
                     verdict=headline)


def attack_rows(report: AttackReport, n_columns: int) -> list[MetricRow]:
    """The recovery attack's rows (on the first method's generator; the original's figure is the calibration)."""
    blank = ("",) * (n_columns - 1)
    return [
        MetricRow(f"recovery attack ({report.name}): re-inverted images recognised as the person (dlib < 0.6), of {report.n}",
                  (f"{report.recovered_unlearned:.0%} (original generator: {report.recovered_original:.0%})", *blank),
                  expert="re-inversion attack"),
        MetricRow("recovery attack: budget", (f"{report.budget['starts_per_image']} starts x "
                                              f"{report.budget['inversion_steps']} steps, {report.seconds:.0f} s", *blank)),
    ]


def _name(photo: PhotoSource) -> str:
    return Path(photo).name if isinstance(photo, (str, Path)) else "an image"


def save_result(result: GuideResult, out_dir: Path) -> list[Path]:
    """generator.safetensors + config.json, source_latent.npy (1, D) and report.json."""
    return save_run(out_dir, result.generator, result.report,
                    arrays={"source_latent.npy": result.source_w.flatten(1).numpy().astype(np.float32)})


def metric_rows(reports: dict[str, dict[str, Any]]) -> list[MetricRow]:
    """The dlib metrics of each method (one value per method), formatted for the table."""
    def row(label: str, key: str, fmt: str = "{:.3f}", expert: str = "") -> MetricRow:
        values = []
        for report in reports.values():
            v = report["evaluation"].get(key)
            values.append("—" if v is None else fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
        return MetricRow(label, tuple(values), expert)

    first = next(iter(reports.values()))
    each = lambda fn: tuple(fn(r) for r in reports.values())  # noqa: E731
    return [
        row("dlib distance photo ↔ inversion G_s(w_u) (< 0.6 = same person)", "photo_vs_reconstruction"),
        row("ID: dlib distance G_s(w_u) ↔ G_u(w_u) (> 0.6 = forgotten)", "id_source_before_vs_after", expert="ID"),
        row("dlib distance photo ↔ G_u(w_u)", "photo_vs_unlearned"),
        row("G_u(w_u) is still a face (detected)", "unlearned_source_is_a_face", "{}"),
        row("G_u(w_u): dlib's face detector finds it", "unlearned_source_hog_detected", "{}"),
        MetricRow("G_u(w_u): brightness (random faces' 10th–90th percentile)", each(
            lambda r: f"{r['evaluation']['unlearned_source_brightness']:.2f} ({r['evaluation']['random_brightness_p10_p90'][0]:.2f}"
                      f"–{r['evaluation']['random_brightness_p10_p90'][1]:.2f})")),
        row("ID_others: share of other images forgotten (> 0.6)", "id_others_forgotten_rate", "{:.0%}", expert="ID_others"),
        row("ID_others: mean dlib distance before ↔ after", "id_others_mean", expert="ID_others"),
        *([row("other photos of the person (held out of training): share forgotten", "extra_photos_forgotten_rate", "{:.0%}",
               expert="ID_others")] if any("extra_photos_forgotten_rate" in r["evaluation"] for r in reports.values()) else []),
        row(f"preservation: random faces still the same person ({first['evaluation']['n_random']} latents)",
            "preservation_same_person_rate", "{:.0%}"),
        row("preservation: mean SSIM on random latents", "preservation_ssim"),
        MetricRow("target face", each(lambda r: r["target"]["kind"])),
        *([MetricRow("robust rounds: the in-loop attack's recovery each round (a training fit)", each(
            lambda r: ", ".join(f"{x['recovered']:.0%}" for x in r["robust"]["rounds"]) if "robust" in r else "—"))]
          if any("robust" in r for r in reports.values()) else []),
        MetricRow("fine-tuning time (s)", each(lambda r: f"{r['train_s']:.1f}")),
        MetricRow("perceptual loss", each(lambda r: r["perceptual_loss"])),
        MetricRow("identity loss", each(lambda r: r["identity_loss"].split(" (")[0]
                                        + (" (no weights here)" if "not available" in r["identity_loss"] else ""))),
    ]
