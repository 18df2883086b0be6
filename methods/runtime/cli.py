"""What the command-line entry points share: a tqdm bar as a progress callable."""
from __future__ import annotations

import contextlib
from typing import Iterator

from .progress import ProgressFn


@contextlib.contextmanager
def tqdm_progress(total: int, desc: str, unit: str) -> Iterator[ProgressFn]:
    """A progress callable that moves a tqdm bar of ``total`` units (fraction × total)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * total)
            bar.set_postfix_str(message)
            bar.refresh()

        yield progress
