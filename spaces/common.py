"""What every tab shares: error messages instead of tracebacks, cancellation, run folders, pictures."""
from __future__ import annotations

import base64
import functools
import io
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from methods.backends import BackendError
from methods.runtime import Cancelled

log = logging.getLogger("unlearning_studio")
RUNS_ROOT = Path(tempfile.gettempdir()) / "unlearning-studio-runs"
RUN_TTL_S = 6 * 3600


def _message(exc: BaseException, where: str) -> str:
    if isinstance(exc, Cancelled):
        return "Run cancelled. Nothing was changed; start again when ready."
    if isinstance(exc, (ValueError, BackendError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: try fewer samples or a smaller batch."
    log.exception("unexpected error in %s", where)  # a bug: the traceback goes to the server log only
    return f"Unexpected error ({type(exc).__name__}). The details are in the server log."


def user_errors(fn: Optional[Callable] = None, *, status: Optional[int] = None, n_outputs: int = 1) -> Callable:
    """Turn failures into a readable message; never show a traceback to a user.

    Without ``status`` the message is raised as ``gr.Error`` (a toast). With ``status`` (the index of a
    Markdown output) the other outputs keep what they showed and the message goes there, with a toast.
    """

    def deco(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                message = _message(exc, func.__name__)
                if status is None:
                    raise gr.Error(message, title="Please check the input")
                gr.Warning(message)
                out = [gr.skip() for _ in range(n_outputs)]
                out[status] = f"⚠️ {message}"
                return tuple(out)

        return wrapper

    return deco(fn) if fn is not None else deco


class CancelFlags:
    """One cancel flag per browser session, so a user's Cancel never stops another user's run."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> Callable[[], bool]:
        with self._lock:
            flag = self._flags.setdefault(session, threading.Event())
        flag.clear()
        return flag.is_set

    def cancel(self, session: str) -> None:
        with self._lock:
            flag = self._flags.get(session)
        if flag is not None:
            flag.set()


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def new_run_dir(kind: str) -> Path:
    """A fresh folder for one run's outputs; folders older than RUN_TTL_S are removed."""
    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in RUNS_ROOT.iterdir():
        try:
            if now - old.stat().st_mtime > RUN_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=RUNS_ROOT))


def data_uri(image: np.ndarray) -> str:
    """A uint8 (H, W, 3) image as a PNG data URI (tiles render with no extra request)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def labelled_rows(rows: dict[str, np.ndarray], tile: int = 112, label_width: int = 150) -> Image.Image:
    """Rows of tiles with a label at the left of each row: {"original": (n, H, W, 3), ...}."""
    names = list(rows)
    n = max(len(v) for v in rows.values()) if rows else 0
    gap = 4
    canvas = Image.new("RGB", (label_width + n * (tile + gap), len(names) * (tile + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=20)
    for r, name in enumerate(names):
        y = r * (tile + gap)
        draw.text((8, y + tile // 2), name, fill=(30, 30, 30), font=font, anchor="lm")
        for c, im in enumerate(rows[name]):
            if im.ndim == 3 and im.shape[-1] == 1:
                im = im[..., 0]  # greyscale
            resample = Image.NEAREST if im.shape[0] <= 16 else Image.BICUBIC  # keep 8-px digits crisp
            canvas.paste(Image.fromarray(im).convert("RGB").resize((tile, tile), resample), (label_width + c * (tile + gap), y))
    return canvas


def clamp_number(value: Any, low: float, high: float, name: str, integer: bool = False) -> float:
    """Validate a numeric UI input (Gradio may pass None, NaN, or text from the API)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number")
    if not np.isfinite(x) or x < low or x > high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} (got {value})")
    if integer:
        if x != int(x):
            raise ValueError(f"{name} must be a whole number")
        return int(x)
    return x


def coming_soon(title: str, what: str, issue: str) -> None:
    gr.Markdown(f"### {title}\n{what}\n\n*Coming soon* — tracked in {issue}.")
