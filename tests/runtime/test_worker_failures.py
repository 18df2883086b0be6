"""What a visitor sees when a run goes wrong in the worker: their mistake in plain words; our bug, a crash or a run
over the time limit as one line, with the run's folder removed and the traceback in the log only."""
import pytest

from methods.errors import InputError
from ui.common import user_errors
from ui.worker import Job, TrainingQueue, WorkerFailed
from tests.runtime import worker_jobs


def _run(queue: TrainingQueue, fn, out_dir):
    return queue.run("s", Job(fn, (), {"out_dir": out_dir}, out_dir), lambda f, m: None, lambda: False, estimate_s=5)


@pytest.fixture(scope="module")
def queue():
    q = TrainingQueue(max_run_s=3.0)
    yield q
    q.shutdown()


def test_a_bug_in_the_run_is_not_shown_as_the_visitors_mistake(queue, tmp_path):
    out_dir = tmp_path / "bug"
    shown = user_errors(lambda: _run(queue, worker_jobs.library_bug, out_dir), outputs=("status", "verdict"), status="status")
    message, _ = shown()
    assert message.startswith("⚠️ The run stopped") and "server log" in message
    assert "broadcast" not in message  # the library's words stay in the log
    assert not out_dir.exists()  # a run that did not finish leaves no folder behind


def test_a_refusal_is_shown_as_it_is(queue, tmp_path):
    shown = user_errors(lambda: _run(queue, worker_jobs.refuse, tmp_path / "r"), outputs=("status", "verdict"), status="status")
    message, _ = shown()
    assert message == "⚠️ choose at most 10 000 steps"


def test_a_crashed_worker_is_reported_and_the_next_run_gets_a_fresh_one(queue, tmp_path):
    with pytest.raises(WorkerFailed, match="ended without an answer") as failed:
        _run(queue, worker_jobs.crash, tmp_path / "crash")
    assert not isinstance(failed.value, InputError) and not (tmp_path / "crash").exists()
    # the next run, over the time limit, gets its own worker, is stopped and cleaned up
    with pytest.raises(InputError, match="took longer than the Space allows") as over:
        _run(queue, worker_jobs.sleep, tmp_path / "slow")
    assert not (tmp_path / "slow").exists() and "command line" in str(over.value)
