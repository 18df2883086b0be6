"""Training runs in a child process, one at a time, in the order they were asked for, one per visitor.

Why a child process: a run holds both CPU cores for a minute or more. In the server's own process it also holds
Python's lock, so gallery pages and slider renders stall behind it; the memory it used stays with the server; its
peak memory is mixed with everyone else's; and Cancel has to wait for the loop's next check. In a child process
the server only waits on a pipe, the memory goes back when the child ends, ``peak_memory_mb`` is this child's own
(its preloads included, no other visitor's), and Cancel ends the child at once. A stand-by child (libraries imported,
default generators loaded, caches filled) waits for the next job, so a run does not pay the start-up; each child runs
one job and exits.

    queue = TrainingQueue()
    result = queue.run(session, Job(fu.unlearn_from_labels, (GeneratorRef("digiface-dcgan"), pos, neg, config)),
                       progress, cancelled, estimate_s=60)

A job's function is a module-level function of ``methods`` taking ``progress=`` and ``cancel=``; its arguments
are picklable, with generators as :class:`methods.backends.GeneratorRef`. Run it as ``python -m ui.worker FD``.
"""
from __future__ import annotations

import atexit
import importlib
import logging
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Optional
from methods import registry
from methods.errors import InputError

log = logging.getLogger("unlearning_studio")

# What a stand-by worker loads before a run needs it, read from the method registry: every method's entry module (and
# accelerate), the generators, the calls that load what a run's first seconds would (detectors, judges, encoders), and
# the calls that fill the on-disk caches every run reads (the first stand-by of a fresh Space fills them in about a
# minute of its idle time; later ones only read them). UNLEARNING_STUDIO_WARM_CACHES=0 skips the caches and
# UNLEARNING_STUDIO_PRELOAD=0 all of it (a run then loads what it uses): the tests set both, and one test preloads.
PRELOAD_MODULES = (*dict.fromkeys(m.entry.partition(":")[0] for m in registry.METHODS.values()), "methods.erasers", "accelerate")
PRELOAD_GENERATORS = registry.preload_generators()
PRELOAD_CALLS = registry.preload_calls()
WARM_CALLS = registry.warm_calls()
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The server's light actions (gallery pages, sliders) come first on 2 cores, but not so far first that a busy page
# starves the run: at 5 the worker keeps about a quarter of a core that the server also wants (10 would leave it a tenth).
WORKER_NICENESS = 5
POLL_S = 0.2
LOADING_LIMIT_S = 300.0  # a fresh worker's preloading, before the run's own time limit starts (seconds on 2 cores)
# After a run, the next stand-by starts this much later when nobody waits: its start-up (imports, models: ~12 s of a
# core) would otherwise compete with the server drawing the finished run's results for its visitor.
STANDBY_DELAY_S = 3.0


class WorkerFailed(RuntimeError):
    """The worker hit a bug (its traceback is in the server log) or ended without an answer."""


@dataclass
class Job:
    """One training run: ``fn(*args, progress=..., cancel=None, **kwargs)`` in a worker; ``out_dir`` is removed
    if the run is cancelled or fails (a partial run folder is of no use to anyone)."""

    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    out_dir: Optional[Path] = None

    def __post_init__(self) -> None:
        self.args, self.kwargs = _plain(tuple(self.args)), _plain(dict(self.kwargs))


def _plain(value: Any) -> Any:
    """``value`` with every str subclass made a plain str, inside tuples, lists and dicts. Gradio hands file paths over
    as its own str subclass: unpickling one makes the worker import Gradio (benchmarks/server_noise.py)."""
    if isinstance(value, str):
        return str(value)
    if type(value) in (tuple, list):  # exactly: a named tuple's constructor takes fields, not one iterable
        return type(value)(_plain(v) for v in value)
    if type(value) is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _send(conn: Connection, obj: Any) -> None:
    # Plain pickle, not the Connection's own: torch registers shared-memory reductions for tensors there, which
    # only work between processes that multiprocessing itself started.
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())


