"""Runs in worker processes: one at a time, one per session, cancelled at once, and nothing left behind."""
import threading
import time

import psutil
import pytest

from methods import selective_amnesia as sa
from methods.backends import GeneratorRef
from methods.runtime import Cancelled
from ui.worker import Job, TrainingQueue


def _workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ui.worker" in " ".join(p.cmdline())]


def _long_job(tmp_path, name: str) -> Job:
    config = sa.AmnesiaConfig.for_model("digits-cvae", steps=100_000, fisher_samples=1000)  # minutes: only cancelled
    out_dir = tmp_path / name
    return Job(sa.forget, (GeneratorRef("digits-cvae"), config), {"out_dir": out_dir}, out_dir)


def test_one_run_per_session_in_order_and_cancel_ends_the_worker_at_once(tmp_path):
    others = {p.pid for p in _workers()}  # e.g. the tabs' own queue's stand-by, from earlier tests
    queue = TrainingQueue(max_waiting=1)
    flags = {"a": threading.Event(), "b": threading.Event()}
    seen: dict[str, list[str]] = {"a": [], "b": []}
    outcome: dict[str, BaseException] = {}

    def run(session: str) -> None:
        try:
            queue.run(session, _long_job(tmp_path, session), lambda f, m: seen[session].append(m), flags[session].is_set,
                      estimate_s=120)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            outcome[session] = exc

    first = threading.Thread(target=run, args=("a",))
    first.start()
    deadline = time.monotonic() + 60
    while not any("Fisher" in m or "step" in m for m in seen["a"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any("Fisher" in m or "step" in m for m in seen["a"]), seen["a"][-3:]  # the worker is training
    assert len(_workers()) >= 1

    with pytest.raises(ValueError, match="already have a run queued or running"):
        queue.run("a", _long_job(tmp_path, "a2"), lambda f, m: None, lambda: False)

    second = threading.Thread(target=run, args=("b",))
    second.start()
    time.sleep(1.5)
    assert any("1 run ahead of yours" in m for m in seen["b"]), seen["b"]
    with pytest.raises(ValueError, match="The Space is busy"):  # one running + one waiting = the line is full
        queue.run("c", _long_job(tmp_path, "c"), lambda f, m: None, lambda: False)

    flags["a"].set()
    first.join(timeout=60)  # the run has minutes of steps left: only a cancel that ends the worker mid-step returns here
    assert not first.is_alive()
    assert isinstance(outcome["a"], Cancelled)
    assert not (tmp_path / "a").exists()  # a cancelled run leaves no folder

    deadline = time.monotonic() + 30
    while not any("step" in m or "Fisher" in m for m in seen["b"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any("step" in m or "Fisher" in m for m in seen["b"])  # the next in line got the slot
    flags["b"].set()
    second.join(timeout=10)
    assert isinstance(outcome["b"], Cancelled)
    queue.shutdown()
    deadline = time.monotonic() + 10
    while [p for p in _workers() if p.pid not in others] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in _workers() if p.pid not in others]  # no worker outlives its run (the stand-by was shut down)


def test_a_run_returns_what_the_tab_shows(tmp_path, monkeypatch):
    """Through a stand-by that preloads what the registry lists, as a Space's does (the other tests' workers do not)."""
    monkeypatch.setenv("UNLEARNING_STUDIO_PRELOAD", "1")
    queue = TrainingQueue()
    config = sa.AmnesiaConfig.for_model("digits-cvae", steps=800, lr=1e-3, fisher_samples=500)
    out_dir = tmp_path / "run"
    result = queue.run("s", Job(sa.forget, (GeneratorRef("digits-cvae"), config), {"out_dir": out_dir}, out_dir),
                       lambda f, m: None, lambda: False, estimate_s=10)
    queue.shutdown()
    assert result.generator is None and result.galleries["after"] and result.metrics
    assert all(path.exists() for path in result.files)  # the worker wrote the downloads
    assert result.report["after"]["forgotten_probability"] < result.report["before"]["forgotten_probability"] - 0.3


def test_a_refusal_inside_the_run_comes_back_in_plain_words(tmp_path):
    queue = TrainingQueue()
    config = sa.AmnesiaConfig.for_model("digits-cvae", forget="zebra", steps=5)
    with pytest.raises(ValueError, match="'zebra' is not a concept"):
        queue.run("s", Job(sa.forget, (GeneratorRef("digits-cvae"), config), {"out_dir": tmp_path / "r"}, tmp_path / "r"),
                  lambda f, m: None, lambda: False)
    queue.shutdown()
    assert not (tmp_path / "r").exists()


def test_a_job_reaches_the_worker_without_gradio_types():
    """Gradio's file paths are a str subclass; pickled as such, the worker imports Gradio to read them (seconds)."""
    import collections
    import pickle

    from gradio.utils import NamedString

    job = Job(sa.forget, (GeneratorRef("digits-cvae"), NamedString("/tmp/photo.png")),
              {"extra_photos": [NamedString("/tmp/b.png")], "options": {"path": NamedString("/tmp/c.png")}})
    data = pickle.dumps(job)
    assert b"gradio" not in data
    again = pickle.loads(data)
    assert again.args[1] == "/tmp/photo.png" and type(again.args[1]) is str
    assert again.kwargs["extra_photos"] == ["/tmp/b.png"] and again.kwargs["options"]["path"] == "/tmp/c.png"
    size = collections.namedtuple("Size", "width height")(64, 64)  # a named tuple is passed on as it is
    assert Job(sa.forget, (size,)).args[0] is size
