"""Start ``app.py`` on a free local port and stop it afterwards: the one way the tests and the benchmarks that
measure the Space from the outside launch it."""
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

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Another checkout's app runs from its own code: this checkout's editable install would otherwise win the import.
_BOOT = ("import sys, runpy; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')];"
         "runpy.run_path('app.py', run_name='__main__')")  # -c puts the working folder first on the path


class AppDidNotStart(RuntimeError):
    """The app ended, or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log_path: Path, root: Path = PROJECT_ROOT, timeout_s: float = 300.0,
                **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """(url, process) of the app started from ``root`` with ``env`` added, once it answers HTTP; its
    output goes to ``log_path`` (a file: an unread pipe fills up and blocks the server)."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", **env}
    command = [sys.executable, "app.py"] if Path(root).resolve() == PROJECT_ROOT else [sys.executable, "-c", _BOOT]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        app = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    if app.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        raise AppDidNotStart(f"the app did not start ({log_path}):\n" + log_path.read_text()[-3000:]) from None
                    time.sleep(0.05)
            yield url, app
        finally:
            app.terminate()
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
