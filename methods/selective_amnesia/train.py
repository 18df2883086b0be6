"""Selective Amnesia's training loop: the surrogate term, the replay term and the EWC penalty, over any
conditional generator an adapter describes (``adapters.py``)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..runtime import (CancelFn, ProgressFn, check_cancel, make_accelerator, on_device, peak_memory, prepare_training,
                       report_step, seed_everything, subrange)
from ..runtime.distributed import check_divides, seed_this_process
from .adapters import AmnesiaAdapter, adapter_for
from .config import AmnesiaConfig
from .fisher import ewc_penalty, fisher_diagonal

FISHER_SHARE = 0.2  # of a run's progress bar


@dataclass
class AmnesiaResult:
    generator: GeneratorBackend
    report: dict[str, Any]
    adapter: Optional[AmnesiaAdapter] = None  # the original's adapter (its sample buffers, for measuring)


def run(config: AmnesiaConfig, backend: GeneratorBackend, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> AmnesiaResult:
    """Forget ``config.forget`` in a copy of ``backend``; the original stays untouched.

    Maximises E_q[ELBO(x|θ, c_f)] − λ Σ F_i (θ_i − θ*_i)² + γ E_p[ELBO(x|θ, c_r)] (as a loss: its negative).
    Runs as is on a CPU or one GPU, and data-parallel under ``accelerate launch`` (every process draws the same
    global batch and trains on its slice: :mod:`~methods.runtime.distributed`; the Fisher is computed, or read from
    the cache, by every process).
    """
    backend = config.bind(backend)
    config.validate(backend)
    check_divides(max(1, config.batch_size // 2), "half the batch (the surrogate's half and the replay's half)")
    accelerator = make_accelerator(config.mixed_precision)
    on_training_device = on_device(backend, accelerator.device)
    original = adapter_for(on_training_device, config)  # samples the replay on the training device
    # the trainable copy is made from the original on the training device, so a pipeline's other parts are there too
    setup = prepare_training(on_training_device, config.lr, trainable=original.trainable_names(backend.module),
                             accelerator=accelerator, gradient_checkpointing=config.gradient_checkpointing)
    setup.student.module.train()
    device = setup.device
    started = time.perf_counter()
    fisher = fisher_diagonal(original, config.fisher_samples, seed=config.seed,
                             progress=subrange(progress, 0, FISHER_SHARE), cancel=cancel)
    fisher_s = time.perf_counter() - started
    # seeded after the Fisher: computing it draws from the global stream and reading it from the cache does not, and
    # a run must not depend on which of the two happened
    g = seed_everything(config.seed)
    seed_this_process(config.seed)

    names = set(setup.trainable)
    # θ*: the frozen original's own parameters (never trained, so no copy: on Stable Diffusion a copy is gigabytes)
    anchor = {k: v.detach() for k, v in original.backend.module.named_parameters() if k in names}
    forget_idx = backend.condition_index(config.forget)
    remember = torch.tensor([i for i in range(len(backend.conditions)) if i != forget_idx])
    surrogate_idx = None if config.surrogate == "noise" else backend.condition_index(config.surrogate)
    half = max(1, config.batch_size // 2)
    loop_progress = subrange(progress, FISHER_SHARE, 1.0)
    history, step_times = [], []
    for step in range(config.steps):
        check_cancel(cancel)
        c_forget = torch.full((half,), forget_idx)
        x_forget = original.uniform_noise(half, g) if surrogate_idx is None else original.sample(torch.full((half,), surrogate_idx), g)
        c_remember = remember[torch.randint(0, len(remember), (half,), generator=g)]
        x_remember = original.sample(c_remember, g)
        # every process drew the same global batch: each trains on its slice (the EWC penalty is the same on each)
        x_forget, c_forget, x_remember, c_remember = (setup.share(t) for t in (x_forget, c_forget, x_remember, c_remember))
        tick = time.perf_counter()
        with setup.autocast():
            loss_forget = original.loss(setup.student.module, x_forget.to(device), c_forget.to(device))
            loss_remember = original.loss(setup.student.module, x_remember.to(device), c_remember.to(device))
        penalty = ewc_penalty(setup.student.module, fisher, anchor)
        loss = loss_forget + config.gamma * loss_remember + config.lmbda * penalty
        setup.step(loss)
        step_times.append(time.perf_counter() - tick)
        history.append({"step": step, "forget": float(loss_forget.detach()), "remember": float(loss_remember.detach()),
                        "ewc": float(penalty.detach())})
        report_step(loop_progress, step, config.steps, 20, f"forgetting: step {step + 1}/{config.steps}")
    student = setup.finish(to_cpu=False)  # a Stable Diffusion student renders with its pipeline, on the device
    report = {"method": "selective_amnesia", "model": backend.config.get("model", backend.name), "settings": asdict(config),
              "fisher_s": round(fisher_s, 1), "wall_s": round(time.perf_counter() - started, 1), "steps": config.steps,
              "step_s": round(float(np.median(step_times)), 4) if step_times else None,
              "trainable_parameters": int(sum(anchor[k].numel() for k in anchor)),
              "device": str(device), **setup.process_report(), **peak_memory(device),
              "final": history[-1] if history else None}
    return AmnesiaResult(student, report, original)


# the tab's default request on a prompt model: the stand-by worker fills what its first run reads
PROMPT_MODEL_DEFAULTS = {"emoji-sd": ("a cat", "a dog")}


def _warm_prompt_model(backend: GeneratorBackend, model: str) -> None:
    """Every concept's replay buffer (shared by every request), and the default request's Fisher and judged "before"."""
    from ..judges.concepts import judge_concepts
    from ..judges.emoji import emoji_judge
    from .config import presets_for

    forget, surrogate = PROMPT_MODEL_DEFAULTS[model]
    for name, preset in presets_for(model).items():
        config = AmnesiaConfig.for_model(model, preset, forget=forget, surrogate=surrogate)
        original = adapter_for(config.bind(backend), config)
        original.warm()
        fisher_diagonal(original, config.fisher_samples, seed=config.seed)
        concepts = original.backend.concepts
        judge_concepts(original.backend, None, emoji_judge(concepts.judge), [concepts.concept_of(forget)],
                       concepts.concept_of(surrogate), preset.options["eval_per_concept"], preset.options["others_limit"])


def warm_cache(models: tuple[str, ...] = ("digits-cvae", "digits-ddpm", "emoji-sd")) -> None:
    """Fill the on-disk caches every run of ``models`` reads — the Fisher, a diffusion model's buffers of its own samples,
    the original's measure at the quick preset's size (the tab's default), its gallery — so that no visitor's run pays them (a
    stand-by worker calls this while it waits; on a warm cache it only reads the files)."""
    from ..backends import load_generator
    from ..runtime.gallery import original_concept_grid
    from .config import presets_for
    from .evaluate import evaluate_original

    for model in models:
        backend = load_generator(model)
        if model in PROMPT_MODEL_DEFAULTS:
            _warm_prompt_model(backend, model)
            continue
        original_concept_grid(backend)
        for name, preset in presets_for(model).items():
            config = AmnesiaConfig.for_model(model, preset)
            original = adapter_for(config.bind(backend), config)
            fisher_diagonal(original, config.fisher_samples, seed=config.seed)
            if hasattr(original, "warm"):
                original.warm()
            if name == "quick":
                evaluate_original(original.backend, config.forget, preset.options.get("eval_per_class", 200))
