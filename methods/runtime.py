"""Device placement, seeding, progress/cancel plumbing and run directories shared by every method."""
from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """Raised inside a method loop when the caller's ``cancel()`` returns True."""


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
    """Use every core of the machine for intra-op work (torch defaults can under-subscribe)."""
    n = os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def check_cancel(cancel: Optional[CancelFn]) -> None:
    """Raise :class:`Cancelled` if the caller asked to stop."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def report_progress(progress: Optional[ProgressFn], fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, numpy and torch scalars to plain JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    return obj


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(data), indent=2) + "\n")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1], (N, C, H, W) -> uint8 (N, H, W, C)."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()
