"""Run a command-line entry point the way ``python -m`` would, inside the test process."""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import subprocess
import traceback


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` through the module's own ``main(argv)`` in this process: the same parsing, exit code,
    stdout and stderr, without an interpreter's (and torch's, and the models') start-up for every call. An exception
    the command does not handle comes back as Python's would: its traceback on stderr and exit code 1. The suite keeps
    real ``python -m`` runs of ``methods.sample`` and ``methods.uce`` (the interpreter's path to any ``main``)."""
    spec = importlib.util.find_spec(module)
    entry = importlib.import_module(module + ".__main__" if spec and spec.submodule_search_locations else module)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = entry.main(list(args)) or 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
        except Exception:  # noqa: BLE001 - what the interpreter would print for an unhandled error
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())
