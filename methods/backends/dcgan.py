"""The DCGAN trained on DigiFace1M faces that ships inside the ``gan-face-generate`` package.

64x64 RGB faces from z in R^100; 3.6 M parameters; works with no network.
"""
from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any, Optional

import torch
from torch import nn

from .base import GeneratorBackend, register


@register("digiface-dcgan")
class DigiFaceDCGAN(GeneratorBackend):
    latent_dim = 100
    image_size = 64

    @classmethod
    def build_module(cls, nz: int = 100, ngf: int = 64, nc: int = 3, **_: Any) -> nn.Module:
        from gan_face_generate.models import Generator

        return Generator(0, nc, nz, ngf)

    @classmethod
    def pretrained(cls) -> "DigiFaceDCGAN":
        return _pretrained_dcgan()

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.module(latents.reshape(latents.shape[0], self.latent_dim, 1, 1))


@functools.lru_cache(maxsize=1)
def _pretrained_dcgan() -> DigiFaceDCGAN:
    # Loaded once per process and frozen: shared read-only by every user and method run.
    weights = files("gan_face_generate").joinpath("weights.tar")
    with weights.open("rb") as fh:
        state = torch.load(fh, map_location="cpu", weights_only=True)["netG_state_dict"]
    module = DigiFaceDCGAN.build_module()
    module.load_state_dict(state)
    return DigiFaceDCGAN(module, {"nz": 100, "ngf": 64, "nc": 3}).frozen()
