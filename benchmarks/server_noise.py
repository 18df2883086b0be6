"""What the server costs a run while it waits: the idle queue's CPU, and the worker reading a job's arguments.

    python benchmarks/server_noise.py      # about a minute on the 2-core reference machine

1. The app's server, idle, for ``--seconds`` each at Gradio's own polling intervals and at the app's
   (``app.calm_queue``): CPU seconds the server's process used (every wake-up takes a core from a run for a moment).
2. A worker-like process (the worker's preloaded modules imported) unpickling a file path as Gradio hands it over
   (its ``NamedString``, a str subclass) and as ``ui.worker.Job`` now sends it (a plain str).
Results: benchmarks/results/server_noise.{json,md}.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"

# In a fresh interpreter: import what a stand-by worker imports, then time reading one pickled argument from stdin.
READ_JOB = """
import importlib, pickle, sys, time
from ui.worker import PRELOAD_MODULES
for name in PRELOAD_MODULES:
    importlib.import_module(name)
data = sys.stdin.buffer.read()
started = time.perf_counter()
pickle.loads(data)
print(time.perf_counter() - started, 'gradio' in sys.modules)
"""


def _load_app():
    """ROOT's ``app.py`` as a module (it is a script, not part of the installed packages)."""
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


def idle_server_cpu(seconds: float) -> dict[str, float]:
    """CPU seconds the idle app server used in ``seconds``, at Gradio's default polling and at the app's."""
    import gradio as gr

    app = _load_app()
    PROGRESS_POLL_S, QUEUE_POLL_S, build_app = app.PROGRESS_POLL_S, app.QUEUE_POLL_S, app.build_app

    default = gr.Blocks().queue()._queue  # Gradio's own intervals on this platform
    defaults = (default.sleep_when_free, default.progress_update_sleep_when_free)
    demo = build_app()  # calm_queue already applied; no stand-by worker is started (that is app.py's __main__)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    time.sleep(5)  # start-up settles
    used = {}
    for label, (work, progress) in ((f"Gradio's default ({defaults[0] * 1000:g} ms / {defaults[1] * 1000:g} ms)", defaults),
                                    (f"the app's ({QUEUE_POLL_S * 1000:g} ms / {PROGRESS_POLL_S * 1000:g} ms)",
                                     (QUEUE_POLL_S, PROGRESS_POLL_S))):
        demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free = work, progress  # read every loop
        time.sleep(1)
        cpu = time.process_time()
        time.sleep(seconds)
        used[label] = round(time.process_time() - cpu, 3)
    demo.close()
    return used


def job_read_seconds() -> dict[str, dict]:
    """Seconds a worker-like process takes to unpickle a Gradio file path and a plain one, and whether Gradio was
    imported to do it."""
    from gradio.utils import NamedString

    read = {}
    for label, value in (("Gradio's NamedString (before)", NamedString("/tmp/photo.png")),
                         ("plain str (Job now)", "/tmp/photo.png")):
        out = subprocess.run([sys.executable, "-c", READ_JOB], cwd=ROOT, input=pickle.dumps(value),
                             capture_output=True, check=True).stdout.decode().split()
        read[label] = {"seconds": round(float(out[0]), 3), "imported gradio": out[1] == "True"}
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="idle time measured at each setting")
    args = parser.parse_args()
    results = {"idle server, CPU seconds in %g s" % args.seconds: idle_server_cpu(args.seconds),
               "worker reading a file path": job_read_seconds()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "server_noise.json").write_text(json.dumps(results, indent=2) + "\n")
    idle, read = results.values()
    md = (f"| idle server, polling | CPU seconds in {args.seconds:g} s |\n|---|---|\n"
          + "".join(f"| {k} | {v:.2f} |\n" for k, v in idle.items())
          + "\n| the worker unpickles a file path as | seconds | imported Gradio |\n|---|---|---|\n"
          + "".join(f"| {k} | {v['seconds']:.2f} | {v['imported gradio']} |\n" for k, v in read.items()))
    (OUT / "server_noise.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
