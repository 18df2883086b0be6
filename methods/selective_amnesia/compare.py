"""From settings to a :class:`~methods.runtime.RunResult`: run Selective Amnesia, measure before and after,
and draw every concept on fixed latents — what the Amnesia tab shows. Digits are judged by the digits
classifier; prompts (Stable Diffusion) by what can be measured offline."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..runtime import CancelFn, MetricRow, ProgressFn, RunResult, report_progress, save_run, subrange, to_uint8
from .config import AmnesiaConfig
from .evaluate import evaluate, evaluate_original, image_similarity, prompt_verdict, surrogate_fit, verdict
from .train import run

COLUMNS = ["before", "after"]
GALLERY_SEED = 2024


def forget_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, n_show: int = 8,
                       eval_per_class: int = 200) -> RunResult:
    """Selective Amnesia on a class-conditional model, judged before and after by the digits classifier."""
    result = run(config, backend, progress=subrange(progress, 0, 0.85), cancel=cancel)  # checks the settings first
    report_progress(progress, 0.86, "measuring the original with the digits classifier")
    before_eval = evaluate_original(backend, config.forget, n_per_class=eval_per_class)
    report_progress(progress, 0.92, "measuring the result with the digits classifier")
    after_eval = evaluate(result.generator, config.forget, n_per_class=eval_per_class)
    result.report.update(before=before_eval, after=after_eval)
    galleries = {"before": concept_grid(backend, n_show), "after": concept_grid(result.generator, n_show)}
    f = config.forget
    metrics = [
        MetricRow(f"P(class {f}) on samples of '{f}' (chance 0.1)",
                  (before_eval["forgotten_probability"], after_eval["forgotten_probability"])),
        MetricRow(f"classifier entropy on samples of '{f}' (max ln 10 = 2.303)",
                  (before_eval["forgotten_entropy"], after_eval["forgotten_entropy"])),
        MetricRow("accuracy on samples of the remembered classes",
                  (before_eval["remembered_accuracy"], after_eval["remembered_accuracy"])),
        MetricRow("lowest remembered-class accuracy",
                  (min(before_eval["per_class_accuracy"].values()), min(after_eval["per_class_accuracy"].values()))),
        MetricRow("time: Fisher + forgetting (s)", ("—", result.report["wall_s"])),
    ]
    files = save_run(out_dir, result.generator, result.report) if out_dir is not None else []
    report_progress(progress, 1.0, "done")
    return RunResult("selective_amnesia", result.generator, COLUMNS, metrics, galleries, result.report, files,
                     verdict=verdict(config.forget, config.surrogate, before_eval, after_eval))


@torch.no_grad()
def concept_grid(backend: GeneratorBackend, n_show: int = 8) -> dict[str, np.ndarray]:
    """``n_show`` samples of every concept on the gallery's fixed latents (the same for every model): {concept: uint8}.
    The original's grid is what a run's "before" shows, so a tab can show it before any run."""
    z = backend.sample_latents(n_show, GALLERY_SEED)
    return {name: to_uint8(backend.render(z, torch.full((n_show,), i))) for i, name in enumerate(backend.conditions)}


def forget_prompt_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                              progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                              n_show: int = 2, shown_replay: int = 2) -> RunResult:
    """Selective Amnesia on a prompt-conditioned model (``config.forget`` is a prompt), compared on fixed seeds.

    Offline there is no CLIP or celebrity classifier to judge the result, so what is measured is what this
    machine can measure honestly: SSIM before/after per prompt (the forgotten prompt should change, the replay
    prompts should not), the forgotten prompt's noise-prediction loss on the surrogate's images, time and memory.
    """
    report_progress(progress, 0.0, "forgetting")
    result = run(config, backend, progress=subrange(progress, 0, 0.85), cancel=cancel)
    after_backend = result.generator
    adapter = result.adapter  # its buffer already holds the surrogate's samples
    bound = adapter.backend  # the original, with this run's prompts as concepts
    forget_idx = 0
    surrogate_idx = None if config.surrogate == "noise" else bound.condition_index(config.surrogate)
    fit_before = surrogate_fit(adapter, bound.module, forget_idx, surrogate_idx)
    fit_after = surrogate_fit(adapter, after_backend.module, forget_idx, surrogate_idx)

    report_progress(progress, 0.9, "drawing the fixed-seed galleries")
    shown = bound.conditions[: 1 + (surrogate_idx is not None) + shown_replay]
    latents = bound.sample_latents(n_show, GALLERY_SEED)
    before, after, similarity = {}, {}, {}
    for i, prompt in enumerate(shown):
        cond = torch.full((n_show,), i)
        b, a = bound.render(latents, cond), after_backend.render(latents, cond)
        before[prompt], after[prompt] = to_uint8(b), to_uint8(a)
        similarity[prompt] = image_similarity(b, a)
    replay_similarity = [similarity[p] for p in shown if p not in (config.forget, config.surrogate)]
    report = result.report
    report.update(surrogate_fit_before=fit_before, surrogate_fit_after=fit_after, ssim_before_after=similarity)
    metrics = [
        MetricRow(f"SSIM before/after, '{config.forget}' (forgotten: lower = changed)", ("—", similarity[config.forget])),
        MetricRow("SSIM before/after, replay prompts shown (kept: higher = unchanged)",
                  ("—", float(np.mean(replay_similarity)) if replay_similarity else "—")),
        MetricRow(f"noise-prediction loss of '{config.forget}' on the surrogate's images", (fit_before, fit_after)),
        MetricRow("time: Fisher (s)", ("—", report["fisher_s"])),
        MetricRow("time: Fisher + forgetting (s)", ("—", report["wall_s"])),
        MetricRow("median step time (s)", ("—", report["step_s"])),
        MetricRow(f"peak memory (MB, {report['memory_kind']})", ("—", report["peak_memory_mb"])),
        MetricRow("trainable parameters", ("—", report["trainable_parameters"])),
    ]
    files = save_run(out_dir, after_backend, report) if out_dir is not None else []
    report_progress(progress, 1.0, "done")
    return RunResult("selective_amnesia", after_backend, COLUMNS, metrics, {"before": before, "after": after}, report, files,
                     verdict=prompt_verdict(config.forget, similarity[config.forget],
                                            float(np.mean(replay_similarity)) if replay_similarity else None))


def forget(backend: GeneratorBackend, config: AmnesiaConfig, **kwargs) -> RunResult:
    """The tab's entry point: prompts for an open-vocabulary model, classes otherwise."""
    compare = forget_prompt_and_compare if backend.open_vocabulary else forget_and_compare
    return compare(backend, config, **kwargs)
