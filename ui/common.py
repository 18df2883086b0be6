"""What every tab shares: error messages instead of tracebacks, the training slot (run/cancel wiring, run
folders, progress), sliders read from the configs' bounds, pictures and tables of a RunResult."""
from __future__ import annotations

import base64
import functools
import io
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from methods.runtime import Cancelled, Preset, RunResult, load_display, ui_bounds
from ui.worker import Job, TrainingQueue, WorkerFailed
from methods.errors import MARKUP, InputError

log = logging.getLogger("unlearning_studio")
RUNS_ROOT = Path(os.environ.get("UNLEARNING_STUDIO_RUNS", Path(tempfile.gettempdir()) / "unlearning-studio-runs"))
RUN_TTL_S = 6 * 3600


def _message(exc: BaseException, where: str) -> str:
    if isinstance(exc, Cancelled):
        return "Run cancelled. Nothing was changed; start again when ready."
    if isinstance(exc, InputError):
        log.info("refused in %s (%s)", where, type(exc).__name__)  # one line; what the visitor sent is not logged
        return str(exc)  # a visitor's words in it come through methods.errors.shown: bounded, no markup
    if isinstance(exc, WorkerFailed):
        return f"The run stopped: {exc}."
    if isinstance(exc, MemoryError):
        return "Out of memory: try fewer samples or a smaller batch."
    log.exception("unexpected error in %s", where)  # a bug: the traceback goes to the server log only
    return "Something went wrong on our side, not with your input. The details are in the server log; please try again."


_MARKUP = str.maketrans({c: f"&#{ord(c)};" for c in MARKUP})


