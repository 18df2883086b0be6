"""The public Space under load: do light actions stay quick while a run trains, and does memory come back?

Launches ``app.py`` from ``--root`` (default: this checkout; another checkout measures older code the same way),
then, for each run below, one visitor starts a training run through the public API while another renders slider
images (``/directions_render``) about five times a second, as a person dragging sliders does; it records their latencies, and the server's memory (the app's
process and its children) before the first run and after each one.

    python benchmarks/space_load.py [--root DIR] [--out benchmarks/results/space_load.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
from gradio_client import Client, handle_file

from ui.launch import running_app
from methods.guide.face_input import example_photos

HERE = Path(__file__).resolve().parents[1]
RENDER_EVERY_S = 0.2  # a slider render every 0.2 s from the second visitor
CVAE = "digits cVAE (offline)"


def _runs(photo: str) -> list[tuple[str, tuple, str]]:
    return [
        ("Identity: GUIDE + baseline, defaults", (handle_file(photo), [], 200, 1.0, True, 0, "full"), "/identity_unlearn"),
        ("Features: defaults (300 steps x 32)", ({"seed": 0, "marked": [i % 9 == 0 for i in range(64)]}, 300, 32, 1e-4,
                                                1.0, "mean", 0, True, None, False, "", "full"), "/features_unlearn"),
        ("Amnesia: digits cVAE, defaults", (CVAE, "0", "uniform noise", 100, 1, 10000, 0, "", "", "", "", "full", "full"),
         "/amnesia_forget"),
    ]


def _tree_rss_mb(pid: int) -> tuple[float, float]:
    """(the app's process, the app and its children) resident memory in MB."""
    proc = psutil.Process(pid)
    own = proc.memory_info().rss
    children = sum(c.memory_info().rss for c in proc.children(recursive=True) if c.is_running())
    return round(own / 2**20, 1), round((own + children) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "space_load.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.root, capture_output=True, text=True).stdout.strip()
    out = {"root_commit": commit, "runs": []}
    with running_app(args.out.with_suffix(".log"), root=args.root, HF_HUB_OFFLINE="1") as (url, app):
        trainer, viewer = Client(url, verbose=False), Client(url, verbose=False)
        viewer.predict("SeFa — closed form (instant)", "digiface-dcgan", None, 8, 6, 0, api_name="/directions_load")
        quiet = []
        for i in range(20):
            started = time.perf_counter()
            viewer.predict(i, *[0.5] * 20, api_name="/directions_render")
            quiet.append(time.perf_counter() - started)
        time.sleep(15)  # a stand-by worker (where there is one) finishes loading
        out["idle"] = {"render_median_s": round(float(np.median(quiet)), 3), "memory_mb": _tree_rss_mb(app.pid)}
        print("idle:", out["idle"], flush=True)
        for name, inputs, api_name in _runs(str(next(iter(example_photos().values())))):
            job = trainer.submit(*inputs, api_name=api_name)
            started_run = time.perf_counter()
            latencies, peak = [], _tree_rss_mb(app.pid)
            while not job.done():
                time.sleep(max(0.0, RENDER_EVERY_S - (time.perf_counter() - started)) if latencies else 0.0)
                started = time.perf_counter()
                viewer.predict(len(latencies), *np.random.default_rng(len(latencies)).uniform(-3, 3, 20).tolist(),
                               api_name="/directions_render")
                latencies.append(time.perf_counter() - started)
                peak = max(peak, _tree_rss_mb(app.pid), key=lambda m: m[1])
            message = job.result()[-1]  # the verdict (the status line before verdicts existed)
            time.sleep(20)  # the next stand-by worker loads
            row = {"run": name, "last_output": str(message)[:160], "run_s": round(time.perf_counter() - started_run - 20, 1),
                   "renders": len(latencies), "render_median_s": round(float(np.median(latencies)), 3),
                   "render_p95_s": round(float(np.percentile(latencies, 95)), 3),
                   "render_max_s": round(float(max(latencies)), 3),
                   "renders_over_1s": int(sum(x > 1.0 for x in latencies)),
                   "memory_peak_mb": peak, "memory_after_mb": _tree_rss_mb(app.pid)}
            out["runs"].append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
