"""The diagonal Fisher information from the model's own samples (no training data), cached by weights, and
the EWC penalty it weighs."""
from __future__ import annotations

import hashlib
from typing import Optional

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..runtime import CancelFn, ProgressFn, check_cancel, report_progress
from .adapters import AmnesiaAdapter
from ..runtime.cache import CACHE_ROOT, cached_tensors, weights_key

FISHER_CACHE = CACHE_ROOT / "fisher"


def fisher_diagonal(adapter: AmnesiaAdapter, n_samples: int = 2000, batch_size: int = 250, seed: int = 0,
                    cache: bool = True, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelFn] = None) -> dict[str, torch.Tensor]:
    """Diagonal Fisher E[(∂ log p(x|c)/∂θ)²] with x ~ the model's own p(x|c), c uniform over concepts
    (over ``adapter.fisher_conditions`` where it names them, e.g. the replay prompts of Stable Diffusion).

    Per-sample gradients come from ``vmap(grad(...))``: one batched pass instead of one backward per sample.
    """
    module = adapter.backend.module
    names = adapter.trainable_names(module)
    tag = hashlib.sha256("|".join([adapter.cache_tag, *names]).encode()).hexdigest()[:8]
    path = FISHER_CACHE / f"{adapter.backend.name}-{weights_key(module)}-{tag}-{n_samples}-{seed}.safetensors"
    return cached_tensors(path, lambda: _fisher(adapter, names, n_samples, batch_size, seed, progress, cancel),
                          enabled=cache, device=str(module_device(module)))


def _fisher(adapter: AmnesiaAdapter, names: list[str], n_samples: int, batch_size: int, seed: int,
            progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> dict[str, torch.Tensor]:
    module = adapter.backend.module
    g = torch.Generator().manual_seed(seed)
    all_params = dict(module.named_parameters())
    params = {k: all_params[k].detach() for k in names}
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    concepts = torch.tensor(adapter.fisher_conditions or range(len(adapter.backend.conditions)))
    done = 0
    while done < n_samples:
        check_cancel(cancel)
        m = min(batch_size, n_samples - done)
        c = concepts[torch.randint(0, len(concepts), (m,), generator=g)]
        x = adapter.sample(c, g)
        if adapter.vmappable:
            per_sample_grad = vmap(grad(adapter.per_sample_loss), in_dims=(None, 0, 0, 0))
            device = module_device(module)
            grads = per_sample_grad(params, x.to(device), adapter.condition_input(c).to(device), adapter.noise_like(m, g).to(device))
            for k in fisher:
                fisher[k] += grads[k].pow(2).sum(0)
        else:
            accumulate_squared_grads(adapter, module, x.to(module_device(module)), c, fisher, cancel)
        done += m
        report_progress(progress, done / n_samples, f"Fisher: {done}/{n_samples} samples")
    return {k: (v / n_samples).contiguous() for k, v in fisher.items()}


def module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def accumulate_squared_grads(adapter: AmnesiaAdapter, module: nn.Module, x: torch.Tensor, c: torch.Tensor,
                             fisher: dict[str, torch.Tensor], cancel: Optional[CancelFn] = None) -> None:
    """The reference way: one backward pass per sample (for models vmap cannot run), only for ``fisher``'s keys.

    The gradients go to leaf copies of the weights through ``functional_call``: the module may be the shared
    original, and its ``requires_grad`` flags and ``.grad`` fields are left as they are."""
    leaves = {f"m.{k}": p.detach().requires_grad_(True) for k, p in module.named_parameters() if k in fisher}
    scored = _LossOf(adapter, module)
    for i in range(len(x)):
        check_cancel(cancel)
        loss = functional_call(scored, leaves, (x[i : i + 1], c[i : i + 1]), strict=False)
        for name, g in zip(leaves, torch.autograd.grad(loss, list(leaves.values()))):
            fisher[name[2:]] += g.pow(2)


class _LossOf(nn.Module):
    """The adapter's loss as a module's forward, so ``functional_call`` can substitute ``module``'s weights (as ``m.*``)."""

    def __init__(self, adapter: AmnesiaAdapter, module: nn.Module) -> None:
        super().__init__()
        self.m = module
        object.__setattr__(self, "_adapter", adapter)  # not a submodule

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self._adapter.loss(self.m, x, c)


def ewc_penalty(module: nn.Module, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ_i F_i (θ_i − θ*_i)² over the Fisher's parameters: zero at θ*, growing where the Fisher says a weight matters."""
    params = dict(module.named_parameters())
    return sum((fisher[k] * (params[k].float() - anchor[k].float()).pow(2)).sum() for k in fisher)
