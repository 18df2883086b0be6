"""Several processes on one run: ``accelerate launch --multi_gpu --num_processes N -m methods.X ...`` (or ``torchrun
--nproc_per_node N``); one GPU each, or on a CPU the cores shared between them (accelerate then runs gloo).

Why the trained modules are not wrapped in ``DistributedDataParallel``: the loops call a generator's own methods
(``negative_elbo``, ``synthesize``), run several forwards before one backward, and read the module unwrapped — each
breaks under DDP's wrapper (an ``AttributeError``, a second forward's reducer error, or gradients that are silently
not synchronised). Instead every process starts from the same weights, draws the same global batch from the same seed,
computes the loss on its own slice of it (:func:`share`), and averages the gradients after the backward
(:func:`average_gradients`) — what DDP does, without its limits. Every process then takes the same optimiser step, so
the weights stay identical on every process by construction; :func:`same_on_every_process` checks it at the end.

A loss that is a mean over equal slices gives, averaged over the processes, the one-process loss of the global batch:
a run with N processes is the one-process run with the same global batch, up to floating-point rounding (and to the
batch statistics of a module that trains in ``train()`` mode with BatchNorm, e.g. Voynov's reconstructor).
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Optional

import torch

from ..errors import InputError

BUCKET_ELEMENTS = 2**24  # gradients averaged in flat buckets of at most this many elements (64 MB in fp32)


def process_index() -> int:
    """This process's rank (0 without a launcher)."""
    return int(os.environ.get("RANK", "0") or 0)


def process_count() -> int:
    """How many processes run this job (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    """The process that evaluates, prints and writes files."""
    return process_index() == 0


def _distributed() -> bool:
    return process_count() > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def share(batch: torch.Tensor, what: str = "batch") -> torch.Tensor:
    """This process's slice of a ``batch`` that every process drew alike (the whole batch with one process)."""
    n = process_count()
    if n == 1:
        return batch
    if len(batch) % n:
        raise InputError(f"the {what} ({len(batch)}) must divide evenly between the {n} processes")
    size = len(batch) // n
    return batch[process_index() * size : (process_index() + 1) * size]


def seed_this_process(seed: int) -> None:
    """Seed the global stream that the losses draw from inside a step (a diffusion loss's noise and timesteps, a
    VAE's reparameterisation) apart on each process, so the slices do not share their noise; the batches themselves
    come from a generator seeded alike on every process. With one process: ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed + 7919 * process_index())


def check_divides(size: int, what: str) -> None:
    """Refuse, before a run starts, a global batch the processes cannot split evenly."""
    n = process_count()
    if n > 1 and size % n:
        raise InputError(f"{what} ({size}) must divide evenly between the {n} processes")


@torch.no_grad()
def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over the processes (no-op with one process). Parameters without a gradient
    are left so: every process runs the same code, so the same ones have none."""
    if not _distributed():
        return
    n = process_count()

    def reduce(bucket: list[torch.Tensor]) -> None:
        flat = torch.cat([g.reshape(-1) for g in bucket])
        torch.distributed.all_reduce(flat)
        flat /= n
        offset = 0
        for g in bucket:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    bucket: list[torch.Tensor] = []
    filled = 0
    for g in (p.grad for p in parameters if p.grad is not None):
        if bucket and (filled + g.numel() > BUCKET_ELEMENTS or g.dtype != bucket[0].dtype or g.device != bucket[0].device):
            reduce(bucket)
            bucket, filled = [], 0
        bucket.append(g)
        filled += g.numel()
    if bucket:
        reduce(bucket)


@torch.no_grad()
def from_main_process(tensor: torch.Tensor) -> torch.Tensor:
    """The main process's value of ``tensor`` on every process (e.g. an inversion every process computed alike, kept
    alike whatever the rounding)."""
    if _distributed():
        tensor = tensor.contiguous()
        torch.distributed.broadcast(tensor, src=0)
    return tensor


@torch.no_grad()
def broadcast_buffers(module: torch.nn.Module) -> None:
    """The main process's buffers (e.g. BatchNorm running statistics) on every process, as DDP keeps them."""
    if not _distributed():
        return
    for buffer in module.buffers():
        torch.distributed.broadcast(buffer, src=0)


def fingerprint(module: torch.nn.Module) -> str:
    """A digest of every parameter's and buffer's exact bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def same_on_every_process(module: torch.nn.Module) -> Optional[bool]:
    """True when the module's weights are bit-identical on every process (None with one process)."""
    if not _distributed():
        return None
    prints: list[Optional[str]] = [None] * process_count()
    torch.distributed.all_gather_object(prints, fingerprint(module))
    return len(set(prints)) == 1
