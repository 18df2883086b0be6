"""The launched app, shared by the browser tests and the hostile-visitor tests."""
import os
import tempfile
from pathlib import Path

import pytest

from ui.launch import AppDidNotStart, running_app

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
MODELS_DIR = Path(tempfile.gettempdir()) / f"studio-models-{os.getpid()}"  # the operator's models folder for the app under test


@pytest.fixture(scope="module")
def app_url(request):
    """The real app (``python app.py``) on a free local port, for the module's tests; its log: tests/screenshots/app-<module>.log."""
    MODELS_DIR.mkdir(parents=True, exist_ok=True)  # the operator's models folder (the SD test puts a tiny pipeline there)
    log_path = SHOTS / f"app-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    try:
        with running_app(log_path, STUDIO_MODELS_DIR=str(MODELS_DIR)) as (url, _):
            yield url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))