def markdown_text(text: str) -> str:
    """``text`` shown as it is in a Markdown output (a verdict naming a visitor's prompt): control and formatting
    characters dropped, and the characters Markdown or HTML would act on written as entities (they read the same;
    nothing a visitor typed becomes markup)."""
    import unicodedata

    kept = "".join(ch for ch in str(text) if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return kept.translate(_MARKUP)


def verdict_markdown(verdict: str) -> str:
    """A run's verdict as the tabs show it: in bold, its words escaped (a prompt or name in it is the visitor's)."""
    return f"**{markdown_text(verdict)}**"


def user_errors(fn: Optional[Callable] = None, *, outputs: Sequence[str] = (), status: Optional[str] = None) -> Callable:
    """Turn failures into a readable message; never show a traceback to a user.

    Without ``outputs`` the handler returns its one output and a failure is raised as ``gr.Error`` (a toast). With
    ``outputs`` the handler returns a dict by output name (names it leaves out keep what they show) and is wired to
    the components of those names in that order (:func:`wired`); a failure's message goes to the ``status`` output,
    with a toast, and the rest keep what they showed.
    """

    def deco(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                shown = func(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                message = _message(exc, func.__name__)
                if status is None:
                    raise gr.Error(message, title="Please check the input")
                gr.Warning(message)
                shown = {status: f"⚠️ {message}"}
            if not outputs:
                return shown
            unknown = set(shown) - set(outputs)
            if unknown:  # a handler naming an output it is not wired to: the tab's bug, found by its first test
                raise KeyError(f"{func.__name__} returned outputs it does not declare: {sorted(unknown)}")
            return tuple(shown.get(name, gr.skip()) for name in outputs)

        wrapper.outputs = tuple(outputs)
        return wrapper

    return deco(fn) if fn is not None else deco


def wired(components: dict[str, Any], handler: Callable) -> list[Any]:
    """The components a handler declared by name (``user_errors(outputs=...)``), in its order: its ``outputs=``."""
    return [components[name] for name in handler.outputs]


def by_name(handler: Callable, shown: Sequence[Any]) -> dict[str, Any]:
    """A handler's positional answer (what Gradio and the API receive) by output name."""
    return dict(zip(handler.outputs, shown))


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
    """An unguessable path for one run's outputs, not yet created: the method's save creates it, so a refused
    request leaves no folder behind. Folders older than RUN_TTL_S are removed."""
    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in RUNS_ROOT.iterdir():
        try:
            if now - old.stat().st_mtime > RUN_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return RUNS_ROOT / f"{kind}-{secrets.token_hex(12)}"


def data_uri(image: np.ndarray) -> str:
    """A uint8 (H, W, 3) image as a PNG data URI (tiles render with no extra request)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def labelled_rows(rows: dict[str, np.ndarray], tile: int = 112, label_width: int = 150,
                  column_labels: Optional[list[str]] = None) -> Image.Image:
    """Rows of tiles with a label at the left of each row: {"original": (n, H, W, 3), ...}; ``column_labels``
    adds a line of labels above the columns."""
    names = list(rows)
    n = max(len(v) for v in rows.values()) if rows else 0
    gap = 4
    top = 30 if column_labels else 0
    canvas = Image.new("RGB", (label_width + n * (tile + gap), top + len(names) * (tile + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=20)
    for c, text in enumerate(column_labels or []):
        draw.text((label_width + c * (tile + gap) + tile // 2, top // 2), text, fill=(30, 30, 30), font=font, anchor="mm")
    for r, name in enumerate(names):
        y = top + r * (tile + gap)
        draw.text((8, y + tile // 2), name, fill=(30, 30, 30), font=font, anchor="lm")
        for c, im in enumerate(rows[name]):
            if im.ndim == 3 and im.shape[-1] == 1:
                im = im[..., 0]  # greyscale
            resample = Image.NEAREST if im.shape[0] <= 16 else Image.BICUBIC  # keep 8-px digits crisp
            canvas.paste(Image.fromarray(im).convert("RGB").resize((tile, tile), resample), (label_width + c * (tile + gap), y))
    return canvas


EXAMPLES_ROOT = Path(__file__).resolve().parents[1] / "assets" / "examples"


@functools.lru_cache(maxsize=None)
def precomputed_examples(tab: str) -> dict[str, tuple[RunResult, dict[str, Any]]]:
    """The tab's precomputed examples (``scripts/precompute_examples.py``), by title: (result, how it was made).
    Read once; an example is then shown with no computation at all."""
    examples = {}
    for folder in sorted((EXAMPLES_ROOT / tab).glob("*/")):
        result, extra = load_display(folder)
        examples[extra["title"]] = (result, extra)
    return examples


def precomputed_example(tab: str, title: Any) -> tuple[RunResult, dict[str, Any]]:
    """One of the tab's precomputed examples by its title; a plain refusal for any other title (the example buttons
    send their own titles; an API caller may send anything)."""
    examples = precomputed_examples(tab)
    if not isinstance(title, str) or title not in examples:
        raise InputError("there is no such example: press one of the example buttons")
    return examples[title]


def example_status(button: str) -> str:
    """The status line while a precomputed example is shown."""
    return f"Precomputed example shown: press **{button}** to compute it live."


def example_verdict(result: RunResult, extra: dict[str, Any]) -> str:
    """A shown example's headline: its verdict, and a line on what it is (precomputed, how, how long live)."""
    return (f"{verdict_markdown(result.verdict)}\n\n*Precomputed example ({extra['title']}): computed in {extra['seconds']:.0f} s on "
            f"a 2-core CPU by `{extra['command']}`, seed {extra['seed']}.*")


def checked_by_handler(component: Any) -> Any:
    """``component`` (a slider, number box or radio) with its value handed to the handler as it was sent: the handler
    checks it against the config's bounds or the preset list (the same ones the component shows) and answers a bad one
    in plain words. Gradio's own check would answer an API caller's 'abc', None, NaN or made-up choice with its generic
    error text, an empty error or its list of choices and Python types, before the handler could say anything.
    Per instance rather than a subclass: Gradio writes a stub file beside any module that subclasses a component."""
    component.preprocess = lambda payload: payload
    return component


def config_slider(config_cls: type, name: str, label: str, value: Any = None, **kwargs: Any) -> gr.Slider:
    """A slider whose range, step and default are the config field's (declared once, in the config); ``value``: a
    preset's value instead of the default. Its handler checks what it receives against the same bounds."""
    low, high, step = ui_bounds(config_cls, name)
    return checked_by_handler(gr.Slider(low, high, config_cls.default(name) if value is None else value, step=step,
                                        label=label, **kwargs))


def preset_choices(presets: dict[str, Preset], seconds: Callable[[Preset], float]) -> list[tuple[str, str]]:
    """The Preset radio's choices: "Quick · about 20 s" (the time from the config's CPU estimate) -> "quick"; the label
    alone where there is no estimate (Stable Diffusion: its time depends on the visitor's model and the GPU)."""
    return [(f"{p.label} · about {_about(seconds(p))}" if seconds(p) > 0 else p.label, name) for name, p in presets.items()]


def preset_radio(presets: dict[str, Preset], seconds: Callable[[Preset], float], elem_id: str) -> gr.Radio:
    """Quick (the default) or Full, one click away; choosing one sets the settings below (its handler's job)."""
    choices = preset_choices(presets, seconds)
    return checked_by_handler(gr.Radio(choices, value=choices[0][1], label="Preset", elem_id=elem_id,
                                       info="Quick: a result in seconds, a little less exact. Full: the benchmarked settings."))


def chosen_preset(presets: dict[str, Preset], name: Any) -> Preset:
    """The preset a visitor (or an API caller) named; a plain refusal for anything else."""
    if not isinstance(name, str) or name not in presets:
        raise InputError(f"preset must be one of: {', '.join(presets)}")
    return presets[name]


def _about(seconds: float) -> str:
    return f"{5 * round(seconds / 5):.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def result_table(result: RunResult, first_header: str, **kwargs: Any) -> gr.Dataframe:
    """A RunResult's metric rows as a table: the metric, then one column per ``result.columns``."""
    return gr.Dataframe(value=result.table(format_value), headers=[first_header, *result.columns], **kwargs)


def format_value(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else ("—" if x is None else str(x))


# ------------------------------------------------------------------------------------------------
# The training slot: one per process, shared by every tab's long run
# ------------------------------------------------------------------------------------------------
PRIVATE = "private"  # an event the page uses that is not part of the public API (gradio_client cannot call it)


class _GradioProgress:
    """Our ``progress(fraction, message)`` onto Gradio's ``progress(fraction, desc=...)``."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress

    def __call__(self, fraction: float, message: str) -> None:
        self.progress(fraction, desc=message)


QUEUE = TrainingQueue()  # the process's one training slot, shared by every tab (see ui/worker.py)


class TrainingSlot:
    """A tab's long run: the Run button asks the process's one training slot for a turn (one queued-or-running
    run per session), the run happens in a worker process, and Cancel stops only this browser session's run."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.flags = CancelFlags()

    def wire(self, run_button: gr.Button, cancel_button: gr.Button, fn: Callable, inputs: list, outputs: list,
             status: gr.Markdown, api_name: str) -> Any:
        """Run as the public endpoint ``api_name``, its progress on the status line; Cancel is the UI's own (not in
        the API). Every request reaches its handler at once (no Gradio concurrency limit): the handler queues on
        :data:`QUEUE`, which refuses a second run of a session and says where in line the first one is."""
        event = run_button.click(fn, inputs, outputs, concurrency_limit=None, api_name=api_name, show_progress_on=[status])
        cancel_button.click(self.cancel, None, [status], cancels=[event], queue=False, api_visibility=PRIVATE)
        return event

    def cancel(self, request: gr.Request) -> str:
        self.flags.cancel(session_id(request))
        return "Cancelled."

    def run(self, request: Optional[gr.Request], progress: Any, fn: Callable[..., RunResult], *args: Any,
            estimate_s: float, **kwargs: Any) -> RunResult:
        """``fn(*args, out_dir=..., progress=..., cancel=None, **kwargs)`` in a worker, in this session's turn.
        Arguments must pickle: generators go as :class:`methods.backends.GeneratorRef`."""
        session = session_id(request)
        out_dir = new_run_dir(self.kind)
        job = Job(fn, args, {**kwargs, "out_dir": out_dir}, out_dir)
        return QUEUE.run(session, job, _GradioProgress(progress), _stop_when(self.flags.start(session), visitor_left()),
                         estimate_s)


def visitor_left() -> Callable[[], bool]:
    """For the request being handled: has its client gone (a closed tab, a killed script)?

    Gradio marks a request's queue event not alive as soon as its event stream drops, but offers a running handler no
    public hook for it; this reads that mark from Gradio's queue, so that a run nobody waits for gives the training slot
    back within a poll or two instead of running to its end. Outside a Gradio request it is never true."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: False

    def left() -> bool:
        for events in list(getattr(queue, "active_jobs", ())):
            for event in events or ():
                if getattr(event, "_id", None) == event_id:
                    return not getattr(event, "alive", True)
        return False

    return left


def _stop_when(cancelled: Callable[[], bool], left: Callable[[], bool]) -> Callable[[], bool]:
    """Stop on the visitor's Cancel or when the visitor has gone (logged once: an operator sees why a run ended)."""
    said = []

    def stop() -> bool:
        if left():
            if not said:
                said.append(True)
                log.info("run stopped: its visitor left")
            return True
        return cancelled()

    return stop
