"""GUIDE's training loop: fine-tune the synthesis layers so the person's latent (and its neighbourhood) draws the
target, while random faces stay (L = L_local + λ_adj L_adj + λ_global L_global).

Robust mode (``config.robust_rounds`` > 0) alternates the fine-tuning with a recovery attack on the current model
(``find_person``: the attacker's inversion of the photo and its views): the latents that still draw the person join
the set being forgotten, with GUIDE's neighbourhood loss around them, and the training goes on, until the attack's
recovery is at or below ``config.robust_goal`` or the rounds are spent. The random faces' loss holds throughout."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..runtime import CancelFn, ProgressFn, check_cancel, prepare_training, report_step
from ..runtime.distributed import check_divides, from_main_process
from .config import GuideConfig
from .geometry import far_random_w, latent_stats, neighbour_offsets, ufo_target
from .target import nobody_target
from .losses import identity_model, local_loss, perceptual_distance, perceptual_name
from ..errors import InputError


@dataclass
class GuideResult:
    generator: WSpaceBackend
    source_w: torch.Tensor
    target_w: torch.Tensor
    report: dict[str, Any]
    forgotten_w: torch.Tensor = field(default_factory=lambda: torch.empty(0))  # the robust rounds' latents (K, *w_shape)


# The robust mode's attack on the current model: latents (N, *w_shape) the attacker found for the person's images,
# whether each still draws the person (bool (N,)), and the attack's facts for the report
FindPerson = Callable[[WSpaceBackend], tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]


def run(config: GuideConfig, backend: WSpaceBackend, source_w: torch.Tensor, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None, find_person: Optional[FindPerson] = None) -> GuideResult:
    """Fine-tune a copy of ``backend`` so that ``source_w`` (1, *w_shape) no longer renders its person; with
    ``config.robust_rounds`` and ``find_person``, also every latent the attack finds for them."""
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
    device = setup.device
    teacher = setup.teacher(backend)  # the frozen original on the training device: targets and kept faces
    mean = stats.mean.to(device)
    source_w = source_w.reshape(1, *backend.w_shape).to(device)
    target_facts: dict[str, Any] = {"kind": "average face"}
    if config.baseline:
        target_w = mean.clone()
    elif config.target == "nobody":
        chosen = nobody_target(teacher, source_w)
        target_w, target_facts = chosen.w.to(device), {"kind": "nobody", **chosen.facts}
    else:  # the formula can leave the valid set (negative activations): project back onto it
        target_w = backend.project_w(ufo_target(source_w, mean, config.d * stats.radius))
        target_facts = {"kind": "ufo", "d": config.d}
    alpha_max = config.alpha_max * stats.radius
    perceptual = perceptual_name(config)
    use_id = config.lambda_id > 0 and identity_model() is not None

    trainable = set(setup.trainable)
    history: list[dict[str, float]] = []
    forget = source_w  # the latents that must stop drawing the person: w_u, then what each robust round's attack finds
    rounds: list[dict[str, Any]] = []
    schedule = [config.steps] + ([config.robust_steps] * config.robust_rounds if find_person is not None else [])
    total = sum(schedule)
    for round_index, n_steps in enumerate(schedule):
        if round_index:
            check_cancel(cancel)
            found, still_drawn, facts = find_person(setup.student.copy_to(device))
            found = from_main_process(found.to(device).contiguous())
            still_drawn = from_main_process(still_drawn.to(device).float()).bool()
            rounds.append({"round": round_index, "after_steps": len(history), **facts,
                           "latents_added": int(still_drawn.sum())})
            if facts["recovered"] <= config.robust_goal or not still_drawn.any():
                break
            forget = torch.cat([forget, found[still_drawn].reshape(-1, *backend.w_shape)])
        for _ in range(n_steps):
            check_cancel(cancel)
            step = len(history)
            history.append(_step(config, setup, backend, teacher, forget, target_w, source_w, alpha_max, perceptual, use_id, g))
            history[-1]["step"] = step
            report_step(progress, step, total, 10, f"unlearning: step {step + 1}/{total}"
                        + (f" (robust round {round_index})" if round_index else ""))
    student = setup.finish()
    report = {"method": "guide-baseline" if config.baseline else "guide", "settings": asdict(config),
              "perceptual_loss": perceptual, "identity_loss": "facenet VGGFace2" if use_id else
              "off (facenet's VGGFace2 weights are not available here)" if config.lambda_id > 0 else "off",
              "latent_space": f"W = {tuple(backend.w_shape)} ({int(np.prod(backend.w_shape))}-d)",
              "radius_R": round(stats.radius, 3), "d_absolute": round(config.d * stats.radius, 3),
              "alpha_max_absolute": round(alpha_max, 3), "target": target_facts, "fine_tuned_parameters": int(sum(
                  p.numel() for n, p in student.module.named_parameters() if n in trainable)),
              "train_s": round(time.perf_counter() - started, 1), **setup.process_report(), "final": history[-1] if history else None}
    if find_person is not None and config.robust_rounds:
        report["robust"] = {"rounds": rounds, "latents_forgotten": len(forget), "steps": len(history),
                            "in_loop_attack": "a training fit: the attack the run trained against"}
    return GuideResult(student, source_w.cpu(), target_w.cpu(), report, forget[1:].cpu())


def _step(config: GuideConfig, setup: Any, backend: WSpaceBackend, teacher: WSpaceBackend, forget: torch.Tensor,
          target_w: torch.Tensor, source_w: torch.Tensor, alpha_max: float, perceptual: str, use_id: bool,
          g: torch.Generator) -> dict[str, float]:
    """One step of L_local over the forget set + λ_adj L_adj (neighbours of its latents) + λ_global L_global."""
    # every process draws the same neighbours and random faces and trains on its slice of each; the forget set is in
    # every process's loss, so the averaged loss is the one-process loss
    module, device = setup.student.module, setup.device
    n_adjacent, n_global = (0, 0) if config.baseline else (config.n_adjacent, config.n_global)
    k = len(forget)
    source, target = forget, target_w.expand(k, *target_w.shape[1:])
    if n_adjacent:
        anchors = forget if k == 1 else forget[torch.randint(k, (n_adjacent,), generator=g).to(device)]
        random_w = far_random_w(teacher, source_w, n_adjacent, 0.0, g)
        offsets = setup.share(neighbour_offsets(anchors, random_w, alpha_max, g))
        source = torch.cat([source, (anchors if k == 1 else setup.share(anchors)) + offsets])
        target = torch.cat([target, backend.project_w(target_w + offsets)])
    with torch.no_grad():
        x_t, feats_t = teacher.synthesize(target, return_features=True)
    with setup.autocast():
        x_u, feats_u = backend.synthesize(source, return_features=True, module=module)
    per_pair = local_loss(x_u, feats_u, x_t, feats_t, config, perceptual, use_id)
    loss_local = per_pair[:k].mean()
    loss_adj = per_pair[k:].mean() if n_adjacent else torch.zeros((), device=device)
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
    return {"local": float(loss_local.detach()), "adjacent": float(loss_adj.detach()), "global": float(loss_global.detach())}
