"""The back-end protocol: registry, sampling, save/load, wrong checkpoints, and adding a back-end."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from methods.backends import BackendError, GeneratorBackend, load_generator, load_weights_into, register
from methods.backends import base as backends_base
from methods.sample import sample_images


def test_dcgan_is_real_and_deterministic(dcgan):
    z = dcgan.sample_latents(8, seed=3)
    assert z.shape == (8, 100) and torch.equal(z, dcgan.sample_latents(8, seed=3))
    x = dcgan.render(z)
    assert x.shape == (8, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.2  # real faces, not a constant image
    assert sum(p.numel() for p in dcgan.module.parameters()) == pytest.approx(3.58e6, rel=0.02)
    assert not any(p.requires_grad for p in dcgan.module.parameters())


def test_trainable_copy_never_touches_the_shared_model(dcgan):
    before = dcgan.render(dcgan.sample_latents(4, 0))
    copy = dcgan.trainable_copy()
    with torch.no_grad():
        for p in copy.module.parameters():
            p.add_(0.1)
    assert torch.equal(dcgan.render(dcgan.sample_latents(4, 0)), before)
    assert not torch.allclose(copy.render(copy.sample_latents(4, 0)), before)


def test_save_load_round_trip_and_wrong_checkpoints(dcgan, tmp_path):
    copy = dcgan.trainable_copy()
    with torch.no_grad():
        next(copy.module.parameters()).mul_(1.05)
    copy.save(tmp_path / "g", provenance={"method": "test"})
    loaded = load_generator(tmp_path / "g")
    z = dcgan.sample_latents(4, 1)
    assert torch.allclose(loaded.render(z), copy.render(z), atol=1e-6)
    assert json.loads((tmp_path / "g" / "config.json").read_text())["backend"] == "digiface-dcgan"
    assert torch.allclose(load_weights_into(dcgan, tmp_path / "g" / "generator.safetensors").render(z), copy.render(z), atol=1e-6)

    (tmp_path / "junk.safetensors").write_bytes(b"this is not a checkpoint")
    with pytest.raises(BackendError, match="not a safetensors file"):
        load_weights_into(dcgan, tmp_path / "junk.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(BackendError, match="not a 'digiface-dcgan' checkpoint"):
        load_weights_into(dcgan, tmp_path / "other.safetensors")
    poisoned = {k: v.clone() for k, v in dcgan.module.state_dict().items()}
    next(v for v in poisoned.values() if v.is_floating_point())[0] = float("nan")
    save_file({k: v.contiguous() for k, v in poisoned.items()}, str(tmp_path / "nan.safetensors"))
    with pytest.raises(BackendError, match="NaN or infinite"):
        load_weights_into(dcgan, tmp_path / "nan.safetensors")
    with pytest.raises(BackendError, match="neither a registered generator"):
        load_generator(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="not a generator saved by this suite"):
        load_generator(tmp_path / "empty")


def test_a_new_backend_is_one_class(tmp_path):
    @register("test-linear")
    class LinearBackend(GeneratorBackend):
        latent_dim = 4
        image_size = 2

        @classmethod
        def build_module(cls, **_):
            return nn.Linear(4, 12)

        @classmethod
        def pretrained(cls):
            torch.manual_seed(0)
            return cls(cls.build_module(), {}).frozen()

        def decode(self, latents, condition=None):
            return torch.tanh(self.module(latents)).reshape(-1, 3, 2, 2)

    try:
        g = load_generator("test-linear")
        images = sample_images(g, g.sample_latents(5, 0).numpy())
        assert images.shape == (5, 2, 2, 3) and images.dtype.name == "uint8"
        g.save(tmp_path / "lin")
        assert torch.equal(load_generator(tmp_path / "lin").render(torch.ones(1, 4)), g.render(torch.ones(1, 4)))
    finally:
        backends_base._REGISTRY.pop("test-linear")


def test_sample_images_rejects_wrong_width(dcgan):
    with pytest.raises(ValueError, match=r"\(n, 100 \(z\) or 8192 \(W\)\)"):
        sample_images(dcgan, torch.zeros(2, 300).numpy())
    # W latents (the first block's output) are recognised by their width
    z = dcgan.sample_latents(2, 0)
    via_w = sample_images(dcgan, dcgan.to_w(z).flatten(1).numpy())
    assert np.array_equal(via_w, sample_images(dcgan, z.numpy()))
