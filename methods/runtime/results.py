"""The run contract: what every method's tab-facing entry point returns, and the one function that saves it.

A tab shows a :class:`RunResult` the same way whatever the method: its galleries (before/after image rows), its
metric rows (plain names, the experts' name beside), the files written, and the report. A new method returns one;
a shared capability (an attack, a preset) adds to one.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch

if TYPE_CHECKING:  # the back-ends import runtime, not the other way round
    from ..backends import GeneratorBackend

REPORT_FILE = "report.json"


@dataclass
class MetricRow:
    """One line of a result's metric table: ``values`` has one entry per column of :attr:`RunResult.columns`."""

    name: str  # plain words, what a visitor reads
    values: tuple[Any, ...]
    expert: str = ""  # the papers' name for it, for the glossary or a tooltip


@dataclass
class RunResult:
    """A finished run as a person looks at it (see the module docstring)."""

    method: str
    generator: Optional["GeneratorBackend"]  # the unlearned generator, frozen (None once it left a worker process)
    columns: list[str]  # the metric table's value columns, e.g. ["before", "after"]
    metrics: list[MetricRow]
    galleries: dict[str, dict[str, np.ndarray]]  # gallery -> row label -> uint8 images (n, H, W, C)
    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)  # what save_run wrote (the downloads)
    details: dict[str, Any] = field(default_factory=dict)  # method-specific extras (e.g. the aligned photo)
    verdict: str = ""  # one plain sentence with the judged numbers: the tab's headline

    def portable(self) -> "RunResult":
        """What a worker process sends back to the server: everything a tab shows, without the generator (its
        files are saved) or details that are not plain data (models, tensors)."""
        return replace(self, generator=None, details={k: v for k, v in self.details.items() if _plain(v)})

    def table(self, fmt: Any = None) -> list[list[Any]]:
        """The metric rows as a table: [name, *values] each, values through ``fmt`` when given."""
        return [[row.name, *(fmt(v) if fmt else v for v in row.values)] for row in self.metrics]


def other_process_result(method: str, report: dict[str, Any]) -> RunResult:
    """What an entry returns on a process other than the main one: it trained beside the main process (the same
    weights) and leaves measuring, showing and writing to it."""
    return RunResult(method, None, [], [], {}, report, verdict="")


def save_run(out_dir: Path, generator: "GeneratorBackend", report: dict[str, Any], *,
             arrays: Optional[dict[str, np.ndarray]] = None, extra_json: Optional[dict[str, Any]] = None,
             extra_files: Optional[dict[str, Any]] = None) -> list[Path]:
    """Write one run: the generator (its own format, with the report's method and settings as provenance),
    ``.npy`` arrays, extra JSON files, files written by a callable (``{name: fn(path)}``) and ``report.json``.
    Returns every path written, the generator's first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = {"method": report.get("method"), "settings": report.get("settings")}
    paths = list(generator.save(out_dir, provenance=provenance))
    for name, array in (arrays or {}).items():
        np.save(out_dir / name, array)
        paths.append(out_dir / name)
    for name, writer in (extra_files or {}).items():
        writer(out_dir / name)
        paths.append(out_dir / name)
    for name, data in (extra_json or {}).items():
        write_json(out_dir / name, data)
        paths.append(out_dir / name)
    write_json(out_dir / REPORT_FILE, report)
    return paths + [out_dir / REPORT_FILE]


def _plain(obj: Any, depth: int = 0) -> bool:
    """Plain data: numbers, text, paths, numpy arrays, and lists, dicts and dataclasses of those."""
    if depth > 6:
        return False
    if obj is None or isinstance(obj, (bool, int, float, str, Path, np.ndarray, np.generic)):
        return True
    if isinstance(obj, (list, tuple)):
        return all(_plain(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in obj.items())
    if is_dataclass(obj) and not isinstance(obj, type):
        return all(_plain(getattr(obj, f.name), depth + 1) for f in fields(obj))
    return False


DISPLAY_FILE = "result.json"


def save_display(result: RunResult, directory: Path, **extra: Any) -> list[Path]:
    """What a tab shows of a run, as small files (a precomputed example): each gallery row as one PNG strip, the
    metric rows, the verdict, the report and ``extra`` (e.g. the command that made it). Returns the paths written."""
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    galleries: dict[str, dict[str, dict[str, Any]]] = {}
    paths = []
    for g, (gallery, rows) in enumerate(result.galleries.items()):
        galleries[gallery] = {}
        for r, (row, images) in enumerate(rows.items()):
            strip = np.concatenate(list(images), axis=1)  # (H, n*W, C)
            name = f"gallery{g}-row{r}.png"
            Image.fromarray(strip[..., 0] if strip.shape[-1] == 1 else strip).save(directory / name, optimize=True)
            galleries[gallery][row] = {"file": name, "n": len(images), "channels": int(images.shape[-1])}
            paths.append(directory / name)
    write_json(directory / DISPLAY_FILE, {
        "method": result.method, "columns": result.columns, "verdict": result.verdict, "galleries": galleries,
        "metrics": [{"name": m.name, "values": list(m.values), "expert": m.expert} for m in result.metrics],
        "report": result.report, **extra})
    return paths + [directory / DISPLAY_FILE]


EXAMPLES_ROOT = Path(__file__).resolve().parents[2] / "assets" / "examples"
EXAMPLES_COMMAND = "python scripts/precompute_examples.py"


def save_example(tab: str, slug: str, result: RunResult, seconds: float, root: Path = EXAMPLES_ROOT, **extra: Any) -> Path:
    """A tab's one-click example: what the tab shows of ``result`` in ``root/<tab>/<slug>/``, with how it was made
    (the command, seed 0, ``seconds`` on this machine, ``extra`` such as the inputs and the title)."""
    import shutil

    folder = Path(root) / tab / slug
    shutil.rmtree(folder, ignore_errors=True)
    save_display(result, folder, slug=slug, command=EXAMPLES_COMMAND, seed=0, machine="2-core CPU, no GPU",
                 seconds=round(seconds, 1), **extra)
    print(f"{tab}/{slug}: {seconds:.1f} s — {result.verdict}", flush=True)
    return folder


def load_display(directory: Path) -> tuple[RunResult, dict[str, Any]]:
    """A result saved by :func:`save_display` (no generator; ``files``: the folder's files but the gallery strips,
    e.g. ``result.json`` and a shipped model), and its ``extra`` fields."""
    from PIL import Image

    directory = Path(directory)
    data = json.loads((directory / DISPLAY_FILE).read_text())
    galleries = {}
    for gallery, rows in data.pop("galleries").items():
        galleries[gallery] = {}
        for row, entry in rows.items():
            strip = np.asarray(Image.open(directory / entry["file"]))
            strip = strip[..., None] if strip.ndim == 2 else strip
            galleries[gallery][row] = np.stack(np.split(strip, entry["n"], axis=1))
    metrics = [MetricRow(m["name"], tuple(m["values"]), m["expert"]) for m in data.pop("metrics")]
    result = RunResult(data.pop("method"), None, data.pop("columns"), metrics, galleries, data.pop("report"),
                       files=sorted(p for p in directory.iterdir() if p.suffix != ".png"), verdict=data.pop("verdict"))
    return result, data


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, numpy and torch scalars to plain JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    return obj


def write_json(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(data), indent=2) + "\n")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1], (N, C, H, W) -> uint8 (N, H, W, C)."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()
