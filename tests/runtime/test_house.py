"""The shape of the library: what a contributor relies on when adding a method, a back-end or a tab."""
import ast
from pathlib import Path

import numpy as np
import pytest

from methods.runtime import MetricRow, RunResult, save_run, subrange
from methods.runtime.config import ui_bounds

ROOT = Path(__file__).resolve().parents[2]
METHOD_PACKAGES = ("feature_unlearning", "selective_amnesia", "guide", "directions")


def _imports(path: Path) -> set[str]:
    """Every ``methods.*`` module a file imports (module level and inside functions), absolute names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _module_files() -> dict[str, Path]:
    files = {}
    for path in (ROOT / "methods").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = path
    return files


def test_methods_have_no_import_cycles():
    files = _module_files()
    graph = {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}
    # a package's __init__ re-exports its parts: importing a part imports the package first, which is no cycle
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [node, nxt]) if nxt in trail
                            else f"import cycle through {node} -> {nxt}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_methods_never_import_gradio_and_tabs_never_do_maths():
    for path in (ROOT / "methods").rglob("*.py"):
        assert not any(m.split(".")[0] == "gradio" for m in _imports(path)), path
    for path in (ROOT / "ui").rglob("*.py"):
        assert not any(m.split(".")[0] in ("torch", "torchvision") for m in _imports(path)), path


def test_every_method_package_has_the_same_parts():
    for name in METHOD_PACKAGES:
        folder = ROOT / "methods" / name
        assert (folder / "__main__.py").is_file(), name  # python -m methods.<name>
        assert (folder / "__init__.py").read_text().lstrip().startswith('"""'), name  # says what is where
    for name in ("feature_unlearning", "selective_amnesia", "guide"):
        assert {"config.py", "train.py", "evaluate.py"} <= {p.name for p in (ROOT / "methods" / name).glob("*.py")}, name


def test_no_sys_path_edits():
    for path in list(ROOT.glob("*/*.py")) + list(ROOT.glob("tests/**/*.py")):
        if path.parts[-2] != ".venv" and path != Path(__file__):
            assert "sys.path.insert" not in path.read_text(), path


def test_bounds_are_declared_once_and_read_by_the_ui():
    from methods.feature_unlearning import FeatureUnlearningConfig as Config

    assert ui_bounds(Config, "steps") == (5, 1000, 5)
    with pytest.raises(ValueError, match="Steps must be between 1 and 20000"):
        Config(steps=0)  # a config is checked when it is made
    assert Config(steps=20_000).steps == 20_000  # the CLI may go to the method's bound ...
    with pytest.raises(ValueError, match="Steps must be between 5 and 1000"):
        Config.from_inputs(steps=20_000)  # ... a public visitor only to the UI's
    for bad, message in [("abc", "must be a number"), (None, "must be a number"), (float("nan"), "between"), (7.5, "whole")]:
        with pytest.raises(ValueError, match=message):
            Config.from_inputs(steps=bad)
    assert Config.from_inputs(steps="300", lr="0.001").lr == 0.001

    import gradio as gr

    from ui.common import config_slider

    with gr.Blocks():
        slider = config_slider(Config, "batch_size", "Batch size")
    assert (slider.minimum, slider.maximum, slider.step, slider.value) == (4, 64, 4, Config.default("batch_size"))


def test_subrange_maps_a_part_of_a_run_onto_the_whole():
    seen = []
    part = subrange(lambda f, m: seen.append((round(f, 3), m)), 0.2, 0.6, "Fisher: ")
    part(0.0, "a")
    part(0.5, "b")
    part(2.0, "c")  # clamped
    assert seen == [(0.2, "Fisher: a"), (0.4, "Fisher: b"), (0.6, "Fisher: c")]
    assert subrange(None, 0, 1) is None


def test_save_run_returns_every_file_it_wrote(dcgan, tmp_path):
    report = {"method": "test", "settings": {"steps": 1}}
    paths = save_run(tmp_path / "run", dcgan, report, arrays={"latent.npy": np.zeros((1, 100), np.float32)},
                     extra_json={"losses.json": [1, 2]})
    assert [p.name for p in paths] == ["generator.safetensors", "config.json", "latent.npy", "losses.json", "report.json"]
    assert all(p.is_file() for p in paths)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(p.name for p in paths)
    rows = [MetricRow("P(0) on samples of 0", (0.92, 0.08)), MetricRow("time (s)", ("—", 12.5))]
    result = RunResult("test", dcgan, ["before", "after"], rows, {}, report, paths)
    assert result.table(lambda v: f"{v:.0%}" if isinstance(v, float) and v < 1 else str(v)) == [
        ["P(0) on samples of 0", "92%", "8%"], ["time (s)", "—", "12.5"]]
    assert result.portable().generator is None and result.portable().table() == result.table()


def test_every_import_of_the_library_resolves():
    """Benchmarks, scripts, tabs and tests import only what exists, including imports inside functions
    (which nothing else would catch until that line runs)."""
    import importlib

    for folder in ("benchmarks", "scripts", "ui", "tests", "methods"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in ("methods", "ui"):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                            f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}"
