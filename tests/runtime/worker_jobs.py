"""Job functions for the worker's failure paths (imported by the worker process by name, as a method's entry is)."""
import os
import time
from pathlib import Path

from methods.errors import InputError


def library_bug(out_dir: Path, progress=None, cancel=None):
    out_dir.mkdir(parents=True)
    raise ValueError("operands could not be broadcast together")  # what numpy or accelerate would raise


def refuse(out_dir: Path, progress=None, cancel=None):
    raise InputError("choose at most 10 000 steps")


def crash(out_dir: Path, progress=None, cancel=None):
    out_dir.mkdir(parents=True)
    os._exit(3)  # as when the kernel ends the process (out of memory)


def sleep(out_dir: Path, progress=None, cancel=None):
    out_dir.mkdir(parents=True)
    progress(0.1, "sleeping")
    time.sleep(120)
