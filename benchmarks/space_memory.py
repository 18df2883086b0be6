"""Does the server's memory come back after runs? Its own resident memory (not the workers') before and after a
series of quick runs through the public API, each tab's default request.

Launches ``app.py`` (offline), waits for it to settle, then runs ``--rounds`` rounds of: Amnesia on the digits cVAE,
Amnesia on emoji-sd ('a cat' → 'a dog'), Features on a marked page, Identity on an example photo — all quick presets —
and records the server process's RSS after each run (a few seconds after its answer, once Gradio has sent it).

    python benchmarks/space_memory.py [--rounds 2] [--root DIR] [--out benchmarks/results/space_memory.json]

``--root``: another checkout's app, measured the same way (the code before a change, say).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import psutil
from gradio_client import Client, handle_file

from methods.guide.face_input import example_photos
from ui.launch import running_app

HERE = Path(__file__).resolve().parents[1]
SETTLE_S = 5.0


def _runs(photo: str) -> list[tuple[str, tuple, str]]:
    return [
        ("Amnesia: digits cVAE, quick", ("digits cVAE (offline)", "0", "uniform noise", 100, 1, 1000, 0, "", "", "", "",
                                         "full", "quick"), "/amnesia_forget"),
        ("Amnesia: emoji-sd, quick", ("emoji-sd: type a prompt (text-to-image, offline)", "0", "uniform noise", 50, 1, 60, 0, "",
                                      "a cat", "a dog", "", "xattn", "quick"), "/amnesia_forget"),
        ("Features: quick", ({"seed": 0, "marked": [i % 9 == 0 for i in range(64)]}, 75, 32, 1e-4, 1.0, "mean", 0,
                             False, None, False, "", "quick"), "/features_unlearn"),
        ("Identity: quick", (handle_file(photo), [], 100, 1.0, False, 0, "quick", False), "/identity_unlearn"),
    ]


def _rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "space_memory.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.root, capture_output=True, text=True).stdout.strip()
    out: dict = {"root_commit": commit, "rounds": args.rounds, "runs": []}
    with running_app(args.out.with_suffix(".log"), root=args.root, HF_HUB_OFFLINE="1") as (url, app):
        client = Client(url, verbose=False)
        time.sleep(20)  # the stand-by worker loads; the server has drawn its pages
        out["start_mb"] = _rss_mb(app.pid)
        photo = str(next(iter(example_photos().values())))
        for round_ in range(args.rounds):
            for name, inputs, api_name in _runs(photo):
                started = time.perf_counter()
                shown = client.predict(*inputs, api_name=api_name)
                status = next((s for s in shown if isinstance(s, str) and (s.startswith("Done") or s.startswith("⚠️"))), "")
                time.sleep(SETTLE_S)
                out["runs"].append({"round": round_ + 1, "run": name, "status": status[:120],
                                    "seconds": round(time.perf_counter() - started - SETTLE_S, 1), "server_mb": _rss_mb(app.pid)})
                print(json.dumps(out["runs"][-1]), flush=True)
        out["end_mb"] = _rss_mb(app.pid)
    out["growth_mb"] = round(out["end_mb"] - out["start_mb"], 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# The server's memory over runs", "",
             f"`python benchmarks/space_memory.py --rounds {args.rounds}` (code at {commit}): the app's own process (the workers excluded), "
             f"resident memory {SETTLE_S:.0f} s after each quick run's answer.", "",
             f"Start (stand-by loaded, no run yet): **{out['start_mb']:.0f} MB**; after {len(out['runs'])} runs: "
             f"**{out['end_mb']:.0f} MB** ({out['growth_mb']:+.0f} MB).", "",
             "| round | run | status | run time | server memory after |", "|---|---|---|---|---|"]
    lines += [f"| {r['round']} | {r['run']} | {r['status'][:60]} | {r['seconds']:.1f} s | {r['server_mb']:.0f} MB |"
              for r in out["runs"]]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
