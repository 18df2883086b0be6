"""Threads on a shared CPU: a core another process keeps busy is seen, and a run then takes one thread less."""
import subprocess
import sys
import time

import torch

from methods.runtime import device


def test_a_busy_core_is_seen_and_a_run_leaves_it_alone(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert device.busy_cores() >= 0.5  # the loop's core at least (other work only adds)
        assert device.threads_that_help() == 1
    finally:
        busy.kill()
        busy.wait()


def test_a_thread_limit_holds_against_use_all_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    before = torch.get_num_threads()
    try:
        device.limit_threads(1)
        device.use_all_cores()
        assert device.cpu_threads() == 1 and torch.get_num_threads() == 1
        device.limit_threads(None)
        device.use_all_cores()
        assert torch.get_num_threads() == 2
    finally:
        device.limit_threads(None)
        torch.set_num_threads(before)
