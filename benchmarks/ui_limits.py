"""The longest runs a public visitor may start, timed as the Space runs them (in a worker process, on this CPU).

Each config estimates its run's time from the step times its benchmark measured (``cpu_seconds``); the tabs refuse
settings estimated over ``CPU_BUDGET_S`` (5 min). This script runs the largest settings that pass that check —
the corners of each tab's sliders — and compares the measured time with the estimate and the budget.

    python benchmarks/ui_limits.py    # writes benchmarks/results/ui_limits.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from methods import feature_unlearning as fu
from methods import guide
from methods import selective_amnesia as sa
from methods.backends import DEFAULT_FACE_GENERATOR, GeneratorRef, load_generator
from methods.guide.face_input import example_photos
from methods.runtime.config import CPU_BUDGET_S
from ui.worker import Job, TrainingQueue

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ui_limits.json"


def _labels() -> tuple[torch.Tensor, torch.Tensor]:
    """Some labelled latents (the time does not depend on which faces are marked)."""
    pool = load_generator(DEFAULT_FACE_GENERATOR).sample_latents(256, seed=7)
    marked = torch.from_numpy(np.arange(256) % 8 == 0)
    return pool[marked], pool[~marked]


def _largest(make, values):
    """The config with the largest of ``values`` that the tab accepts (estimated within the budget)."""
    return next(c for c in (make(v) for v in sorted(values, reverse=True)) if c.cpu_seconds() <= CPU_BUDGET_S)


def cases(only: str | None) -> list[tuple[str, float, object, tuple, dict]]:
    out = []
    if only in (None, "features"):  # the slider maximum of steps, with the largest batch the budget allows
        pos, neg = _labels()
        config = _largest(lambda b: fu.FeatureUnlearningConfig(steps=1000, batch_size=b), range(4, 65, 4))
        out.append((f"Features: {config.steps} steps x batch {config.batch_size}, probe on", config.cpu_seconds(),
                    fu.unlearn_from_labels, (GeneratorRef(DEFAULT_FACE_GENERATOR), pos, neg, config), {"probe": True}))
    if only in (None, "identity"):
        config = guide.GuideConfig(steps=600)
        out.append(("Identity: 600 steps, baseline on", config.cpu_seconds(with_baseline=True), guide.unlearn_identity,
                    (GeneratorRef(DEFAULT_FACE_GENERATOR), str(next(iter(example_photos().values()))), config),
                    {"compare_baseline": True, "n_random": 48}))
    if only in (None, "amnesia"):  # the DDPM's largest steps (the cVAE's slider maximum, 20k, is estimated at 142 s)
        config = next(c for c in (sa.AmnesiaConfig.for_model("digits-ddpm", steps=s) for s in range(20_000, 0, -5))
                      if c.cpu_seconds("digits-ddpm") <= CPU_BUDGET_S)
        out.append((f"Amnesia: digits-ddpm, {config.steps} steps", config.cpu_seconds("digits-ddpm"), sa.forget,
                    (GeneratorRef("digits-ddpm"), config), {}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["features", "identity", "amnesia"])
    args = parser.parse_args()
    queue = TrainingQueue(max_run_s=3600)
    rows = json.loads(OUT.read_text())["runs"] if args.only and OUT.exists() else []
    rows = [r for r in rows if not r["run"].lower().startswith(args.only or "-")]
    for name, estimate, fn, args_, kwargs in cases(args.only):
        assert estimate <= CPU_BUDGET_S, (name, estimate)  # the tab lets a visitor start this one
        queue.warm_up()
        time.sleep(20)  # as on the Space: a loaded stand-by worker takes the run
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = queue.run("bench", Job(fn, args_, {**kwargs, "out_dir": Path(tmp) / "run"}, Path(tmp) / "run"),
                               lambda f, m: None, lambda: False, estimate_s=estimate)
            wall = time.perf_counter() - started
        rows.append({"run": name, "estimate_s": round(estimate, 1), "measured_s": round(wall, 1),
                     "within_budget": wall <= CPU_BUDGET_S, "worker_peak_memory_mb": result.report.get("peak_memory_mb")})
        print(json.dumps(rows[-1]), flush=True)
    queue.shutdown()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"budget_s": CPU_BUDGET_S, "runs": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
