"""Several processes (the path a multi-GPU run takes), shown on this CPU with two: every fine-tuning loop keeps the same
weights on every process, and a loop whose loss has no randomness of its own trains to the one-process weights."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from methods.backends import load_generator

JOB = Path(__file__).with_name("processes_job.py")
LOOPS = ("feature_unlearning", "guide", "selective_amnesia", "voynov", "esd")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("processes")
    one = subprocess.run([sys.executable, str(JOB), str(out)], capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(JOB), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    return out


@pytest.mark.parametrize("loop", LOOPS)
def test_every_process_ends_with_the_same_weights(runs: Path, loop: str) -> None:
    ranks = [(runs / f"{loop}-2-rank{r}.txt").read_text() for r in (0, 1)]
    assert ranks[0] == ranks[1]
    # the run's own check agrees, and the report says how many processes trained
    report = json.loads((runs / f"{loop}-2.json").read_text())
    assert report["weights_identical_on_every_process"] is True
    assert report["num_processes"] == 2


@pytest.mark.parametrize("loop", ["feature_unlearning", "guide"])
def test_two_processes_train_to_the_one_process_weights(runs: Path, loop: str) -> None:
    """The same global batch split in two, gradients averaged: the one-process step, up to rounding. (Selective
    Amnesia's loss draws its own noise on each process and Voynov's reconstructor normalises each slice by its own
    batch statistics, so those two are only statistically the same run.)"""
    one, two = load_file(runs / f"{loop}-1.safetensors"), load_file(runs / f"{loop}-2.safetensors")
    start = load_generator("digiface-dcgan").module.state_dict()
    moved = max((one[k].float() - start[k].float()).abs().max().item() for k in one)
    apart = max((one[k].float() - two[k].float()).abs().max().item() for k in one)
    assert moved > 1e-4  # the steps changed the weights
    assert apart < 0.05 * moved, f"two processes ended {apart:.2e} from one process (training moved {moved:.2e})"
