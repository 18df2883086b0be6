"""Progress and cancel: one callable type for each, and sub-ranges of a run without lambdas.

A method reports ``progress(fraction, message)`` with fraction in [0, 1] of *its own* work; a caller that runs
it as one part of something larger hands it ``subrange(progress, start, end)``.
"""
from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """Raised inside a method loop when the caller's ``cancel()`` returns True."""


def check_cancel(cancel: Optional[CancelFn]) -> None:
    """Raise :class:`Cancelled` if the caller asked to stop."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def report_progress(progress: Optional[ProgressFn], fraction: float, message: str) -> None:
    """Report ``fraction`` (clamped to [0, 1]) and a message, if anyone listens."""
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def report_step(progress: Optional[ProgressFn], step: int, total: int, every: int, message: str) -> None:
    """Report loop step ``step`` (0-based) of ``total`` every ``every`` steps and at the last one."""
    if step % every == 0 or step == total - 1:
        report_progress(progress, (step + 1) / total, message)


class _SubRange:
    """``progress`` seen by a part of a run that covers [start, end] of the whole."""

    def __init__(self, progress: ProgressFn, start: float, end: float, prefix: str) -> None:
        self.progress, self.start, self.end, self.prefix = progress, start, end, prefix

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        report_progress(self.progress, self.start + (self.end - self.start) * fraction, self.prefix + message)


def subrange(progress: Optional[ProgressFn], start: float, end: float, prefix: str = "") -> Optional[ProgressFn]:
    """A progress callable for a part of a run: its 0..1 maps onto ``start``..``end`` of ``progress``."""
    return None if progress is None else _SubRange(progress, start, end, prefix)
