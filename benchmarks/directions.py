"""Benchmark of latent direction discovery on the DigiFace DCGAN: writes benchmarks/results/directions.{json,md}.

    .venv/bin/python benchmarks/directions.py [--retrain]

Voynov figures come from the shipped asset's report (assets/directions/digiface-dcgan-voynov/report.json,
written by the training command recorded there); --retrain runs that command again first.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from methods.backends import load_generator
from methods.directions import shipped_directions
from methods.directions.sefa import sefa
from methods.runtime import use_all_cores

OUT = ROOT / "benchmarks" / "results"
VOYNOV_COMMAND = [sys.executable, "-m", "methods.directions", "--method", "voynov", "--generator", "digiface-dcgan",
                  "--out", "assets/directions/digiface-dcgan-voynov", "--k", "32", "--steps", "1500", "--seed", "0"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()
    use_all_cores()
    if args.retrain:
        subprocess.run(VOYNOV_COMMAND, cwd=ROOT, check=True)
    g = load_generator("digiface-dcgan")
    res: dict = {}

    sefa(g)  # warm-up (first linear-algebra call)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        sefa(g)
        times.append(time.perf_counter() - t)
    res["sefa_s_median"] = round(statistics.median(times), 4)

    voynov = json.loads((shipped_directions("voynov", "digiface-dcgan") / "report.json").read_text())
    res["voynov"] = {k: voynov[k] for k in ("k", "steps", "rca", "rca_random_baseline", "train_s", "baseline_train_s", "wall_s", "command")}

    # slider response: the tab's handler (latent shift + render + up-scaling) and PNG encoding, 100 moves
    from ui import directions as tab
    from ui.common import by_name

    state = by_name(tab.load_method, tab.load_method(list(tab.METHOD_LABELS)[0], "digiface-dcgan", None, 8, 6, 0))["state"]
    gen = torch.Generator().manual_seed(0)
    moves = []
    for i in range(100):
        values = (torch.rand(tab.MAX_SLIDERS, generator=gen) * 12 - 6).tolist()
        t = time.perf_counter()
        image = tab.render_face(state, i % 10, *values)
        image.save(io.BytesIO(), format="PNG")
        moves.append(time.perf_counter() - t)
    res["slider_ms_median"] = round(1000 * statistics.median(moves), 1)

    shares = {}
    for method in ("sefa", "voynov"):
        report = json.loads((shipped_directions(method, "digiface-dcgan") / "report.json").read_text())
        top = report["descriptions"][:10]
        shares[method] = {"single_factor": sum(d["single_factor"] for d in top), "of": len(top),
                          "descriptions": [f"#{d['index'] + 1}: {d['text']}" + (" (single)" if d["single_factor"] else "") for d in top]}
    res["top10_single_factor"] = shares
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "directions.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "directions.md").write_text(markdown(res))
    print(markdown(res))


def markdown(r: dict) -> str:
    v = r["voynov"]
    s = r["top10_single_factor"]
    lines = [
        "| measure | this suite (2-core CPU) | official code (figures from the issue, same generator and CPU, not re-run here) |",
        "|---|---|---|",
        f"| SeFa, all 100 directions | {r['sefa_s_median'] * 1000:.0f} ms | — |",
        f"| Voynov RCA, K = {v['k']}, {v['steps']} steps | **{v['rca']:.3f}** in {v['train_s']} s training | 22% at K = 100 (ResNet18), 20% at K = 32 (LeNet), 8 min |",
        f"| fixed random A, R trained alone, same steps | {v['rca_random_baseline']:.3f} ({v['baseline_train_s']} s) | 20% at K = 100 |",
        f"| learned A minus random A | **{v['rca'] - v['rca_random_baseline']:+.3f}** | about +0.02 |",
        f"| whole training command (A+R, baseline, ranking, descriptions) | {v['wall_s']} s | — |",
        f"| slider release → image (handler + PNG, median of 100 moves) | {r['slider_ms_median']} ms | — |",
        f"| top-10 directions with a single clear measured factor | SeFa {s['sefa']['single_factor']}/{s['sefa']['of']}, Voynov {s['voynov']['single_factor']}/{s['voynov']['of']} | — |",
        "",
        f"Training command (seed 0): `{v['command']}`",
        "",
        "Measured descriptions of the top 10 (SeFa): " + "; ".join(s["sefa"]["descriptions"]),
        "",
        "Measured descriptions of the top 10 (Voynov): " + "; ".join(s["voynov"]["descriptions"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
