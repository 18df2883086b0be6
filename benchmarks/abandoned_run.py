"""A visitor who leaves mid-run: how soon is the training slot free for the next one?

Launches ``app.py`` (offline). A first visitor's script starts a full digits-cVAE run (10,000 steps: a minute or more
of training) and is killed once the run trains; a second visitor asks for a quick run at once. Records the time from
the kill to the server's "its visitor left" line, and the second visitor's time from request to answer (it includes a
fresh worker's start: the abandoned run's worker is ended), against the same quick run on an idle server whose stand-by
worker is ready.

    python benchmarks/abandoned_run.py [--repeats 3] [--out benchmarks/results/abandoned_run.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from gradio_client import Client

from ui.launch import running_app

HERE = Path(__file__).resolve().parents[1]
CVAE = "digits cVAE (offline)"
QUICK = (CVAE, "1", "uniform noise", 100, 1, 1000, 0, "", "", "", "", "full", "quick")
LEAVING = """
import time
from gradio_client import Client
job = Client({url!r}, verbose=False).submit({cvae!r}, "0", "uniform noise", 100, 1, 10000, 0, "", "", "", "", "full",
                                             "full", api_name="/amnesia_forget")
while job.status().code.name != "PROGRESS":
    time.sleep(0.1)
time.sleep(3.0)
print("running", flush=True)
time.sleep(600)
"""


def _wait_for_line(log: Path, text: str, count: int, timeout_s: float = 120.0) -> float:
    deadline = time.monotonic() + timeout_s
    while log.read_text().count(text) < count:
        if time.monotonic() > deadline:
            return float("nan")
        time.sleep(0.05)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "abandoned_run.json")
    args = parser.parse_args()
    log = args.out.with_suffix(".log")
    rows = []
    with running_app(log, HF_HUB_OFFLINE="1") as (url, _):
        time.sleep(15)  # the stand-by worker loads
        idle = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            Client(url, verbose=False).predict(*QUICK, api_name="/amnesia_forget")
            idle.append(time.perf_counter() - started)
            time.sleep(15)  # the next stand-by loads (a visitor arriving later finds it ready)
        for k in range(args.repeats):
            visitor = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LEAVING.format(url=url, cvae=CVAE))],
                                       stdout=subprocess.PIPE, text=True)
            assert visitor.stdout.readline().strip() == "running"
            visitor.kill()
            killed = time.monotonic()
            visitor.wait()
            started = time.perf_counter()
            job = Client(url, verbose=False).submit(*QUICK, api_name="/amnesia_forget")
            stopped = _wait_for_line(log, "its visitor left", k + 1) - killed
            shown = job.result(timeout=300)
            answered = time.perf_counter() - started
            rows.append({"kill_to_stopped_s": round(stopped, 2), "next_visitor_answer_s": round(answered, 1),
                         "next_status": str(shown[4])[:80]})
            print(rows[-1], flush=True)
            time.sleep(15)
    record = {"idle_quick_answer_s": [round(t, 1) for t in idle], "after_a_visitor_left": rows}
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    stopped = [r["kill_to_stopped_s"] for r in rows]
    lines = ["# A visitor who leaves mid-run", "",
             f"`python benchmarks/abandoned_run.py --repeats {args.repeats}`: a script starts a full digits-cVAE run "
             "(10,000 steps) and is killed while it trains; a second visitor asks for a quick run at once. That visitor's "
             "time includes a fresh worker's start-up (the abandoned run's worker ends with it); on the idle server a "
             "stand-by worker is ready.", "",
             "| | median | all |", "|---|---|---|",
             f"| kill → the server stops the abandoned run | {np.median(stopped):.1f} s | {', '.join(f'{s:.1f}' for s in stopped)} s |",
             f"| the next visitor's quick run, request → answer | {np.median([r['next_visitor_answer_s'] for r in rows]):.1f} s | "
             f"{', '.join(str(r['next_visitor_answer_s']) for r in rows)} s |",
             f"| the same quick run on an idle server | {np.median(idle):.1f} s | {', '.join(f'{t:.1f}' for t in idle)} s |"]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
