"""ESD's loop: fine-tune a copy of the UNet so that, for the erased prompt c, it predicts the frozen original's noise
steered *away* from c by negative guidance, at points x_t the original itself reaches when drawing c."""
from __future__ import annotations

import random
import time
from dataclasses import asdict
from typing import Any, Optional

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..runtime.distributed import check_divides
from ..runtime import (CancelFn, ProgressFn, check_cancel, make_accelerator, on_device, peak_memory, prepare_training,
                       report_step, seed_everything)
from .config import ESDConfig


def trainable_names(unet: torch.nn.Module, train_method: str) -> list[str]:
    """The parameters ESD fine-tunes: cross-attention (ESD-x), the rest (ESD-u), keys and values only, or all."""
    names = [k for k, _ in unet.named_parameters()]
    if train_method == "xattn":
        return [k for k in names if "attn2" in k]
    if train_method == "xattn-strict":
        return [k for k in names if "attn2.to_k" in k or "attn2.to_v" in k]
    if train_method == "noxattn":
        return [k for k in names if "attn2" not in k]
    return names


@torch.no_grad()
def partial_sample(original: GeneratorBackend, scheduler: Any, cond: torch.Tensor, uncond: torch.Tensor, noise: torch.Tensor,
                   until: int, guidance: float) -> torch.Tensor:
    """x_t after ``until`` of the scheduler's steps from ``noise``, drawn by the frozen original with guidance."""
    unet = original.module
    n = len(noise)
    x = noise.to(original.device) * scheduler.init_noise_sigma
    context = torch.cat([uncond.expand(n, -1, -1), cond.expand(n, -1, -1)])
    for t in scheduler.timesteps[:until]:
        e_uncond, e_cond = unet(scheduler.scale_model_input(torch.cat([x, x]), t), t, encoder_hidden_states=context).sample.chunk(2)
        x = scheduler.step(e_uncond + guidance * (e_cond - e_uncond), t, x).prev_sample
    return x


def run(config: ESDConfig, backend: GeneratorBackend, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> tuple[GeneratorBackend, dict[str, Any]]:
    """Erase ``config.forget`` from a copy of ``backend`` (the shared original is never changed); returns the erased
    generator (frozen) and the run's report. Several prompts: each iteration erases one, drawn at random."""
    from diffusers import DDIMScheduler

    accelerator = make_accelerator(config.mixed_precision)
    original = on_device(backend, accelerator.device)
    check_divides(config.batch_size, "the batch")
    # the trainable copy is made from the original on the training device, so its pipeline's other parts are there too
    setup = prepare_training(original, config.lr, trainable=trainable_names(backend.module, config.train_method),
                             accelerator=accelerator)
    setup.student.module.train()
    scheduler = DDIMScheduler.from_config(original.pipeline.scheduler.config)
    scheduler.set_timesteps(config.ddim_steps)
    # every process draws the same global batch and samples its own slice of it (methods/runtime/distributed.py)
    g = seed_everything(config.seed)
    pick = random.Random(config.seed)
    embeddings = original.embed(list(config.forget) + [""]).to(setup.device)
    uncond = embeddings[-1:]
    started = time.perf_counter()
    history, step_times = [], []
    for it in range(config.iterations):
        check_cancel(cancel)
        k = pick.randrange(len(config.forget))
        cond = embeddings[k:k + 1]
        until = pick.randrange(config.ddim_steps)
        noise = setup.share(torch.randn((config.batch_size, *original.latent_shape), generator=g))
        x_t = partial_sample(original, scheduler, cond, uncond, noise, until, config.guidance_scale)
        t = scheduler.timesteps[until].to(setup.device)
        with torch.no_grad():
            context = torch.cat([cond.expand(len(x_t), -1, -1), uncond.expand(len(x_t), -1, -1)])
            e_cond, e_uncond = original.module(torch.cat([x_t, x_t]), t, encoder_hidden_states=context).sample.chunk(2)
            target = e_uncond - config.negative_guidance * (e_cond - e_uncond)
        tick = time.perf_counter()
        with setup.autocast():
            pred = setup.student.module(x_t, t, encoder_hidden_states=cond.expand(len(x_t), -1, -1)).sample
        loss = (pred.float() - target.float()).pow(2).mean()
        setup.step(loss)
        step_times.append(time.perf_counter() - tick)
        history.append(float(loss.detach()))
        report_step(progress, it, config.iterations, 10, f"erasing: iteration {it + 1}/{config.iterations}")
    student = setup.finish(to_cpu=False)
    chosen = set(setup.trainable)
    report = {"method": "esd", "variant": config.train_method, "model": backend.config.get("model", backend.name),
              "settings": asdict(config), "wall_s": round(time.perf_counter() - started, 1), "iterations": config.iterations,
              "step_s": round(float(np.median(step_times)), 4) if step_times else None,
              "trainable_parameters": int(sum(p.numel() for n, p in student.module.named_parameters() if n in chosen)),
              "device": str(setup.device), **setup.process_report(), **peak_memory(setup.device),
              "final_loss": history[-1] if history else None,
              "loss_curve": [round(float(np.mean(history[i:i + 10])), 5) for i in range(0, len(history), 10)]}
    return student, report
