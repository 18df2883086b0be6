"""Start ``app.py`` on a free local port for a benchmark, and stop it afterwards (shared by the benchmarks that
measure the Space from the outside)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

# Start the app from ROOT's own code: the editable install of this checkout would otherwise win the import.
BOOT = ("import sys, runpy; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')];"
        "runpy.run_path('app.py', run_name='__main__')")  # -c puts the working folder (ROOT) first on the path


@contextlib.contextmanager
def running_app(root: Path, log_path: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """(url, process) of the app started from ``root`` with ``env`` added; its output goes to ``log_path``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "HF_HUB_OFFLINE": "1", **env}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        app = subprocess.Popen([sys.executable, "-c", BOOT], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    if app.poll() is not None:
                        raise RuntimeError(f"the app stopped: see {log_path}") from None
                    time.sleep(0.25)
            yield url, app
        finally:
            app.terminate()
            app.wait(timeout=30)
