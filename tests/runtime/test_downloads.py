"""Weights that cannot be downloaded here are asked for once, not at every worker start."""
import os
from pathlib import Path

import pytest
import torch

from methods.guide import losses
from methods.runtime import cache


def test_a_failed_download_is_not_tried_again_at_the_next_start(tmp_path, monkeypatch):
    if (Path(torch.hub.get_dir()) / "checkpoints" / losses.ALEXNET_FILE).is_file():
        pytest.skip("AlexNet's weights are on this machine: nothing to download")
    import lpips

    tries = []

    def unreachable(*args, **kwargs):
        tries.append(1)
        raise OSError("no network")

    monkeypatch.setattr(cache, "CACHE_ROOT", tmp_path)
    monkeypatch.setattr(lpips, "LPIPS", unreachable)
    assert losses.lpips_model.__wrapped__() is None and len(tries) == 1
    assert losses.lpips_model.__wrapped__() is None and len(tries) == 1  # a new process would not try either
    marker = tmp_path / "unreachable" / "alexnet"
    old = marker.stat().st_mtime - cache.DOWNLOAD_RETRY_S - 1
    os.utime(marker, (old, old))  # a day later it is worth another try
    assert losses.lpips_model.__wrapped__() is None and len(tries) == 2
