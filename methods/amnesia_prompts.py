"""Selective Amnesia on a prompt-conditioned model (Stable Diffusion): run, measure, show.

Offline there is no CLIP or celebrity classifier to judge the result, so what is measured is what this
machine can measure honestly: how much each prompt's images change on fixed seeds (SSIM before/after —
the forgotten prompt should change, the replay prompts should not), the noise-prediction loss of the
forgotten prompt on the surrogate's images (the objective's first term, on fixed noise), step time and
peak memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from pytorch_msssim import ssim

from .backends import GeneratorBackend
from .runtime import CancelFn, ProgressFn, report_progress, to_uint8, write_json
from .selective_amnesia import AmnesiaConfig, AmnesiaResult, run


@dataclass
class PromptAmnesiaComparison:
    """A finished run with fixed-seed images per prompt before/after and a metrics table."""

    result: AmnesiaResult
    before: dict[str, np.ndarray]  # prompt -> uint8 (n, H, W, 3)
    after: dict[str, np.ndarray]
    metrics: list[tuple[str, Any, Any]]


@torch.no_grad()
def surrogate_fit(adapter: Any, module: torch.nn.Module, forget_idx: int, surrogate_idx: Optional[int], n: int = 8,
                  seed: int = 99) -> float:
    """Noise-prediction loss of the forgotten prompt on the surrogate's images, with fixed noise and
    timesteps (lower = the prompt now produces the surrogate)."""
    g = torch.Generator().manual_seed(seed)
    x = adapter.uniform_noise(n, g) if surrogate_idx is None else adapter.sample(torch.full((n,), surrogate_idx), g)
    device = next(module.parameters()).device
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # the loss draws its noise and timesteps from the global generator
    loss = float(adapter.loss(module, x.to(device), torch.full((n,), forget_idx, device=device)))
    torch.set_rng_state(state)
    return loss


def forget_prompt_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                              progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                              n_show: int = 2, shown_replay: int = 2) -> PromptAmnesiaComparison:
    """Forget ``config.forget`` (a prompt) and compare fixed-seed images before/after."""
    report_progress(progress, 0.0, "forgetting")
    result = run(config, backend, progress=lambda f, m: report_progress(progress, 0.85 * f, m), cancel=cancel)
    after_backend = result.generator
    adapter = result.adapter  # its buffer already holds the surrogate's samples
    bound = adapter.backend  # the original, with this run's prompts as concepts
    forget_idx = 0
    surrogate_idx = None if config.surrogate == "noise" else bound.condition_index(config.surrogate)
    fit_before = surrogate_fit(adapter, bound.module, forget_idx, surrogate_idx)
    fit_after = surrogate_fit(adapter, after_backend.module, forget_idx, surrogate_idx)

    report_progress(progress, 0.9, "drawing the fixed-seed galleries")
    shown = bound.conditions[: 1 + (surrogate_idx is not None) + shown_replay]
    latents = bound.sample_latents(n_show, 2024)
    before, after, similarity = {}, {}, {}
    for i, prompt in enumerate(shown):
        cond = torch.full((n_show,), i)
        b, a = bound.render(latents, cond), after_backend.render(latents, cond)
        before[prompt], after[prompt] = to_uint8(b), to_uint8(a)
        similarity[prompt] = float(ssim((b + 1) / 2, (a + 1) / 2, data_range=1.0, win_size=_window(b.shape[-1])))
    replay_similarity = [similarity[p] for p in shown if p not in (config.forget, config.surrogate)]
    report = result.report
    report.update(surrogate_fit_before=fit_before, surrogate_fit_after=fit_after, ssim_before_after=similarity)
    metrics = [
        (f"SSIM before/after, '{config.forget}' (forgotten: lower = changed)", "—", similarity[config.forget]),
        ("SSIM before/after, replay prompts shown (kept: higher = unchanged)", "—",
         float(np.mean(replay_similarity)) if replay_similarity else "—"),
        (f"noise-prediction loss of '{config.forget}' on the surrogate's images", fit_before, fit_after),
        ("time: Fisher (s)", "—", report["fisher_s"]),
        ("time: Fisher + forgetting (s)", "—", report["wall_s"]),
        ("median step time (s)", "—", report["step_s"]),
        (f"peak memory (MB, {report['memory_kind']})", "—", report["peak_memory_mb"]),
        ("trainable parameters", "—", report["trainable_parameters"]),
    ]
    if out_dir is not None:
        after_backend.save(Path(out_dir), provenance={"method": "selective_amnesia", "settings": report["settings"]})
        write_json(Path(out_dir) / "report.json", report)
    report_progress(progress, 1.0, "done")
    return PromptAmnesiaComparison(result, before, after, metrics)


def _window(side: int) -> int:
    """SSIM's Gaussian window: 11 px, smaller for tiny test images (odd, at most the side)."""
    return max(3, min(11, side - (1 - side % 2)))
