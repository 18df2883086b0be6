"""One process against two, for every training CLI: writes benchmarks/results/processes.{json,md}.

Each CLI runs twice with the same settings and seed — the same global batch — once as ``python -m methods.X`` (both
cores in one process) and once as ``accelerate launch --multi_gpu --num_processes 2 -m methods.X`` (one core each; on
a machine without CUDA accelerate runs its multi-CPU back-end, gloo). The table shows each run's judged result (the
judge the CLI reports, or a held-out one where the CLI's own figure is a training fit), its processes, whether the
weights ended identical on both, and the wall time of the whole command.

    .venv/bin/python benchmarks/processes.py [--only NAME ...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "-m"]
OPEN_MOUTH_FACES, OPEN_MOUTH_SEED = 400, 910_000  # the Features example's own judged faces


def label_files(work: Path) -> tuple[Path, Path]:
    """The Features example's clicked labels (10 pages, dlib) as the CLI's latent arrays."""
    from methods.backends import load_generator
    from methods.feature_unlearning.labels import LabelSet

    labels = LabelSet.from_json((ROOT / "assets/examples/features/open-mouths/labels.json").read_text())
    pos, neg = labels.latents(load_generator("digiface-dcgan"))
    np.save(work / "positives.npy", pos.numpy())
    np.save(work / "negatives.npy", neg.numpy())
    return work / "positives.npy", work / "negatives.npy"


def open_mouth_rate(folder: Path) -> float:
    """dlib's open-mouth rate on the Features example's judged faces, drawn by the saved generator."""
    from methods.backends import load_generator
    from methods.feature_unlearning.examples import open_rate

    generator = load_generator(str(folder))
    return open_rate(generator.render(generator.sample_latents(OPEN_MOUTH_FACES, seed=OPEN_MOUTH_SEED)))


def cases(work: Path) -> dict[str, dict]:
    """name -> the CLI's module and arguments, and how its judged result is read from its output folder."""
    from methods.guide.face_input import example_photos

    positives, negatives = label_files(work)
    photo = str(next(iter(example_photos().values())))
    return {
        "Selective Amnesia, digits cVAE (forget 0, quick)": dict(
            module="methods.selective_amnesia", args=["--model", "digits-cvae", "--forget", "0", "--preset", "quick"],
            judged=lambda d, r: {"P(0) on samples of 0 (digits classifier)": r["after"]["forgotten_probability"],
                                 "other digits recognised": r["after"]["remembered_accuracy"]}),
        "Selective Amnesia, emoji-sd (a cat → a dog, quick)": dict(
            module="methods.selective_amnesia", args=["--model", "emoji-sd", "--forget", "a cat", "--surrogate", "a dog",
                                                      "--preset", "quick"],
            judged=lambda d, r: {"'a cat' judged a cat": r["judged"]["forgotten"]["cat"]["after"],
                                 "neighbours kept (mean)": float(np.mean([v["after"] for v in r["judged"]["neighbours"].values()]))}),
        "Feature Unlearning, DCGAN (open mouths, full)": dict(
            module="methods.feature_unlearning", args=["--positives", str(positives), "--negatives", str(negatives),
                                                       "--preset", "full", "--no-probe"],
            judged=lambda d, r: {f"open mouths, {OPEN_MOUTH_FACES} faces (dlib)": open_mouth_rate(d),
                                 "feature-free faces SSIM": r["heldout"]["unlearned"]["ssim_kept"]}),
        "GUIDE, DCGAN (astronaut, quick)": dict(
            module="methods.guide", args=["--image", photo, "--preset", "quick"],
            judged=lambda d, r: {"ID distance before/after (dlib)": r["evaluation"]["id_source_before_vs_after"],
                                 "random faces still the same person": r["evaluation"]["preservation_same_person_rate"]}),
        "Voynov directions, DCGAN (k 8, 400 steps)": dict(
            module="methods.directions", args=["--method", "voynov", "--k", "8", "--steps", "400", "--describe", "0"],
            report="report.json",
            judged=lambda d, r: {"reconstructor accuracy, fresh shifts": r["rca"],
                                 "random-A baseline": r["rca_random_baseline"]}),
    }


def run_case(case: dict, processes: int, out: Path) -> dict:
    command = ([sys.executable, "-m"] if processes == 1 else LAUNCH) + [case["module"], *case["args"], "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    report = json.loads((out / case.get("report", "report.json")).read_text())
    return {"processes": processes, "num_processes_reported": report.get("num_processes"),
            "weights_identical_on_every_process": report.get("weights_identical_on_every_process"),
            "judged": {k: round(float(v), 4) for k, v in case["judged"](out, report).items()}, "wall_s": round(seconds, 1)}


def write_markdown(result: dict, path: Path) -> None:
    lines = ["# One process against two (`accelerate launch --multi_gpu --num_processes 2`) on this CPU", "",
             f"Machine: {result['machine']}. Same settings and seed, so the same global batch; with two processes each "
             "trains on half of it (one core each) and the gradients are averaged. Written by `benchmarks/processes.py`.",
             "", "| run | judged | 1 process | 2 processes | weights identical on both | time 1 / 2 (s) |",
             "|---|---|---|---|---|---|"]
    for name, (one, two) in result["runs"].items():
        identical, times = str(two["weights_identical_on_every_process"]).lower(), f"{one['wall_s']} / {two['wall_s']}"
        for i, key in enumerate(one["judged"]):
            first = i == 0
            lines.append(f"| {name if first else ''} | {key} | {one['judged'][key]:.3f} | {two['judged'][key]:.3f} | "
                         f"{identical if first else ''} | {times if first else ''} |")
    lines += ["", result["reading"], ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="run only the cases whose name contains one of these words")
    ap.add_argument("--out", type=Path, default=OUT / "processes.json")
    args = ap.parse_args()
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "launcher": " ".join(["accelerate", "launch", *LAUNCH[4:]]), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, case in cases(work).items():
            if args.only and not any(word.lower() in name.lower() for word in args.only):
                continue
            runs = [run_case(case, n, work / f"{len(result['runs'])}-{n}") for n in (1, 2)]
            result["runs"][name] = runs
            print(name, json.dumps(runs), flush=True)
    result["reading"] = ("Where the two differ, the loop is only statistically the one-process run: Selective Amnesia's "
                         "loss draws its own noise apart on each process, GUIDE starts from an inversion each process "
                         "computes with one core instead of two (the same steps, rounded differently), and Voynov's "
                         "reconstructor normalises each half of the batch by its own BatchNorm statistics. Feature "
                         "Unlearning's loss has no noise of its own and gives the same figures. On a 2-core CPU two "
                         "processes are not faster: each has one core, and each loads the models and repeats what every "
                         "process needs (a Fisher not yet cached, an inversion). The path is for several GPUs, where each "
                         "process has its own device.")
    args.out.write_text(json.dumps(result, indent=2))
    write_markdown(result, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
