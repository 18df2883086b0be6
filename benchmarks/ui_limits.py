"""The longest runs a public visitor may start, timed as the Space runs them (in a worker process, on this CPU).

Each config estimates its run's time from the step times its benchmark measured (``cpu_seconds``); the tabs refuse
settings estimated over ``CPU_BUDGET_S`` (5 min). This script runs the largest settings that pass that check —
the corners of each tab's sliders — and compares the measured time with the estimate and the budget.

    python benchmarks/ui_limits.py    # writes benchmarks/results/ui_limits.json
"""
from __future__ import annotations

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
from spaces.worker import Job, TrainingQueue

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ui_limits.json"


def _labels() -> tuple[torch.Tensor, torch.Tensor]:
    """Some labelled latents (the time does not depend on which faces are marked)."""
    pool = load_generator(DEFAULT_FACE_GENERATOR).sample_latents(256, seed=7)
    marked = torch.from_numpy(np.arange(256) % 8 == 0)
    return pool[marked], pool[~marked]


def cases() -> list[tuple[str, float, object, tuple, dict]]:
    pos, neg = _labels()
    photo = str(next(iter(example_photos().values())))
    out = []
    for steps, batch in [(1000, 36)]:  # (560, 64), the other corner, is estimated at the same 292 s
        config = fu.FeatureUnlearningConfig(steps=steps, batch_size=batch)
        out.append((f"Features: {steps} steps x batch {batch}, probe on", config.cpu_seconds(), fu.unlearn_from_labels,
                    (GeneratorRef(DEFAULT_FACE_GENERATOR), pos, neg, config), {"probe": True}))
    config = guide.GuideConfig(steps=600)
    out.append(("Identity: 600 steps, baseline on", config.cpu_seconds(with_baseline=True), guide.unlearn_identity,
                (GeneratorRef(DEFAULT_FACE_GENERATOR), photo, config), {"compare_baseline": True, "n_random": 48}))
    for model, steps in [("digits-ddpm", 1960)]:  # the cVAE's slider maximum, 20k steps, is estimated at 142 s
        config = sa.AmnesiaConfig.for_model(model, steps=steps)
        out.append((f"Amnesia: {model}, {steps} steps", config.cpu_seconds(model), sa.forget, (GeneratorRef(model), config), {}))
    return out


def main() -> None:
    queue = TrainingQueue(max_run_s=3600)
    rows = []
    for name, estimate, fn, args, kwargs in cases():
        assert estimate <= CPU_BUDGET_S, (name, estimate)  # the tab lets a visitor start this one
        queue.warm_up()
        time.sleep(20)  # as on the Space: a loaded stand-by worker takes the run
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = queue.run("bench", Job(fn, args, {**kwargs, "out_dir": Path(tmp) / "run"}, Path(tmp) / "run"),
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
