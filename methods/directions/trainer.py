"""Joint training of the direction matrix A and the reconstructor R (Voynov & Babenko, ICML 2020).

Loss = CE(k, k_hat) + lambda * |eps - eps_hat|, G frozen. RCA (reconstructor classification
accuracy) on fresh batches measures how distinguishable the K directions are; the paper's baseline
is a fixed random A with R trained alone for the same number of steps.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..backends import GeneratorBackend
from ..runtime.distributed import average_gradients, broadcast_buffers, check_divides, same_on_every_process, share
from ..runtime import CancelFn, ProgressFn, check_cancel, make_accelerator, on_device, report_progress, seed_everything, use_all_cores
from ..runtime.config import BoundedConfig, bounded, choice
from .matrix import VARIANTS, DirectionMatrix
from .reconstructor import Reconstructor
from ..errors import InputError


@dataclass
class VoynovConfig(BoundedConfig):
    """Official defaults where they fit a CPU; the departures are explained in the README."""

    k: int = bounded(32, 1, 100_000, "K")
    steps: int = bounded(1500, 1, 200_000, "Steps")
    batch_size: int = bounded(32, 2, 512, "Batch size")
    lr_matrix: float = 1e-3  # official 1e-4 for 1e5 GPU steps; 10x for a budget of ~1e3 CPU steps
    lr_reconstructor: float = 1e-3
    epsilon_min: float = bounded(0.5, 0, 50, "ε_min")
    epsilon_max: float = bounded(6.0, 0, 50, "ε_max")
    shift_weight: float = 0.25  # lambda, official
    variant: str = choice("orthonormal", VARIANTS, "Variant")
    train_matrix: bool = True  # False: the random-A baseline (A fixed, R trained alone)
    seed: int = bounded(0, 0, 2**31 - 1, "Seed")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.epsilon_min < self.epsilon_max:
            raise InputError("need 0 <= eps_min < eps_max <= 50")

    def validate(self, latent_dim: int) -> None:
        """The check that needs the generator: K at most its latent dimension."""
        if not 1 <= self.k <= latent_dim:
            raise InputError(f"K must be between 1 and {latent_dim}")


def sample_shifts(n: int, k: int, eps_min: float, eps_max: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Direction indices ~ U{0..K-1} and magnitudes ~ U[-eps_max, eps_max] with |eps| >= eps_min."""
    index = torch.randint(0, k, (n,), generator=generator)
    magnitude = eps_min + (eps_max - eps_min) * torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    return index, sign * magnitude


@dataclass
class VoynovResult:
    matrix: DirectionMatrix
    reconstructor: Reconstructor
    config: VoynovConfig
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    identical_on_every_process: Optional[bool] = None  # None with one process


def train_voynov(
    config: VoynovConfig,
    backend: GeneratorBackend,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> VoynovResult:
    """Train A and R jointly on the frozen ``backend`` (or R alone when ``train_matrix`` is False)."""
    config.validate(backend.latent_dim)
    check_divides(config.batch_size, "the batch")
    use_all_cores()
    sampler = seed_everything(config.seed)
    accelerator = make_accelerator()
    matrix = DirectionMatrix(backend.latent_dim, config.k, config.variant, seed=config.seed)
    matrix.requires_grad_(config.train_matrix)
    reconstructor = Reconstructor(config.k)
    groups = [{"params": reconstructor.parameters(), "lr": config.lr_reconstructor}]
    if config.train_matrix:
        groups.append({"params": matrix.parameters(), "lr": config.lr_matrix})
    # moved, not wrapped: the gradients are averaged over the processes after each backward (runtime/distributed.py)
    reconstructor.to(accelerator.device)
    matrix.to(accelerator.device)
    optimizer = accelerator.prepare(torch.optim.Adam(groups))
    trained = [p for m in (reconstructor, matrix) for p in m.parameters() if p.requires_grad]
    generator = on_device(backend, accelerator.device)  # the shared generator itself is never moved
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for step in range(config.steps):
        check_cancel(cancel)
        # every process draws the same global batch and trains on its slice
        z = share(torch.randn((config.batch_size, backend.latent_dim), generator=sampler)).to(accelerator.device)
        index, eps = (share(t).to(accelerator.device)
                      for t in sample_shifts(config.batch_size, config.k, config.epsilon_min, config.epsilon_max, sampler))
        with torch.no_grad():
            original = generator.decode(z)
        # Gradients reach A only through G(z + shift): with a fixed A the shifted pass needs none.
        with torch.set_grad_enabled(config.train_matrix):
            shifted = generator.decode(z + matrix.shift(index, eps))
        logits, eps_hat = reconstructor(original, shifted)
        loss_cls = nn.functional.cross_entropy(logits, index)
        loss_reg = (eps_hat - eps).abs().mean()
        loss = loss_cls + config.shift_weight * loss_reg
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        average_gradients(trained)
        optimizer.step()
        history.append({"step": step, "loss": float(loss.detach()), "accuracy": float((logits.argmax(1) == index).float().mean())})
        if step % 10 == 0 or step == config.steps - 1:
            recent = history[-50:]
            acc = sum(h["accuracy"] for h in recent) / len(recent)
            report_progress(progress, (step + 1) / config.steps, f"step {step + 1}/{config.steps}  batch accuracy {acc:.2f}")
    seconds = time.perf_counter() - started
    broadcast_buffers(reconstructor)  # BatchNorm's running statistics: the main process's, as DDP keeps them
    identical = same_on_every_process(nn.ModuleList([matrix, reconstructor]))
    matrix, reconstructor = matrix.cpu(), reconstructor.cpu()
    return VoynovResult(matrix.eval(), reconstructor.eval(), config, seconds, history, identical)


@torch.no_grad()
def reconstructor_accuracy(result: VoynovResult, backend: GeneratorBackend, n: int = 1024, seed: int = 1_000_000_007 % 2**31) -> float:
    """RCA: R's accuracy at predicting k on fresh latents and shifts."""
    return shift_accuracy(result.reconstructor, result.matrix.directions(), backend, result.config.epsilon_min,
                          result.config.epsilon_max, n, seed)


@torch.no_grad()
def shift_accuracy(reconstructor: Reconstructor, directions: torch.Tensor, backend: GeneratorBackend, epsilon_min: float,
                   epsilon_max: float, n: int = 1024, seed: int = 1_000_000_007 % 2**31) -> float:
    """R's accuracy at telling which of ``directions`` (K, D; row k = R's class k) moved a fresh latent."""
    g = torch.Generator().manual_seed(seed)
    reconstructor = reconstructor.eval()
    correct = 0
    for start in range(0, n, 256):
        m = min(256, n - start)
        z = torch.randn((m, backend.latent_dim), generator=g)
        index, eps = sample_shifts(m, len(directions), epsilon_min, epsilon_max, g)
        logits, _ = reconstructor(backend.decode(z), backend.decode(z + eps[:, None] * directions[index]))
        correct += int((logits.argmax(1) == index).sum())
    return correct / n


def summary(result: VoynovResult) -> dict[str, Any]:
    return {"settings": asdict(result.config), "train_s": round(result.train_seconds, 1), "steps": result.config.steps}
