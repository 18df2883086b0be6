"""From a labelling (or a sent direction) to a :class:`~methods.runtime.RunResult`: the run, the latent-shift
baseline beside it, held-out before/after rows, the metric rows and the PGD probe — what the Features tab shows."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from ..backends import GeneratorBackend
from ..runtime import AttackReport, CancelFn, MetricRow, ProgressFn, RunResult, check_cancel, report_progress, subrange, to_uint8
from .config import HELDOUT_SEED, MIN_LABELS_EACH, FeatureUnlearningConfig
from .direction import FeatureDirection, ShiftedGenerator, latent_shift
from ..runtime.distributed import is_main_process
from ..runtime.results import other_process_result
from .evaluate import heldout_rows, verdict
from .probe import adversarial_probe
from .train import run, save_result, validate_labels
from ..errors import InputError

COLUMNS = ["original generator", "unlearned generator", "latent shift (no training)"]
PROBE_RADIUS = 1.5


def unlearn_from_labels(
    backend: GeneratorBackend,
    positives: Optional[torch.Tensor],
    negatives: Optional[torch.Tensor],
    config: FeatureUnlearningConfig,
    probe: bool = True,
    out_dir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    direction: Optional[FeatureDirection] = None,
    feature: str = "the feature",
) -> RunResult:
    """Run feature unlearning (from labels, or from a given direction) and compare it with the latent shift;
    ``feature`` names the feature in the verdict and the report (e.g. "open mouths")."""
    started = time.perf_counter()
    if direction is not None and positives is None:
        # The probe's classifiers need labelled images: label prior samples by the projection.
        pool = backend.sample_latents(256, HELDOUT_SEED + 2)
        has = direction.has_feature(pool)
        positives, negatives = pool[has], pool[~has]
    positives, negatives = validate_labels(positives, negatives, backend.latent_dim, min_each=0)  # arrays (a CLI's .npy) as tensors
    if len(positives) < MIN_LABELS_EACH or len(negatives) < MIN_LABELS_EACH:
        raise InputError(
            f"too few labels: need at least {MIN_LABELS_EACH} samples with the feature and {MIN_LABELS_EACH} without "
            f"(have {len(positives)} and {len(negatives)})"
        )
    train_share = 0.85 if probe else 1.0
    result = run(config, backend, positives, negatives, progress=subrange(progress, 0, train_share), cancel=cancel,
                 direction=direction)
    if not is_main_process():
        return other_process_result("feature_unlearning", result.report)
    direction, unlearned = result.direction, result.generator

    galleries = {}
    for key, latents in zip(("with the feature", "without the feature"), heldout_rows(backend, direction)):
        galleries[key] = {
            "original": to_uint8(backend.render(latents)),
            "unlearned": to_uint8(unlearned.render(latents)),
            "latent shift": to_uint8(backend.render(latent_shift(latents, direction))),
        }
    heldout = result.report.get("heldout", {})
    unl, base = heldout.get("unlearned", {}), heldout.get("latent_shift_baseline", {})
    metrics = [
        MetricRow("held-out latents with the feature (projection)",
                  (heldout.get("share_with_feature_by_projection"), "same latents", "same latents")),
        MetricRow("SSIM to the original, faces without the feature (1 = unchanged)", (1.0, unl.get("ssim_kept"), base.get("ssim_kept"))),
        MetricRow("SSIM to the feature-free target f(z'), faces with it (1 = reached)",
                  (heldout.get("original_ssim_to_target"), unl.get("ssim_to_target"), 1.0)),
        MetricRow("extra cost at sampling time", ("—", "none (weights changed)", "a projection per latent")),
        MetricRow("training time (s)", ("—", result.report["train_seconds"], 0.0)),
    ]
    if probe:
        check_cancel(cancel)
        report_progress(progress, train_share, "adversarial probe: PGD on z")
        metrics += _probe_rows(backend, unlearned, direction, positives, negatives, result.report, cancel)
    result.report["feature"] = feature
    result.report["wall_s"] = round(time.perf_counter() - started, 2)  # the whole run: training, rows, probe
    files = save_result(result, Path(out_dir)) if out_dir is not None else []
    report_progress(progress, 1.0, "done")
    return RunResult("feature_unlearning", unlearned, COLUMNS, metrics, galleries, result.report, files,
                     details={"direction": direction, "losses": result.losses},
                     verdict=verdict(feature, heldout, result.report.get("probe")))


def probe_attack_report(probe: dict[str, Any], n: int, seconds: float) -> AttackReport:
    """The PGD probe in the shared shape of a recovery attack: "recovered" is the share of attacked latents whose image
    the judge (a classifier on the other half of the labels) says has the feature; the latent shift's in ``extra``."""
    accuracy = probe["judge_heldout_balanced_accuracy"]
    judge = "a classifier trained on the other half of the labels" + (
        f" (balanced accuracy {accuracy:.0%} on held-out labels; 50% is chance)" if accuracy is not None else "")
    return AttackReport(
        name="PGD on z", objective="nudge each latent (within an L2 ball) to raise a feature classifier trained on half "
        "the labels", budget={"latents": n, "radius": probe["radius"], "steps": probe["steps"]}, judge=judge,
        recovered_original=probe["original"]["judge_rate_after_attack"],
        recovered_unlearned=probe["unlearned"]["judge_rate_after_attack"], n=n, seconds=round(seconds, 1),
        extra={"latent_shift_recovered": probe["latent shift"]["judge_rate_after_attack"],
               "rates_before": {k: probe[k]["judge_rate_before"] for k in ("original", "unlearned", "latent shift")},
               "judge_balanced_accuracy": accuracy})


def _probe_rows(backend: GeneratorBackend, unlearned: GeneratorBackend, direction: FeatureDirection,
                positives: torch.Tensor, negatives: torch.Tensor, report: dict[str, Any],
                cancel: Optional[CancelFn]) -> list[MetricRow]:
    """The paper's robustness probe on the three generators; its report goes into ``report["probe"]``."""
    images = backend.render(torch.cat([positives, negatives]))
    labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).bool()
    latents = backend.sample_latents(64, HELDOUT_SEED + 1)
    generators = {"original": backend, "unlearned": unlearned, "latent shift": ShiftedGenerator(backend, direction)}
    try:
        started = time.perf_counter()
        probe_report = adversarial_probe(generators, images, labels, latents, radius=PROBE_RADIUS, cancel=cancel)
    except InputError as exc:  # too few labelled faces for the probe: said in the table
        probe_report = {"skipped": str(exc)}
    report["probe"] = {k: v for k, v in probe_report.items() if not k.startswith("_")}
    if "skipped" in probe_report:
        return [MetricRow("probe", (probe_report["skipped"], "", ""))]
    report["attack"] = probe_attack_report(probe_report, len(latents), time.perf_counter() - started).to_json()
    names = ("original", "unlearned", "latent shift")
    accuracy = probe_report["judge_heldout_balanced_accuracy"]
    return [
        MetricRow("probe: feature rate before attack (judge classifier)", tuple(probe_report[n]["judge_rate_before"] for n in names)),
        MetricRow("probe: feature rate after PGD on z (judge classifier)",
                  tuple(probe_report[n]["judge_rate_after_attack"] for n in names), expert="PGD"),
        MetricRow("probe: judge's held-out balanced accuracy (0.5 = chance; few labels make a weak judge)",
                  (accuracy if accuracy is not None else "too few labels to hold out", "", "")),
    ]
