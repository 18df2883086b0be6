"""Device placement (through accelerate), CPU threads, seeds and memory readings."""
from __future__ import annotations

import os
import random
import time
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


_THREAD_LIMIT: Optional[int] = None


def limit_threads(n: Optional[int]) -> None:
    """Cap :func:`cpu_threads` for the rest of this process (``None`` lifts the cap): the Space's worker sets it from
    :func:`threads_that_help` before a run, so the run's own ``use_all_cores`` keeps it."""
    global _THREAD_LIMIT
    _THREAD_LIMIT = None if n is None else max(1, int(n))
    if _THREAD_LIMIT is not None:
        torch.set_num_threads(min(torch.get_num_threads(), _THREAD_LIMIT))


def busy_cores(interval_s: float = 0.3) -> float:
    """Cores' worth of CPU that other work used over the next ``interval_s`` (call it while this process is idle): from
    the container's own CPU account (cgroup v2 ``cpu.stat``) where there is one, else the machine's (``/proc/stat``,
    where a virtual machine's stolen time counts as busy). 0.0 where neither can be read."""

    def cgroup_usage_s() -> Optional[float]:
        try:
            for line in open("/sys/fs/cgroup/cpu.stat"):
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        except (OSError, ValueError, IndexError):
            return None
        return None

    def machine_busy_s() -> Optional[float]:
        try:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in open("/proc/stat").readline().split()[1:9])
        except (OSError, ValueError):
            return None
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    read = cgroup_usage_s if cgroup_usage_s() is not None else machine_busy_s
    first, start = read(), time.monotonic()
    if first is None:
        return 0.0
    time.sleep(interval_s)
    second = read()
    return max(0.0, (second - first) / (time.monotonic() - start)) if second is not None else 0.0


def threads_that_help(interval_s: float = 0.3) -> int:
    """Intra-op threads for a run starting now: :func:`cpu_threads`, less the cores other work keeps busy
    (:func:`busy_cores`), at least one.

    On a CPU that another process keeps busy, a thread that shares a core with it makes every parallel step wait for
    it: two threads beside one busy core ran a quick run many times slower than one thread
    (benchmarks/results/busy_cpu.md). The core count cannot see that; the CPU account can."""
    most = cpu_threads()
    if most <= 1:
        return 1
    free = available_cores() - busy_cores(interval_s)
    return max(1, min(most, int(free + 0.5)))


def cpu_threads() -> int:
    """Intra-op threads for one process: ``OMP_NUM_THREADS`` when the operator set it (the test suite runs one per
    worker), else the available cores shared by the processes ``torchrun``/``accelerate launch`` started here; never
    more than :func:`limit_threads` allows."""
    if _THREAD_LIMIT is not None:
        return min(_THREAD_LIMIT, _cpu_threads())
    return _cpu_threads()


def _cpu_threads() -> int:
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
