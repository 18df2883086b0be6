"""The DCGAN trained on DigiFace1M faces that ships inside the ``gan-face-generate`` package.

64x64 RGB faces from z in R^100; 3.6 M parameters; works with no network.
"""
from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any, Optional

import torch
from torch import nn

from .base import WSpaceBackend, register


@register("digiface-dcgan")
class DigiFaceDCGAN(WSpaceBackend):
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

    # --- the richer latent space W (used by GUIDE) ----------------------------------------
    # W = the first block's output (ConvTranspose + BatchNorm + ReLU, 512 x 4 x 4 = 8192-d), the analogue of a
    # mapping network's w; the rest of the network is the "synthesis" GUIDE fine-tunes. Measured: the mean
    # of these activations renders an average face, while the mean of the pre-activations (= z = 0)
    # renders a brown texture (benchmarks/guide_ablations.py) — so the average face, UFO targets and
    # neighbours live after the ReLU.
    w_shape = (512, 4, 4)
    FEATURE_LAYERS = (5, 8)  # ReLU outputs at 8x8 (256 ch) and 16x16 (128 ch): GUIDE's intermediate features

    def to_w(self, latents: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """z (N, 100) -> w (N, 512, 4, 4); ``pre_activation``: before the ReLU (for inversion)."""
        pre = self.module.main[:2](latents.reshape(latents.shape[0], self.latent_dim, 1, 1))
        return pre if pre_activation else self.project_w(pre)

    @staticmethod
    def project_w(values: torch.Tensor) -> torch.Tensor:
        """Onto the set of valid w (non-negative activations)."""
        return torch.relu(values)

    def synthesize(self, w: torch.Tensor, return_features: bool = False, module: Optional[nn.Module] = None):
        """w (N, 512, 4, 4) -> images in [-1, 1] [and the intermediate features], through ``module`` (default own)."""
        layers = (module if module is not None else self.module).main
        h, features = w, []
        for index in range(3, len(layers)):
            h = layers[index](h)
            if index in self.FEATURE_LAYERS:
                features.append(h)
        return (h, features) if return_features else h

    def synthesis_parameter_names(self) -> list[str]:
        """The parameters after W (what GUIDE fine-tunes; the z -> W map stays fixed like a mapping network)."""
        return [k for k, _ in self.module.named_parameters() if not k.startswith(("main.0.", "main.1."))]


@functools.lru_cache(maxsize=1)
def _pretrained_dcgan() -> DigiFaceDCGAN:
    # Loaded once per process and frozen: shared read-only by every user and method run.
    weights = files("gan_face_generate").joinpath("weights.tar")
    with weights.open("rb") as fh:
        state = torch.load(fh, map_location="cpu", weights_only=True)["netG_state_dict"]
    module = DigiFaceDCGAN.build_module()
    module.load_state_dict(state)
    return DigiFaceDCGAN(module, {"nz": 100, "ngf": 64, "nc": 3}).frozen()
