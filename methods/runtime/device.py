"""Device placement (through accelerate), CPU threads, seeds and memory readings."""
from __future__ import annotations

import os
import random
from typing import Any, Optional

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a dedicated torch.Generator for sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_accelerator(mixed_precision: str = "no", cpu: Optional[bool] = None):
    """An ``accelerate.Accelerator`` for a single method run.

    On a machine without CUDA it runs on the CPU; with ``accelerate launch`` it picks up the
    launcher's process group, so the same training loops scale to several GPUs.
    """
    from accelerate import Accelerator

    if cpu is None:
        cpu = not torch.cuda.is_available()
    if cpu:
        mixed_precision = "no"  # fp16/bf16 autocast on a 2-core CPU is slower, not faster
    return Accelerator(cpu=cpu, mixed_precision=mixed_precision)


def gpu_available() -> bool:
    """True where a CUDA device can run the heavy paths (Stable Diffusion fine-tuning)."""
    return torch.cuda.is_available()


def use_all_cores() -> None:
    """Use every core of the machine for intra-op work (torch defaults can under-subscribe); under ``accelerate
    launch`` or ``torchrun`` the processes on this machine share them."""
    n = max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory so far: CUDA's allocator on a GPU, the process's peak resident set on a CPU."""
    if device.type == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1), "memory_kind": "CUDA allocated"}
    import resource

    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "memory_kind": "process peak RSS"}
