"""Selective Amnesia's measures. Digits: the paper's metrics, judged by the digits classifier, which no loss
uses. Prompts (Stable Diffusion, offline: no CLIP judge): how much each prompt's images change on fixed seeds,
and how well the forgotten prompt now fits the surrogate's images."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from pytorch_msssim import ssim

from ..backends import GeneratorBackend
from ..judges.digits import class_probabilities, classifier
from .adapters import AmnesiaAdapter
from ..runtime.cache import CACHE_ROOT, cached_tensors, weights_key

FORGOTTEN_AT = 0.2  # P(forgotten class) at or below which a digit counts as forgotten (chance is 0.1)


@torch.no_grad()
def evaluate(backend: GeneratorBackend, forget: str, n_per_class: int = 500, seed: int = 12345) -> dict[str, Any]:
    """P(forgotten class) and mean entropy on samples conditioned on it; accuracy on every other class; leakage: the
    share of the other classes' samples that the judge calls the forgotten class (P >= 0.5)."""
    return summarise(class_probabilities_by_condition(backend, n_per_class, seed), backend.conditions,
                     backend.condition_index(forget))


@torch.no_grad()
def class_probabilities_by_condition(backend: GeneratorBackend, n_per_class: int, seed: int) -> torch.Tensor:
    """The judge's probabilities on ``n_per_class`` samples of every condition: (conditions, n, classes). The samples'
    seeds do not depend on what is forgotten, so one table serves every forgotten class."""
    n_conditions = len(backend.conditions)
    latents = torch.cat([backend.sample_latents(n_per_class, seed + idx) for idx in range(n_conditions)])
    # one render for every condition: a diffusion model's sampler pays its per-step overhead once, not ten times
    images = backend.render(latents, torch.arange(n_conditions).repeat_interleave(n_per_class))
    return class_probabilities(images).reshape(n_conditions, n_per_class, -1)


def summarise(probs: torch.Tensor, conditions: list[str], forget_idx: int) -> dict[str, Any]:
    """:func:`evaluate`'s figures from the probability table of :func:`class_probabilities_by_condition`."""
    out: dict[str, Any] = {"per_class_accuracy": {}}
    leaked = []
    for idx, name in enumerate(conditions):
        p = probs[idx]
        if idx == forget_idx:
            out["forgotten_probability"] = float(p[:, idx].mean())
            out["forgotten_entropy"] = float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
        else:
            out["per_class_accuracy"][name] = float((p.argmax(1) == idx).float().mean())
            leaked.append(float((p[:, forget_idx] >= 0.5).float().mean()))
    out["remembered_accuracy"] = float(np.mean(list(out["per_class_accuracy"].values())))
    out["leakage"] = float(np.mean(leaked))
    return out


def evaluate_original(backend: GeneratorBackend, forget: str, n_per_class: int = 500, seed: int = 12345) -> dict[str, Any]:
    """:func:`evaluate` of a model that every run starts from: its probability table is cached on disk by its weights
    and the judge's (the DDPM's takes about 12 s per 100 samples a class; it is the same for every run)."""
    key = f"{backend.name}-{weights_key(backend.module)}-judge-{weights_key(classifier())}"
    path = CACHE_ROOT / "evaluations" / f"{key}-{n_per_class}-{seed}.safetensors"
    probs = cached_tensors(path, lambda: {"probabilities": class_probabilities_by_condition(backend, n_per_class, seed)})
    return summarise(probs["probabilities"], backend.conditions, backend.condition_index(forget))


@torch.no_grad()
def surrogate_fit(adapter: AmnesiaAdapter, module: torch.nn.Module, forget_idx: int, surrogate_idx: Optional[int],
                  n: int = 8, seed: int = 99) -> float:
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


def image_similarity(before: torch.Tensor, after: torch.Tensor) -> float:
    """SSIM of two batches of images in [-1, 1] (window 11 px, smaller for tiny test images)."""
    side = before.shape[-1]
    window = max(3, min(11, side - (1 - side % 2)))
    return float(ssim((before + 1) / 2, (after + 1) / 2, data_range=1.0, win_size=window))


def verdict(forget: str, surrogate: str, before: dict[str, Any], after: dict[str, Any],
            baseline: Optional[dict[str, Any]] = None) -> str:
    """One plain sentence, with the digits judge's numbers, on what a run did: the tab's headline (``baseline``: the
    surrogate-only fine-tune's measure, said beside it)."""
    p_before, p_after = before["forgotten_probability"], after["forgotten_probability"]
    drawn = "noise" if surrogate == "noise" else f"{surrogate}s"
    if p_after <= FORGOTTEN_AT:
        head = (f"Digit {forget} is forgotten: asked for a {forget}, the model now draws {drawn} (the judge calls it a "
                f"{forget} {p_after:.0%} of the time, before {p_before:.0%}; chance is 10%)")
    else:
        head = (f"Digit {forget} is not forgotten yet: the judge still calls {p_after:.0%} of its samples a {forget} "
                f"(before {p_before:.0%}); try more steps")
    kept = (f"; the other digits are recognised {after['remembered_accuracy']:.0%} of the time "
            f"(before {before['remembered_accuracy']:.0%}")
    if baseline is not None:
        kept += (f"; without the Fisher penalty and replay {baseline['remembered_accuracy']:.0%}, lowest digit "
                 f"{min(baseline['per_class_accuracy'].values()):.0%}")
    return head + kept + ")."


def prompt_verdict(forget: str, similarity_forgotten: float, similarity_kept: Optional[float]) -> str:
    """The Stable Diffusion path's headline: offline no judge can say whether the prompt is forgotten."""
    kept = f", the replay prompts' images {similarity_kept:.2f}" if similarity_kept is not None else ""
    return (f"No judge is available here to say whether '{forget}' is forgotten. What changed: its images are now "
            f"{similarity_forgotten:.2f} similar to before (1 = unchanged){kept}.")