# ------------------------------------------------------------------------------------------------
# The child's side
# ------------------------------------------------------------------------------------------------
def _resolve(value: Any) -> Any:
    from methods.backends import GeneratorRef

    if isinstance(value, GeneratorRef):
        return value.load()
    if isinstance(value, tuple):
        return tuple(_resolve(v) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _portable(result: Any) -> Any:
    from methods.runtime import RunResult

    return result.portable() if isinstance(result, RunResult) else result


def configure_log(who: str) -> None:
    """One line per event on stderr for this suite's logger (libraries keep their own levels)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"%(asctime)s {who} %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _call(call: str) -> None:
    registry.resolve(call)()


def _preload(warming: bool) -> None:
    """What a stand-by loads before a run asks for it (the registry's lists), and the caches it fills if ``warming``."""
    from methods.backends import load_generator

    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    for name in PRELOAD_GENERATORS:
        load_generator(name)
    for call in PRELOAD_CALLS + (WARM_CALLS if warming else ()):
        _call(call)


def _choose_threads() -> int:
    """The run's intra-op threads: UNLEARNING_STUDIO_WORKER_THREADS if the operator set a number, else as many as pay
    off on the machine right now (one when another process keeps a core busy: benchmarks/results/busy_cpu.md)."""
    from methods.runtime.device import limit_threads, threads_that_help

    chosen = os.environ.get("UNLEARNING_STUDIO_WORKER_THREADS", "auto").strip()
    threads = int(chosen) if chosen.isdigit() and int(chosen) > 0 else threads_that_help()
    limit_threads(threads)
    return threads


def worker_main(fd: int) -> None:
    """The child: preload, then run one job from the connection and send back progress and its outcome."""
    configure_log(f"worker[{os.getpid()}]")
    conn = Connection(fd)
    os.nice(WORKER_NICENESS)
    loading = time.monotonic()
    if os.environ.get("UNLEARNING_STUDIO_PRELOAD", "1") != "0":
        _preload(warming=os.environ.get("UNLEARNING_STUDIO_WARM_CACHES", "1") != "0")
    log.info("stand-by ready in %.1f s", time.monotonic() - loading)
    try:
        job: Optional[Job] = _recv(conn)
    except EOFError:  # the server ended while this stand-by waited
        return
    if job is None:
        return
    log.info("run threads: %d", _choose_threads())

    def progress(fraction: float, message: str) -> None:
        _send(conn, ("progress", float(fraction), str(message)))

    progress(0.0, "Starting…")  # the run's time limit counts from here, not from the stand-by's loading
    try:
        started = time.monotonic()
        log.info("run started: %s", job.fn.__qualname__)
        result = job.fn(*_resolve(job.args), progress=progress, cancel=None, **_resolve(job.kwargs))
        portable = _portable(result)
        # logged before the answer goes: the server ends this process as soon as it has it
        log.info("run done: %s in %.1f s", job.fn.__qualname__, time.monotonic() - started)
        _send(conn, ("done", portable))
    except InputError as exc:  # the method refused the input: its message is for the visitor
        log.info("run refused (%s)", type(exc).__name__)
        _send(conn, ("refused", str(exc)))
    except MemoryError:
        _send(conn, ("refused", "Out of memory: try fewer steps or a smaller batch."))
    except (BrokenPipeError, ConnectionResetError):  # the server stopped waiting (it ended): nobody to answer
        log.info("run abandoned: the server is gone")
        return
    except BaseException as exc:  # a bug: the traceback goes to the server log (this process's stderr)
        log.exception("run failed in the worker")
        _send(conn, ("failed", type(exc).__name__))
    conn.close()


# ------------------------------------------------------------------------------------------------
# ZeroGPU: a GPU only for a decorated call in the server's process
# ------------------------------------------------------------------------------------------------
def zero_gpu() -> Optional[Any]:
    """Hugging Face's ``spaces`` package when the app runs on ZeroGPU hardware (which sets ``SPACES_ZERO_GPU``), else
    None. ZeroGPU attaches a GPU only to a call decorated with ``spaces.GPU`` in the main process, never to a child
    worker; elsewhere (a CPU Space, a dedicated GPU, a laptop) runs stay in their worker process."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in ("1", "true"):
        return None
    try:
        import spaces  # Hugging Face's package (this project's own UI package is ``ui``, so nothing shadows it)
    except ImportError:
        return None
    return spaces if callable(getattr(spaces, "GPU", None)) else None


def run_here(job: Job) -> Any:
    """``job`` in this process, its result as a worker would send it back (the call ZeroGPU decorates)."""
    return _portable(job.fn(*_resolve(job.args), progress=None, cancel=None, **_resolve(job.kwargs)))


# ------------------------------------------------------------------------------------------------
# The server's side
# ------------------------------------------------------------------------------------------------
class Worker:
    """One child process and its connection."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # From the project's folder, so that `-m ui.worker` finds this package however the app was started
        # (a Space runs `python app.py` from a plain `pip install -r requirements.txt`, without installing the project).
        self.process = subprocess.Popen([sys.executable, "-m", "ui.worker", str(theirs.fileno())], cwd=PROJECT_ROOT,
                                        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """End the child now (a cancelled run ends here, mid-step) and reap it."""
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not end", self.process.pid)
        self.conn.close()


@dataclass
class _Ticket:
    session: str
    estimate_s: float
    started: Optional[float] = None
    fraction: float = 0.0  # the running job's own progress: what it has left is measured from it, not estimated

    def left_s(self, now: float) -> float:
        """Seconds until this ticket's run ends: measured from its progress once it has some, else the estimate."""
        if self.started is None:
            return self.estimate_s
        elapsed = now - self.started
        if self.fraction >= 0.03:
            return max(elapsed * (1 - self.fraction) / self.fraction, 5.0)
        return max(self.estimate_s - elapsed, 5.0)


class TrainingQueue:
    """The process's one training slot: first come, first served; at most one queued-or-running run per
    session; at most ``max_waiting`` runs waiting; a run is stopped after ``max_run_s``, or after twice its own
    estimate when that is longer (a Stable Diffusion run on a GPU: a CPU run's estimate is refused above the budget
    before it queues)."""

    def __init__(self, max_waiting: int = 8, max_run_s: float = 600.0) -> None:
        self.max_waiting, self.max_run_s = max_waiting, max_run_s
        self._line: list[_Ticket] = []  # the running ticket first, then the waiting ones
        self._changed = threading.Condition()
        self._standby: Optional[Worker] = None
        self._closed = False  # after shutdown, a delayed warm-up starts nothing
        atexit.register(self.shutdown)

    # --- the line ---------------------------------------------------------------------
    def _enter(self, session: str, estimate_s: float) -> _Ticket:
        with self._changed:
            if any(t.session == session for t in self._line):
                raise InputError("You already have a run queued or running: wait for it to finish, or press Cancel.")
            if len(self._line) > self.max_waiting:
                raise InputError(f"The Space is busy: {len(self._line) - 1} runs are waiting. Please try again in a few minutes.")
            ticket = _Ticket(session, estimate_s)
            self._line.append(ticket)
            return ticket

    def _leave(self, ticket: _Ticket) -> None:
        with self._changed:
            if ticket in self._line:
                self._line.remove(ticket)
            self._changed.notify_all()

    def wait_estimate(self, ticket: _Ticket) -> tuple[int, float]:
        """(runs ahead of ``ticket``, seconds until its turn, estimated)."""
        with self._changed:
            ahead = self._line[: self._line.index(ticket)]
        now = time.monotonic()
        return len(ahead), sum(t.left_s(now) for t in ahead)

    def limit_s(self, estimate_s: float) -> float:
        """How long a run estimated at ``estimate_s`` may hold the slot."""
        return max(self.max_run_s, 2.0 * estimate_s)

    def busy(self) -> int:
        """Runs queued or running now."""
        with self._changed:
            return len(self._line)

    def _wait_turn(self, ticket: _Ticket, progress: Callable[[float, str], None], cancelled: Callable[[], bool]) -> None:
        while True:
            with self._changed:
                if self._line[0] is ticket:
                    ticket.started = time.monotonic()
                    return
            ahead, wait = self.wait_estimate(ticket)
            progress(0.0, f"Waiting for the training slot: {ahead} run{'s' if ahead > 1 else ''} ahead of yours, "
                          f"about {_duration(wait)}")
            if cancelled():
                raise _cancelled()
            with self._changed:
                self._changed.wait(timeout=1.0)

    # --- the workers ------------------------------------------------------------------
    def warm_up(self) -> None:
        """Start a stand-by worker now (the app calls this at launch)."""
        with self._changed:
            if not self._closed and (self._standby is None or not self._standby.alive()):
                self._standby = Worker()

    def _take_worker(self) -> Worker:
        with self._changed:
            worker, self._standby = self._standby, None
        return worker if worker is not None and worker.alive() else Worker()

    def shutdown(self) -> None:
        with self._changed:
            worker, self._standby, self._closed = self._standby, None, True
        if worker is not None:
            worker.stop()

    # --- a run ------------------------------------------------------------------------
    def run(self, session: str, job: Job, progress: Callable[[float, str], None], cancelled: Callable[[], bool],
            estimate_s: float = 60.0) -> Any:
        """Queue ``job`` for ``session`` and run it in a worker; progress carries the wait, then the run's phases
        with the time remaining. Raises ValueError (a refusal, plain words), ``Cancelled`` or WorkerFailed."""
        ticket = self._enter(session, estimate_s)
        worker: Optional[Worker] = None
        finished = False
        try:
            self._wait_turn(ticket, progress, cancelled)
            gpu = zero_gpu()
            if gpu is not None:  # the GPU is lent to this call for at most the run's time limit
                progress(0.0, "Running on a ZeroGPU GPU (its phases are not shown while it runs)…")
                result = gpu.GPU(duration=int(self.limit_s(estimate_s)))(run_here)(job)
                finished = True
                return result
            worker = self._take_worker()
            waited = time.monotonic() - ticket.started if ticket.started else 0.0
            _send(worker.conn, job)
            result = self._follow(worker, ticket, progress, cancelled)
            log.info("run answered: %s, %.1f s from its turn (%.1f s to hand it to a worker)",
                     getattr(job.fn, "__qualname__", "job"), time.monotonic() - ticket.started, waited)
            finished = True
            return result
        finally:
            if worker is not None:
                worker.stop()
            if not finished and job.out_dir is not None:
                shutil.rmtree(job.out_dir, ignore_errors=True)
            self._leave(ticket)
            if worker is not None:  # the next run gets a fresh stand-by: at once if one is waiting, else a little later
                if self.busy():
                    self.warm_up()
                else:
                    timer = threading.Timer(STANDBY_DELAY_S, self.warm_up)
                    timer.daemon = True
                    timer.start()

    def _follow(self, worker: Worker, ticket: _Ticket, progress: Callable[[float, str], None],
                cancelled: Callable[[], bool]) -> Any:
        started = time.monotonic()
        running_since: Optional[float] = None  # the worker's first message: it has loaded and begun the job
        progress(0.0, "Starting…")
        while True:
            if cancelled():
                raise _cancelled()
            elapsed = time.monotonic() - (running_since or started)
            limit = self.limit_s(ticket.estimate_s)
            if elapsed > (limit if running_since else max(limit, LOADING_LIMIT_S)):
                raise InputError(f"This run took longer than the Space allows ({_duration(limit)}) and was "
                                 "stopped. Choose fewer steps, or run the command line on your own machine.")
            try:
                if not worker.conn.poll(POLL_S):
                    continue
                kind, *payload = _recv(worker.conn)
            except (EOFError, OSError):
                raise WorkerFailed("the run's process ended without an answer (out of memory?)") from None
            if kind == "progress":
                running_since = running_since or time.monotonic()
                fraction, message = payload
                ticket.fraction = fraction
                progress(fraction, message + _remaining(elapsed, fraction))
            elif kind == "done":
                return payload[0]
            elif kind == "refused":
                raise InputError(payload[0])
            else:
                raise WorkerFailed(f"the run failed ({payload[0]}); the details are in the server log")


def _cancelled() -> BaseException:
    from methods.runtime import Cancelled

    return Cancelled("cancelled by the user")


def _remaining(elapsed: float, fraction: float) -> str:
    """' · about 40 s left' once the run is far enough along for the estimate to mean something."""
    if fraction < 0.03 or elapsed < 2.0 or fraction >= 1.0:
        return ""
    return f" · about {_duration(elapsed * (1 - fraction) / fraction)} left"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 1.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


if __name__ == "__main__":
    worker_main(int(sys.argv[1]))
