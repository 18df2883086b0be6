"""A run on a shared CPU: how much slower is the Space's quick run when another process keeps one core busy?

Runs the Amnesia tab's default request (Selective Amnesia, digits cVAE, quick preset) the way the Space does — one
job through the training slot, in a fresh worker process — on an idle machine and beside a busy one (a plain Python
loop at normal priority, about one core), for the worker's thread choices: ``auto`` (what ships: as many threads as
pay off right now), and a fixed 2 or 1 (``UNLEARNING_STUDIO_WORKER_THREADS``). Each case runs ``--repeats`` times;
the table shows the median.

    python benchmarks/busy_cpu.py [--repeats 3] [--out benchmarks/results/busy_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from methods import selective_amnesia as sa
from methods.backends import GeneratorRef
from methods.errors import InputError
from methods.runtime.device import available_cores
from ui.worker import Job, TrainingQueue

HERE = Path(__file__).resolve().parents[1]
MODEL = "digits-cvae"
CHOICES = ("auto", "2", "1")
BUSY = "while True: pass"


def one_run(threads: str, limit_s: float) -> tuple[float, float]:
    """(seconds from the request to its answer, the run's own wall time) for one quick run in a fresh worker; (nan, nan)
    for a run still going after ``limit_s`` (stopped there, as the Space stops a run at its limit)."""
    os.environ["UNLEARNING_STUDIO_WORKER_THREADS"] = threads
    preset = sa.presets_for(MODEL)["quick"]
    config = sa.AmnesiaConfig.for_model(MODEL, preset, forget="0", surrogate="noise")
    options = {**preset.options, "attack": False, "compare_baseline": False}
    with tempfile.TemporaryDirectory() as tmp:
        job = Job(sa.forget, (GeneratorRef(MODEL), config), {**options, "out_dir": Path(tmp) / "run"}, None)
        queue = TrainingQueue(max_run_s=limit_s)
        queue.warm_up()
        time.sleep(15.0)  # the stand-by's start-up is not the run: a Space's stand-by is ready before its visitor comes
        started = time.perf_counter()
        try:
            result = queue.run("bench", job, lambda f, m: None, lambda: False, estimate_s=10.0)
        except InputError:  # stopped at the limit
            return float("nan"), float("nan")
        finally:
            queue.shutdown()
        return time.perf_counter() - started, float(result.report["wall_s"])


def _json(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=float, default=120.0, help="stop a run after this many seconds")
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "busy_cpu.json")
    args = parser.parse_args()
    os.environ.setdefault("UNLEARNING_STUDIO_WARM_CACHES", "0")  # the cVAE's quick run reads no cache worth warming
    rows = []
    for threads in CHOICES:
        for load in ("idle", "one busy core"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "idle" else None
            try:
                times = [one_run(threads, args.limit) for _ in range(args.repeats)]
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            answered, wall = np.median(np.array(times), axis=0)  # nan if any repeat was stopped
            rows.append({"threads": threads, "load": load, "answer_s": _json(answered), "run_s": _json(wall),
                         "all_answer_s": [_json(t[0]) for t in times]})
            print(rows[-1], flush=True)
    idle = next(r["answer_s"] for r in rows if r["load"] == "idle" and r["threads"] == "auto")
    for r in rows:
        r["vs_idle_auto"] = None if r["answer_s"] is None or idle is None else round(r["answer_s"] / idle, 2)
    record = {"cores": available_cores(), "model": MODEL, "preset": "quick", "repeats": args.repeats,
              "limit_s": args.limit, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# A quick run on a shared CPU",
        "",
        f"`python benchmarks/busy_cpu.py --repeats {args.repeats} --limit {args.limit:.0f}` on {record['cores']} cores: the Amnesia tab's default "
        "request (Selective Amnesia, digits cVAE, quick preset) through the training slot in a fresh worker, on an idle "
        "machine and beside one busy process at normal priority. Median of the repeats; the worker runs at nice 5; a "
        f"run still going after {args.limit:.0f} s is stopped there (\"stopped\").",
        "",
        "| worker threads | machine | request → answer | the run itself | vs the shipped choice, idle |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        name = "auto (shipped)" if r["threads"] == "auto" else r["threads"]
        if r["answer_s"] is None:
            lines.append(f"| {name} | {r['load']} | stopped after {args.limit:.0f} s | — | > {args.limit / idle:.0f}× |")
        else:
            lines.append(f"| {name} | {r['load']} | {r['answer_s']:.1f} s | {r['run_s']:.1f} s | {r['vs_idle_auto']:.1f}× |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
