"""The GPU path, for the day a CUDA device is there: skipped on a machine without one (this project's machines have
none, so these have never run). They check what a CPU cannot: that a run lands on the GPU with the GPU preset's fp16
and gradient checkpointing, that the shared original stays on the CPU, and that the result comes back usable."""
from __future__ import annotations

import pytest
import torch

from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.backends.stable_diffusion import StableDiffusionBackend, tiny_pipeline
from methods.selective_amnesia.train import run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (none is lent to "
                                "this project): the GPU smoke tests wait for one")


def test_stable_diffusion_amnesia_runs_on_the_gpu_with_its_gpu_preset() -> None:
    shared = StableDiffusionBackend.from_pipeline(tiny_pipeline(resolution=32), "tiny")
    before = {k: v.clone() for k, v in shared.module.state_dict().items()}
    preset = sa.presets_for("CompVis/stable-diffusion-v1-4")["full"]
    config = sa.AmnesiaConfig.for_model("CompVis/stable-diffusion-v1-4", preset, forget="a cat", surrogate="a dog",
                                        replay_prompts=("a fish",), steps=3, batch_size=2, fisher_samples=2,
                                        samples_per_concept=2, sample_steps=2, resolution=32)
    assert config.mixed_precision == "fp16" and config.gradient_checkpointing
    result = run(config, shared)
    assert result.report["device"].startswith("cuda")
    assert result.report["memory_kind"] == "CUDA allocated" and result.report["peak_memory_mb"] > 0
    assert shared.device.type == "cpu"  # the shared instance never moved
    assert all(torch.equal(before[k], v) for k, v in shared.module.state_dict().items())
    images = result.generator.render(shared.sample_latents(2, seed=0), torch.zeros(2, dtype=torch.long))
    assert images.shape[0] == 2 and torch.isfinite(images).all()


def test_feature_unlearning_runs_on_the_gpu() -> None:
    from methods.feature_unlearning.config import FeatureUnlearningConfig
    from methods.feature_unlearning.train import run

    face = load_generator("digiface-dcgan")
    pool = face.sample_latents(64, seed=3)
    result = run(FeatureUnlearningConfig(steps=3, batch_size=8, eval_samples=16), face, pool[:32], pool[32:])
    assert result.report["device"].startswith("cuda")
    assert face.device.type == "cpu" and result.generator.device.type == "cpu"  # results come back to the CPU
