"""CLI: ``python -m methods.directions --method sefa|voynov --generator NAME_OR_DIR --out DIR [--k --steps --seed]``.

Writes ``DIR/directions.safetensors`` (``directions``: (K, latent_dim), one direction a row, in
order of importance) and ``DIR/report.json`` (``wall_s``; ``rca`` and ``rca_random_baseline`` for
voynov; ``eigenvalues`` for sefa; measured descriptions of the top directions); voynov also writes
``DIR/reconstructor.safetensors`` (R, and the class it gives each row), so ``methods.directions.measure_rca(DIR, G)``
re-measures RCA from the files.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

import torch

from ..backends import DEFAULT_FACE_GENERATOR, GeneratorBackend, load_generator
from ..runtime import CancelFn, ProgressFn, subrange, use_all_cores
from ..runtime.cli import tqdm_progress
from . import save_directions
from .describe import describe_directions
from .sefa import sefa
from ..runtime.distributed import is_main_process, process_count
from .trainer import VoynovConfig, reconstructor_accuracy, train_voynov
from ..errors import InputError


@torch.no_grad()
def rank_by_effect(backend: GeneratorBackend, directions: torch.Tensor, epsilon: float = 4.0, n: int = 32, seed: int = 0) -> torch.Tensor:
    """Order directions by the mean pixel change they cause (largest first): 'importance' for Voynov's A."""
    z = backend.sample_latents(n, seed)
    change = torch.stack([(backend.render(z + epsilon * d) - backend.render(z - epsilon * d)).abs().mean() for d in directions])
    return torch.argsort(change, descending=True)


def discover(method: str, backend: GeneratorBackend, k: Optional[int], steps: int, seed: int, describe: int = 10,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None
             ) -> tuple[torch.Tensor, dict[str, Any], Optional[tuple[torch.nn.Module, torch.Tensor]]]:
    """Directions (K, D), a report and (Voynov) the reconstructor with the class it gives each row, for ``method``."""
    started = time.perf_counter()
    report: dict[str, Any] = {"method": method, "generator": backend.name, "seed": seed}
    reconstructor = None
    if method == "sefa":
        directions, eigenvalues = sefa(backend, k)
        report.update(k=len(directions), eigenvalues=eigenvalues.tolist(), wall_s=round(time.perf_counter() - started, 4))
    elif method == "voynov":
        config = VoynovConfig(k=k or VoynovConfig.default("k"), steps=steps, seed=seed)
        result = train_voynov(config, backend, progress=subrange(progress, 0, 0.5), cancel=cancel)
        baseline = train_voynov(replace(config, train_matrix=False), backend,
                                progress=subrange(progress, 0.5, 1.0, "random-A baseline: "), cancel=cancel)
        if not is_main_process():  # it trained beside the main process; the main one ranks, measures and writes
            return result.matrix.directions().detach(), {**report, "num_processes": process_count()}, None
        directions = result.matrix.directions().detach()
        order = rank_by_effect(backend, directions, seed=seed)
        directions = directions[order]
        reconstructor = (result.reconstructor, order)  # row i of the ranked directions is R's class order[i]
        report.update(
            k=config.k, steps=config.steps, settings=asdict(config),
            rca=reconstructor_accuracy(result, backend), rca_random_baseline=reconstructor_accuracy(baseline, backend),
            train_s=round(result.train_seconds, 1), baseline_train_s=round(baseline.train_seconds, 1),
            num_processes=process_count(),
            **({} if result.identical_on_every_process is None else
               {"weights_identical_on_every_process": result.identical_on_every_process}),
            wall_s=round(time.perf_counter() - started, 1),
        )
    else:
        raise InputError("method must be 'sefa' or 'voynov'")
    if describe:
        t = time.perf_counter()
        report["descriptions"] = [asdict(d) for d in describe_directions(backend, directions[:describe], seed=seed)]
        report["describe_s"] = round(time.perf_counter() - t, 1)
    return directions, report, reconstructor


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m methods.directions", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=("sefa", "voynov"), required=True)
    p.add_argument("--generator", default=DEFAULT_FACE_GENERATOR)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--k", type=int, default=None, help="number of directions (sefa: all by default; voynov: 32)")
    p.add_argument("--steps", type=int, default=VoynovConfig.default("steps"), help="voynov training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--describe", type=int, default=10, help="describe the top N directions (0: skip)")
    args = p.parse_args(argv)
    use_all_cores()
    try:
        backend = load_generator(args.generator)
        if args.k is not None and not 1 <= args.k <= backend.latent_dim:
            raise InputError(f"--k must be between 1 and {backend.latent_dim}")
        with tqdm_progress(100, args.method, "%") as progress:
            directions, report, reconstructor = discover(args.method, backend, args.k, args.steps, args.seed,
                                                         args.describe, progress)
        if not is_main_process():
            return 0
        report["command"] = "python -m methods.directions " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
        save_directions(args.out, directions, report, reconstructor)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    summary = {k: report[k] for k in ("k", "wall_s", "rca", "rca_random_baseline") if k in report}
    print(f"wrote {args.out / 'directions.safetensors'}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
