"""The launched app, shared by the browser tests and the hostile-visitor tests."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
MODELS_DIR = Path(tempfile.gettempdir()) / f"studio-models-{os.getpid()}"  # the operator's models folder for the app under test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(request):
    """The real app (``python app.py``) on a free local port, for the module's tests; its log: tests/screenshots/app-<module>.log."""
    port = _free_port()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)  # the operator's models folder (the SD test puts a tiny pipeline there)
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "STUDIO_MODELS_DIR": str(MODELS_DIR)}
    started = time.perf_counter()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_path = SHOTS / f"app-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    log = open(log_path, "w")  # a file, not a pipe: an unread pipe fills up and blocks the server
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(log_path.read_text()[-3000:])
                time.sleep(0.25)
        print(f"app start: {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


