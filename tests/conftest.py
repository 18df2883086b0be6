import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

# pytest-xdist runs the suite in one process per core (pytest.ini): one intra-op thread each, inherited by the apps,
# workers and CLIs the tests start, so the processes never fight over a core (set before torch is imported).
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# A fresh cache per test run (the tests must compute it, not find it), shared by the run's xdist processes: an entry
# is computed under a lock (methods/runtime/cache.py), so the second process to need it waits and reads it.
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _run:
    _cache = Path(tempfile.gettempdir()) / f"studio-cache-{_run}"
    _cache.mkdir(exist_ok=True)
    os.environ["UNLEARNING_STUDIO_CACHE"] = str(_cache)
else:
    os.environ["UNLEARNING_STUDIO_CACHE"] = tempfile.mkdtemp(prefix="studio-cache-")
# each test process its own run folders (a test counts the folders a refused run leaves), removed when it ends
os.environ["UNLEARNING_STUDIO_RUNS"] = tempfile.mkdtemp(prefix="studio-runs-")
import atexit  # noqa: E402
import shutil  # noqa: E402

atexit.register(shutil.rmtree, os.environ["UNLEARNING_STUDIO_RUNS"], ignore_errors=True)
if not _run:  # one process: its cache goes with it (under xdist the controller removes the shared one, below)
    atexit.register(shutil.rmtree, os.environ["UNLEARNING_STUDIO_CACHE"], ignore_errors=True)
# stand-by workers do not fill the caches ahead (a minute of CPU at a cold cache); tests/runtime checks warm_cache itself
os.environ["UNLEARNING_STUDIO_WARM_CACHES"] = "0"
# nor load every method's models before each run: a worker loads what its run uses (tests/runtime/test_worker.py preloads)
os.environ["UNLEARNING_STUDIO_PRELOAD"] = "0"

import numpy as np
import pytest
import torch

from methods.backends import load_generator


def pytest_configure(config):
    """Under xdist, the controller names the run (its workers' shared cache folder is named after it) so that it can
    remove that folder when every worker has ended."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    import uuid

    config.option.testrunuid = config.option.testrunuid or uuid.uuid4().hex
    config.add_cleanup(lambda: shutil.rmtree(Path(tempfile.gettempdir()) / f"studio-cache-{config.option.testrunuid}",
                                             ignore_errors=True))


@pytest.fixture(scope="session")
def dcgan():
    return load_generator("digiface-dcgan")


@pytest.fixture(scope="session")
def mouth_labels(dcgan):
    """A real labelling of a real feature: open mouths by dlib landmarks on 640 DCGAN samples."""
    from methods.judges.faces import MOUTH_OPEN_THRESHOLD, mouth_opening

    pool = dcgan.sample_latents(640, seed=4242)
    opening = mouth_opening(dcgan.render(pool))
    found = np.isfinite(opening)
    is_open = torch.from_numpy(opening >= MOUTH_OPEN_THRESHOLD)
    found_t = torch.from_numpy(found)
    return pool[found_t & is_open], pool[found_t & ~is_open]
