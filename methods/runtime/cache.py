"""On-disk caches of what depends only on an original model's weights, never on a run's settings: Amnesia's Fisher,
a diffusion model's buffer of its own samples, the original's evaluation, GUIDE's random faces. Keyed by a hash of the weights, so a
changed model never reads a stale entry; written atomically, so two workers never read half a file, and computed
under a lock, so two workers never compute one entry at once."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CACHE_ROOT = Path(os.environ.get("UNLEARNING_STUDIO_CACHE", Path.home() / ".cache" / "unlearning-studio"))


def weights_key(module: nn.Module) -> str:
    """A short hash of the weights: a cache entry is valid for exactly these weights."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def cached_tensors(path: Path, compute: Callable[[], dict[str, torch.Tensor]], enabled: bool = True,
                   device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors in ``path`` (safetensors) if it exists, else ``compute()``, saved there."""
    if enabled and path.is_file():
        return load_file(str(path), device=device)
    if not enabled:
        return compute()
    with computing(path):
        if path.is_file():  # another process computed it while this one waited
            return load_file(str(path), device=device)
        tensors = compute()
        write_tensors(path, tensors)
    return tensors


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save a cache entry atomically (a reader sees the whole file or none)."""
    _write(path, lambda tmp: save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp)))


@contextlib.contextmanager
def computing(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock while its entry is computed: a second process (a stand-by filling the caches, a run, a
    parallel test) waits and then reads the entry instead of computing it twice on the same cores. The lock is
    the kernel's (``flock``), so a process killed mid-way (a cancelled run) releases it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


DOWNLOAD_RETRY_S = 24 * 3600  # weights that could not be downloaded are asked for again a day later, not at every start


def download_worth_trying(name: str) -> bool:
    """False if a download of ``name`` failed here less than :data:`DOWNLOAD_RETRY_S` ago (no network): the process
    then goes without it at once instead of waiting on the network again, and logs nothing."""
    import time

    try:
        return time.time() - (CACHE_ROOT / "unreachable" / name).stat().st_mtime > DOWNLOAD_RETRY_S
    except OSError:
        return True


def remember_download_failed(name: str) -> None:
    """Note that ``name`` could not be downloaded now (see :func:`download_worth_trying`)."""
    marker = CACHE_ROOT / "unreachable" / name
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
