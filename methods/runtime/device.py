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


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota (cgroup v2 ``cpu.max``),
    which ``os.cpu_count()`` ignores (it counts the host's cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def cpu_threads() -> int:
    """Intra-op threads for one process: ``OMP_NUM_THREADS`` when the operator set it (the test suite runs one per
    worker), else the available cores shared by the processes ``torchrun``/``accelerate launch`` started here."""
    explicit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    return max(1, available_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)))


def use_all_cores() -> None:
    """Use the process's share of the cores for intra-op work (torch defaults can under-subscribe)."""
    n = cpu_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory so far: CUDA's allocator on a GPU, the process's peak resident set on a CPU."""
    if device.type == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1), "memory_kind": "CUDA allocated"}
    import resource

    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "memory_kind": "process peak RSS"}
