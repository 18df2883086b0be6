"""Latent direction discovery: Voynov & Babenko (trained) and SeFa (closed form).

Files: ``matrix.py`` (A), ``reconstructor.py`` (R), ``trainer.py`` (joint training, RCA),
``sefa.py`` (closed form), ``describe.py`` (measured descriptions), ``__main__.py`` (CLI).
A directions folder holds ``directions.safetensors`` (tensor ``directions``, (K, D), one unit
direction a row, in order of importance) and ``report.json``; a Voynov folder also holds ``reconstructor.safetensors``
(R's weights, and ``class_of_row``: the class R gives row i's shift), so RCA can be measured again from the files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..runtime import write_json
from ..errors import InputError

DIRECTIONS_FILE = "directions.safetensors"
RECONSTRUCTOR_FILE = "reconstructor.safetensors"
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "directions"


def save_directions(out_dir: Path, directions: torch.Tensor, report: dict[str, Any],
                    reconstructor: Optional[tuple[nn.Module, torch.Tensor]] = None) -> None:
    """Write a directions folder; ``reconstructor``: Voynov's R and the class it gives each row of ``directions``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({"directions": directions.detach().float().contiguous().cpu()}, str(out_dir / DIRECTIONS_FILE))
    if reconstructor is not None:
        module, class_of_row = reconstructor
        state = {f"reconstructor.{k}": v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        save_file({**state, "class_of_row": class_of_row.long().contiguous().cpu()}, str(out_dir / RECONSTRUCTOR_FILE))
    write_json(out_dir / "report.json", report)


def load_reconstructor(folder: Path) -> tuple[nn.Module, torch.Tensor]:
    """Voynov's R from a directions folder, and ``class_of_row`` (the class it gives each row's shift)."""
    from .reconstructor import Reconstructor

    tensors = load_file(str(Path(folder) / RECONSTRUCTOR_FILE))
    state = {k.removeprefix("reconstructor."): v for k, v in tensors.items() if k.startswith("reconstructor.")}
    module = Reconstructor(state["classify.weight"].shape[0], width=state["features.0.weight"].shape[0])
    module.load_state_dict(state)
    return module.eval(), tensors["class_of_row"]


def measure_rca(folder: Path, backend, n: int = 1024, seed: int = 1_000_000_007 % 2**31) -> float:
    """RCA measured again from a Voynov folder's files: R tells which shipped direction moved a fresh latent."""
    from .trainer import shift_accuracy

    directions, report = load_directions(folder, backend.latent_dim)
    reconstructor, class_of_row = load_reconstructor(folder)
    in_class_order = torch.empty_like(directions)
    in_class_order[class_of_row] = directions
    settings = report.get("settings", {})
    return shift_accuracy(reconstructor, in_class_order, backend, settings.get("epsilon_min", 0.5),
                          settings.get("epsilon_max", 6.0), n, seed)


def load_directions(path: Path, latent_dim: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Directions (K, D) from a folder or a ``directions.safetensors`` file; ValueError on a wrong file."""
    path = Path(path)
    file = path / DIRECTIONS_FILE if path.is_dir() else path
    try:
        tensors = load_file(str(file))
    except Exception as exc:
        raise InputError(f"{file.name} is not a directions file (safetensors with a 'directions' tensor)") from exc
    if "directions" not in tensors:
        raise InputError(f"{file.name} has no 'directions' tensor")
    d = tensors["directions"].float()
    if d.dim() != 2 or d.shape[1] != latent_dim or len(d) == 0:
        raise InputError(f"directions must have shape (K, {latent_dim}); {file.name} has {tuple(d.shape)}")
    if not torch.isfinite(d).all():
        raise InputError(f"{file.name} contains NaN or infinite values")
    report_path = file.parent / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return d / d.norm(dim=1, keepdim=True).clamp_min(1e-12), report


METHODS = ("sefa", "voynov")


def shipped_directions(method: str, generator: str) -> Path:
    """Folder of the directions shipped for ``generator`` (``assets/directions/<generator>-<method>``)."""
    return ASSETS / f"{generator}-{method}"


def directions_for(method: str, backend, k: int = 20) -> tuple[torch.Tensor, list[str]]:
    """Directions (K, D) and their measured descriptions for the UI.

    SeFa is computed on the spot (well under a second); its descriptions, and Voynov's trained
    directions, come from the folder shipped in ``assets/`` when there is one.
    """
    from .sefa import sefa

    folder = shipped_directions(method, backend.name)
    if method == "sefa":
        directions, _ = sefa(backend, k)
    elif method == "voynov":
        if not (folder / DIRECTIONS_FILE).is_file():
            raise InputError(f"no trained Voynov directions are shipped for '{backend.name}': "
                             f"train them with python -m methods.directions --method voynov --generator {backend.name} --out DIR")
        directions, _ = load_directions(folder, backend.latent_dim)
    else:
        raise InputError(f"method must be one of {METHODS}")
    report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").is_file() else {}
    from .describe import distinct_descriptions

    effects = {d["index"]: d["effects"] for d in report.get("descriptions", [])}
    measured = sorted(i for i in effects if i < len(directions))
    texts = dict(zip(measured, distinct_descriptions([effects[i] for i in measured])))  # worded from the measured effects
    return directions, [texts.get(i, "") for i in range(len(directions))]


def shift_latent(latent: torch.Tensor, directions, coefficients: list[float]) -> torch.Tensor:
    """latent + sum_i coefficients[i] * directions[i] (coefficients may be shorter than K; arrays accepted)."""
    directions = torch.as_tensor(directions, dtype=torch.float32)
    c = torch.zeros(len(directions))
    c[: len(coefficients)] = torch.as_tensor(coefficients[: len(directions)], dtype=torch.float32)
    return latent + (c[:, None] * directions).sum(0)


@torch.no_grad()
def strip_shifts(max_shift: float, columns: int = 7) -> list[float]:
    """The shift ε of each column of :func:`direction_strip`, from -max_shift to +max_shift."""
    return torch.linspace(-max_shift, max_shift, columns).tolist()


def direction_strip(backend, direction, seeds: list[int], max_shift: float, columns: int = 7) -> torch.Tensor:
    """Images (len(seeds) * columns, 3, H, W): each seed's face from -max_shift to +max_shift along ``direction``."""
    direction = torch.as_tensor(direction, dtype=torch.float32)
    steps = torch.tensor(strip_shifts(max_shift, columns))
    latents = torch.cat([backend.sample_latents(1, s) + steps[:, None] * direction[None] for s in seeds])
    return backend.render(latents)
