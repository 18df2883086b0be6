"""The ZeroGPU path as far as a CPU allows: Hugging Face's ``spaces`` package is not shadowed by this project, a run goes
through its ``GPU`` decorator in the server's process when ZeroGPU is there, and stays in a worker everywhere else."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from ui import worker
from ui.worker import Job, TrainingQueue

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_in_the_project_is_called_spaces() -> None:
    """``import spaces`` must reach Hugging Face's package (ZeroGPU's decorator), never a folder of this project."""
    assert not (ROOT / "spaces").exists() and not (ROOT / "spaces.py").exists()
    spec = importlib.util.find_spec("spaces")
    assert spec is None or ROOT not in Path(spec.origin or "").parents


@pytest.fixture
def fake_spaces(monkeypatch):
    """A stand-in for Hugging Face's package: its ``GPU(duration=...)`` decorator, recording what it was given."""
    calls = []

    def gpu(duration=60):
        def decorate(fn):
            def wrapped(*args, **kwargs):
                calls.append({"duration": duration, "fn": fn.__name__})
                return fn(*args, **kwargs)
            return wrapped
        return decorate

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    return calls


def test_on_zero_gpu_a_run_goes_through_the_gpu_decorator_in_this_process(monkeypatch, fake_spaces) -> None:
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    queue = TrainingQueue()
    try:
        messages = []
        answer = queue.run("visitor", Job(_square, (7,)), lambda f, m: messages.append(m), lambda: False, estimate_s=400)
    finally:
        queue.shutdown()
    assert answer == 49
    assert fake_spaces == [{"duration": 800, "fn": "run_here"}]  # the GPU is lent for the run's own time limit
    assert any("ZeroGPU" in m for m in messages)


def test_without_zero_gpu_the_package_alone_changes_nothing(monkeypatch, fake_spaces) -> None:
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert worker.zero_gpu() is None
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert worker.zero_gpu() is sys.modules["spaces"]
    monkeypatch.setitem(sys.modules, "spaces", None)  # ZeroGPU announced but the package missing: the worker path
    assert worker.zero_gpu() is None


def _square(x: int, progress=None, cancel=None) -> int:
    return x * x


def test_a_runs_time_limit_follows_its_own_estimate() -> None:
    """The Space's limit for a CPU run; twice a longer run's own estimate (Stable Diffusion on a GPU)."""
    queue = TrainingQueue(max_run_s=600)
    assert queue.limit_s(60) == 600 and queue.limit_s(900) == 1800
    queue.shutdown()


def test_the_gpu_estimate_is_the_benchmarks_count() -> None:
    """AmnesiaConfig.gpu_seconds reads its constants from benchmarks/results/sd_gpu_estimate.json's counts."""
    import json

    from methods.selective_amnesia.config import ASSUMED_GPU_TFLOPS, AmnesiaConfig

    estimate = json.loads((ROOT / "benchmarks/results/sd_gpu_estimate.json").read_text())
    rate = f"{ASSUMED_GPU_TFLOPS:g} TFLOP/s"
    for name, row in estimate["runs"].items():
        config = AmnesiaConfig.for_model("CompVis/stable-diffusion-v1-4", train_method=row["train_method"],
                                         gradient_checkpointing=row["gradient_checkpointing"])
        assert abs(config.gpu_seconds() / 60 - row["run_minutes_at"][rate]) <= 0.1 * row["run_minutes_at"][rate], name
