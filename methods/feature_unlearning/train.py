"""Feature Unlearning's training loop: fine-tune a copy of the generator on the objective of ``loss.py``."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..runtime import CancelFn, ProgressFn, check_cancel, prepare_training, report_progress, report_step, save_run, seed_everything
from ..runtime.distributed import check_divides, is_main_process
from .config import FeatureUnlearningConfig
from .direction import DIRECTION_FILE, FeatureDirection
from .evaluate import evaluate
from .loss import unlearning_loss
from ..errors import InputError


@dataclass
class FeatureUnlearningResult:
    generator: GeneratorBackend  # the unlearned copy, frozen
    direction: FeatureDirection
    report: dict[str, Any]
    out_dir: Optional[Path] = None
    losses: list[dict[str, float]] = field(default_factory=list)


def validate_labels(positives: np.ndarray | torch.Tensor, negatives: np.ndarray | torch.Tensor, latent_dim: int,
                    min_each: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Check labelled latent arrays and return them as float tensors (ValueError otherwise)."""
    pos, neg = torch.as_tensor(np.asarray(positives), dtype=torch.float32), torch.as_tensor(np.asarray(negatives), dtype=torch.float32)
    for name, arr in (("positives", pos), ("negatives", neg)):
        if arr.dim() != 2 or arr.shape[1] != latent_dim:
            raise InputError(f"{name} must be an array of shape (n, {latent_dim}), got {tuple(arr.shape)}")
        if len(arr) < min_each:
            raise InputError(f"need at least {min_each} {name} (got {len(arr)})")
        if not torch.isfinite(arr).all():
            raise InputError(f"{name} contain NaN or infinite values")
    return pos, neg


def run(
    config: FeatureUnlearningConfig,
    backend: GeneratorBackend,
    positives: Optional[np.ndarray | torch.Tensor] = None,
    negatives: Optional[np.ndarray | torch.Tensor] = None,
    out_dir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    direction: Optional[FeatureDirection] = None,
) -> FeatureUnlearningResult:
    """Fine-tune a copy of ``backend`` so it no longer generates the feature.

    The feature comes from labelled latents (the paper) or, when ``direction`` is given, from a
    direction found elsewhere (e.g. the Directions tab).
    """
    if direction is None:
        pos, neg = validate_labels(positives, negatives, backend.latent_dim)
        direction = FeatureDirection.from_labels(pos, neg, config.threshold)
        source: dict[str, Any] = {"labels": {"positives": len(pos), "negatives": len(neg)}}
    else:
        source = {"labels": None, "given_direction": True}
    check_divides(config.batch_size, "the batch")
    sampler = seed_everything(config.seed)
    setup = prepare_training(backend, config.lr, betas=(0.5, 0.999), mixed_precision=config.mixed_precision)
    teacher, student = setup.teacher(backend), setup.student  # the frozen original, read on the training device

    losses: list[dict[str, float]] = []
    started = time.perf_counter()
    for step in range(config.steps):
        check_cancel(cancel)
        latents = setup.share(torch.randn((config.batch_size, *backend.latent_shape), generator=sampler)).to(setup.device)
        with setup.autocast():
            loss, parts = unlearning_loss(student, teacher, latents, direction, config.alpha, config.msssim_mode)
        setup.step(loss)
        losses.append({"step": step, "loss": float(loss.detach()), **parts})
        report_step(progress, step, config.steps, 5, f"step {step + 1}/{config.steps}  loss {float(loss.detach()):.4f}")
    train_seconds = time.perf_counter() - started

    setup.finish()
    report: dict[str, Any] = {
        "method": "feature_unlearning",
        "generator": backend.name,
        "settings": asdict(config),
        **source,
        "direction": {"threshold": direction.threshold, "threshold_mode": config.threshold if source["labels"] else "given"},
        "steps": config.steps,
        "train_seconds": round(train_seconds, 2),
        "device": str(setup.device),
        **setup.process_report(),
        "final_loss": losses[-1] if losses else None,
    }
    if config.eval_samples and is_main_process():
        report_progress(progress, 1.0, "evaluating on held-out latents")
        heldout = backend.sample_latents(config.eval_samples, seed=config.seed + 1_000_003)
        report["heldout"] = evaluate(backend, student, direction, heldout)
    result = FeatureUnlearningResult(student, direction, report, out_dir, losses)
    if out_dir is not None and is_main_process():
        save_result(result, Path(out_dir))
    return result


def save_result(result: FeatureUnlearningResult, out_dir: Path) -> list[Path]:
    """``generator.safetensors`` + ``config.json`` (loadable by methods.sample), the direction, ``losses.json``
    and ``report.json``; returns the paths written."""
    result.out_dir = Path(out_dir)
    return save_run(out_dir, result.generator, result.report, extra_files={DIRECTION_FILE: result.direction.save},
                    extra_json={"losses.json": result.losses})
