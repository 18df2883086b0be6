"""The recovery attack on Selective Amnesia: an attacker who holds the model asks for the forgotten class and searches
its latent space for the latents that draw it. It optimises the latent (z for the cVAE; x_T for the DDPM, through its
deterministic DDIM decoding) under the forgotten condition to raise its *own* classifier's probability of the forgotten
class (an MLP, :func:`~methods.judges.digits.attacker_classifier`), keeping each latent in the prior's typical set (its
norm within 3 standard deviations of sqrt(d)). The digits judge — another architecture, which the attacker never
queries — then says how many of the found images are the forgotten digit (P >= 0.5). The same attack on the original model is
the calibration."""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..judges.digits import attacker_log_probabilities, class_probabilities
from ..runtime import AttackReport, CancelFn, ProgressFn, check_cancel, report_step, subrange

RECOVERED_AT = 0.5  # the judge must call an image the forgotten digit with at least this probability (chance is 0.1)


def typical_set(z: torch.Tensor) -> torch.Tensor:
    """Rescale rows of ``z`` whose norm leaves sqrt(d) ± 3/sqrt(2) (±3 standard deviations of a Gaussian's norm)."""
    flat = z.flatten(1)
    d = flat.shape[1]
    norm = flat.norm(dim=1, keepdim=True).clamp_min(1e-8)
    target = norm.clamp(max(0.0, math.sqrt(d) - 3 / math.sqrt(2)), math.sqrt(d) + 3 / math.sqrt(2))
    return (flat * target / norm).reshape(z.shape)


def _with_sampler_steps(backend: GeneratorBackend, steps: Optional[int]) -> GeneratorBackend:
    """A diffusion back-end that decodes with ``steps`` sampler steps (the attacker's cheaper, differentiable proxy):
    a view sharing the weights, so the instance other runs read keeps its own steps."""
    if steps is None or not hasattr(backend, "with_sampling_steps"):
        return backend
    return backend.with_sampling_steps(steps)


def attack_latents(backend: GeneratorBackend, forget_idx: int, n: int, steps: int, lr: float, seed: int,
                   decode_steps: Optional[int] = None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelFn] = None) -> torch.Tensor:
    """``n`` latents, from prior samples, optimised so the attacker's classifier calls their images the forgotten class.
    ``decode_steps``: a diffusion model's sampler steps during the search (the judge sees the model's own decoding)."""
    z = backend.sample_latents(n, seed).to(backend.device).requires_grad_(True)
    condition = torch.full((n,), forget_idx, device=backend.device)
    optimizer = torch.optim.Adam([z], lr=lr)
    _search(_with_sampler_steps(backend, decode_steps), z, condition, forget_idx, optimizer, steps, progress, cancel)
    return z.detach().cpu()


def _search(backend: GeneratorBackend, z: torch.Tensor, condition: torch.Tensor, forget_idx: int,
            optimizer: torch.optim.Optimizer, steps: int, progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> None:
    for step in range(steps):
        check_cancel(cancel)
        loss = -attacker_log_probabilities(backend.decode(z, condition).cpu())[:, forget_idx].mean()
        # the gradient of the latents only: the model's weights (maybe trainable, maybe shared) get no .grad
        (z.grad,) = torch.autograd.grad(loss, [z])
        optimizer.step()
        with torch.no_grad():
            z.copy_(typical_set(z))
        report_step(progress, step, steps, 5, f"recovery attack: step {step + 1}/{steps}")


def latent_attack(original: GeneratorBackend, unlearned: GeneratorBackend, forget: str, n: int = 128, steps: int = 200,
                  lr: float = 0.1, seed: int = 0, decode_steps: Optional[int] = None, progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelFn] = None) -> tuple[AttackReport, dict[str, np.ndarray]]:
    """The attack on both models from the same starting latents; returns the report and the attacked latents
    ({"latents.npy": the unlearned model's, "original_latents.npy"}: (n, latent_dim) float32)."""
    started = time.perf_counter()
    forget_idx = original.condition_index(forget)
    found, recovered, judged = {}, {}, {}
    for k, (name, model) in enumerate((("original", original), ("unlearned", unlearned))):
        z = attack_latents(model, forget_idx, n, steps, lr, seed, decode_steps, subrange(progress, k / 2, (k + 1) / 2), cancel)
        probs = class_probabilities(model.render(z, torch.full((n,), forget_idx)))
        found[name], recovered[name] = z, float((probs[:, forget_idx] >= RECOVERED_AT).float().mean())
        judged[name] = float(probs[:, forget_idx].mean())
    report = AttackReport(
        name="latent", objective=f"search the latent space under the condition '{forget}' for images the attacker's own "
        "classifier (an MLP) calls that digit; latents kept in the prior's typical set",
        budget={"latents": n, "steps": steps, "lr": lr, "typical_set": "norm within sqrt(d) ± 3/sqrt(2)",
                **({"sampler_steps_during_search": decode_steps} if decode_steps else {})},
        judge=f"the digits classifier (a CNN the attacker never queries): P(forgotten digit) >= {RECOVERED_AT}",
        recovered_original=recovered["original"], recovered_unlearned=recovered["unlearned"], n=n,
        seconds=round(time.perf_counter() - started, 1),
        extra={"judge_probability_original": round(judged["original"], 4),
               "judge_probability_unlearned": round(judged["unlearned"], 4)})
    flat = lambda z: z.flatten(1).numpy().astype(np.float32)  # noqa: E731
    return report, {"latents.npy": flat(found["unlearned"]), "original_latents.npy": flat(found["original"])}
