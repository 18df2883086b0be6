"""GUIDE's training loop: fine-tune the synthesis layers so the person's latent (and its neighbourhood) draws the
UFO target, while random faces stay (L = L_local + λ_adj L_adj + λ_global L_global)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..runtime import CancelFn, ProgressFn, check_cancel, prepare_training, report_step
from ..runtime.distributed import check_divides
from .config import GuideConfig
from .geometry import far_random_w, latent_stats, neighbour_offsets, ufo_target
from .losses import identity_model, local_loss, perceptual_distance, perceptual_name
from ..errors import InputError


@dataclass
class GuideResult:
    generator: WSpaceBackend
    source_w: torch.Tensor
    target_w: torch.Tensor
    report: dict[str, Any]


def run(config: GuideConfig, backend: WSpaceBackend, source_w: torch.Tensor, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> GuideResult:
    """Fine-tune a copy of ``backend`` so that ``source_w`` (1, *w_shape) no longer renders its person."""
    if not isinstance(backend, WSpaceBackend):
        raise InputError(f"GUIDE needs a back-end with a W latent space; '{backend.name}' has none")
    started = time.perf_counter()
    g = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    stats = latent_stats(backend)
    n_adjacent, n_global = (0, 0) if config.baseline else (config.n_adjacent, config.n_global)
    check_divides(n_adjacent, "the neighbours per step (n_adjacent)")
    check_divides(n_global, "the random faces per step (n_global)")
    setup = prepare_training(backend, config.lr, trainable=backend.synthesis_parameter_names())
    module, device = setup.student.module, setup.device
    teacher = setup.teacher(backend)  # the frozen original on the training device: targets and kept faces
    mean = stats.mean.to(device)
    source_w = source_w.reshape(1, *backend.w_shape).to(device)
    if config.baseline:
        target_w = mean.clone()
    else:  # the formula can leave the valid set (negative activations): project back onto it
        target_w = backend.project_w(ufo_target(source_w, mean, config.d * stats.radius))
    alpha_max = config.alpha_max * stats.radius
    perceptual = perceptual_name(config)
    use_id = config.lambda_id > 0 and identity_model() is not None

    trainable = set(setup.trainable)
    history = []
    for step in range(config.steps):
        check_cancel(cancel)
        # every process draws the same neighbours and random faces and trains on its slice of each; the person's own
        # latent is in every process's loss, so the averaged loss is the one-process loss
        source, target = source_w, target_w
        if n_adjacent:
            random_w = far_random_w(teacher, source, n_adjacent, 0.0, g)
            offsets = setup.share(neighbour_offsets(source, random_w, alpha_max, g))
            source = torch.cat([source, source + offsets])
            target = torch.cat([target, backend.project_w(target + offsets)])
        with torch.no_grad():
            x_t, feats_t = teacher.synthesize(target, return_features=True)
        with setup.autocast():
            x_u, feats_u = backend.synthesize(source, return_features=True, module=module)
        per_pair = local_loss(x_u, feats_u, x_t, feats_t, config, perceptual, use_id)
        loss_local = per_pair[0]
        loss_adj = per_pair[1:].mean() if n_adjacent else torch.zeros((), device=device)
        loss = loss_local + config.lambda_adj * loss_adj
        loss_global = torch.zeros((), device=device)
        if n_global:
            global_w = setup.share(far_random_w(teacher, source_w, n_global, alpha_max, g))
            with torch.no_grad():
                x_s = teacher.synthesize(global_w)
            with setup.autocast():
                kept = teacher.synthesize(global_w, module=module)
            loss_global = perceptual_distance(kept, x_s, perceptual).mean()
            loss = loss + config.lambda_global * loss_global
        setup.step(loss)
        history.append({"step": step, "local": float(loss_local.detach()), "adjacent": float(loss_adj.detach()),
                        "global": float(loss_global.detach())})
        report_step(progress, step, config.steps, 10, f"unlearning: step {step + 1}/{config.steps}")
    student = setup.finish()
    report = {"method": "guide-baseline" if config.baseline else "guide", "settings": asdict(config),
              "perceptual_loss": perceptual, "identity_loss": "facenet VGGFace2" if use_id else
              "off (facenet's VGGFace2 weights are not available here)" if config.lambda_id > 0 else "off",
              "latent_space": f"W = {tuple(backend.w_shape)} ({int(np.prod(backend.w_shape))}-d)",
              "radius_R": round(stats.radius, 3), "d_absolute": round(config.d * stats.radius, 3),
              "alpha_max_absolute": round(alpha_max, 3), "fine_tuned_parameters": int(sum(
                  p.numel() for n, p in student.module.named_parameters() if n in trainable)),
              "train_s": round(time.perf_counter() - started, 1), **setup.process_report(), "final": history[-1] if history else None}
    return GuideResult(student, source_w.cpu(), target_w.cpu(), report)
