"""What a stand-by worker's warm-ups save a visitor's run: each tab's quick run in a fresh process that has loaded what
a stand-by loads (spaces/worker.py: preloads and caches), without and then with the warm-ups first (WARM_UP_CALLS: each
method run once on two steps, which builds the kernels a run uses). Writes benchmarks/results/warm_up.{json,md}.

    .venv/bin/python benchmarks/warm_up.py [--repeats 1]

Times are the method's entry point in that process (what the worker runs), without the app around it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
LABELS = ROOT / "assets" / "examples" / "features" / "open-mouths" / "labels.json"
RUNS = ("identity", "features", "digits-cvae", "digits-ddpm")


def quick_run(name: str) -> None:
    """The tab's quick preset on its first example's inputs."""
    from methods.backends import DEFAULT_FACE_GENERATOR, load_generator

    if name == "identity":
        from methods import guide
        from methods.guide.face_input import example_photos

        quick = guide.PRESETS["quick"]
        guide.unlearn_identity(load_generator(DEFAULT_FACE_GENERATOR), next(iter(example_photos().values())),
                               guide.GuideConfig(**quick.settings), **quick.options)
    elif name == "features":
        from methods import feature_unlearning as fu
        from methods.feature_unlearning.labels import LabelSet

        backend = load_generator(DEFAULT_FACE_GENERATOR)
        positives, negatives = LabelSet.load(LABELS).latents(backend)
        fu.unlearn_from_labels(backend, positives, negatives, fu.FeatureUnlearningConfig(**fu.PRESETS["quick"].settings),
                               probe=fu.PRESETS["quick"].options["probe"])
    else:
        from methods import selective_amnesia as sa

        quick = sa.presets_for(name)["quick"]
        sa.forget(load_generator(name), sa.AmnesiaConfig.for_model(name, quick), **quick.options)


def child(name: str, warm: bool) -> None:
    """In a fresh process: load as a stand-by does, warm up if asked, then time the quick run; print it as JSON."""
    from methods.backends import load_generator
    from spaces import worker

    for module in worker.PRELOAD_MODULES:
        importlib.import_module(module)
    for generator in worker.PRELOAD_GENERATORS:
        load_generator(generator)
    for call in worker.PRELOAD_CALLS + worker.WARM_CALLS + (worker.WARM_UP_CALLS if warm else ()):
        module, function = call.split(":")
        getattr(importlib.import_module(module), function)()
    started = time.perf_counter()
    quick_run(name)
    print(json.dumps({"run": name, "warmed_up": warm, "seconds": round(time.perf_counter() - started, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.warm)
    samples = []
    for _ in range(args.repeats):
        for name in RUNS:
            for warm in (False, True):
                out = subprocess.run([sys.executable, __file__, "--child", name] + (["--warm"] if warm else []), cwd=ROOT,
                                     capture_output=True, text=True, check=True).stdout
                samples.append(json.loads(out.strip().splitlines()[-1]))
                print(samples[-1], flush=True)
    rows = []
    for name in RUNS:
        cold, warm = ([s["seconds"] for s in samples if s["run"] == name and s["warmed_up"] is w] for w in (False, True))
        rows.append({"run": name, "cold_s": statistics.median(cold), "warmed_up_s": statistics.median(warm),
                     "samples": {"cold": cold, "warmed_up": warm}})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "warm_up.json").write_text(json.dumps(rows, indent=2) + "\n")
    md = ("| quick run (method only, fresh process after a stand-by's loading) | first run, cold | after the warm-ups | saved |\n"
          "|---|---|---|---|\n" + "".join(f"| {r['run']} | {r['cold_s']:.1f} s | {r['warmed_up_s']:.1f} s | "
                                          f"{r['cold_s'] - r['warmed_up_s']:.1f} s |\n" for r in rows))
    (OUT / "warm_up.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
