"""Small conditional generators of scikit-learn's handwritten digits (8x8, ten classes), trained by
``scripts/train_digits.py`` and shipped in ``assets/digits/`` (the offline models of the Amnesia tab).
"""
from __future__ import annotations

import copy

import functools
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file
from torch import nn

from .base import GeneratorBackend, register
from ..errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "digits"
DIGITS = [str(i) for i in range(10)]


class ConditionalVAE(nn.Module):
    """An MLP conditional VAE (the official MNIST cVAE's shape, scaled to 8x8: 74-256-128-z8)."""

    def __init__(self, pixels: int = 64, classes: int = 10, hidden: int = 256, latent: int = 8) -> None:
        super().__init__()
        self.classes, self.latent = classes, latent
        self.encoder = nn.Sequential(nn.Linear(pixels + classes, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.to_mu, self.to_logvar = nn.Linear(hidden // 2, latent), nn.Linear(hidden // 2, latent)
        self.decoder = nn.Sequential(nn.Linear(latent + classes, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, hidden), nn.ReLU(),
                                     nn.Linear(hidden, pixels))

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """Class indices (N,) -> one-hot; an already one-hot float input passes through (vmap needs that)."""
        if labels.dtype.is_floating_point:
            return labels
        return nn.functional.one_hot(labels.long(), self.classes).float()

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([x.flatten(1), self.one_hot(labels)], 1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, self.one_hot(labels)], 1))

    def negative_elbo(self, x: torch.Tensor, labels: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Per-sample -ELBO for x in [0, 1] (N, 64): Bernoulli reconstruction + KL to N(0, I)."""
        mu, logvar = self.encode(x, labels)
        eps = torch.randn_like(mu) if noise is None else noise
        z = mu + eps * (0.5 * logvar).exp()
        recon = nn.functional.binary_cross_entropy_with_logits(self.decode_logits(z, labels), x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return recon + kl


@register("digits-cvae")
class DigitsCVAE(GeneratorBackend):
    latent_dim = 8
    image_size = 8
    conditions = DIGITS

    @classmethod
    def build_module(cls, **kwargs: Any) -> nn.Module:
        return ConditionalVAE(**{k: v for k, v in kwargs.items() if k in ("pixels", "classes", "hidden", "latent")})

    @classmethod
    def pretrained(cls) -> "DigitsCVAE":
        return _pretrained_cvae()

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        if condition is None:
            raise InputError("digits-cvae is conditional: give a digit (0-9) for every latent")
        probs = torch.sigmoid(self.module.decode_logits(latents.flatten(1), condition))
        return (probs * 2 - 1).reshape(-1, 1, 8, 8)


def _load_shipped(cls: type[GeneratorBackend], filename: str, command: str) -> GeneratorBackend:
    """A frozen back-end from its shipped ``assets/digits`` checkpoint."""
    path = ASSETS / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run {command}")
    module = cls.build_module()
    module.load_state_dict(load_file(str(path)))
    return cls(module, {}).frozen()


@functools.lru_cache(maxsize=1)
def _pretrained_cvae() -> DigitsCVAE:
    return _load_shipped(DigitsCVAE, "cvae.safetensors", "python scripts/train_digits.py")


UNET_CONFIG = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64),
                   down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                   norm_num_groups=8, num_class_embeds=10)
TRAIN_TIMESTEPS = 1000


@register("digits-ddpm")
class DigitsDDPM(GeneratorBackend):
    """A class-conditional DDPM (diffusers UNet2DModel, 0.65 M parameters) on 8x8 digits.

    The latent is the initial noise x_T (1, 8, 8); decoding runs deterministic DDIM (eta = 0) in
    ``sampling_steps`` steps, so a latent and a class always give the same digit.
    """

    latent_dim = 64
    image_size = 8
    conditions = DIGITS
    sampling_steps = 50

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    @classmethod
    def build_module(cls, **_: Any) -> nn.Module:
        from diffusers import UNet2DModel

        return UNet2DModel(**UNET_CONFIG)

    @classmethod
    def pretrained(cls) -> "DigitsDDPM":
        return _pretrained_ddpm()

    def with_sampling_steps(self, steps: int) -> "DigitsDDPM":
        """This back-end decoding with ``steps`` DDIM steps: a view on the same (read-only) weights."""
        view = copy.copy(self)
        view.sampling_steps = int(steps)
        return view

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        from diffusers import DDIMScheduler

        if condition is None:
            raise InputError("digits-ddpm is conditional: give a digit (0-9) for every latent")
        scheduler = DDIMScheduler(num_train_timesteps=TRAIN_TIMESTEPS)
        scheduler.set_timesteps(self.sampling_steps)
        x = latents.reshape(-1, 1, 8, 8)
        for t in scheduler.timesteps:
            x = scheduler.step(self.module(x, t, class_labels=condition).sample, t, x).prev_sample
        return x.clamp(-1, 1)


@functools.lru_cache(maxsize=1)
def _pretrained_ddpm() -> DigitsDDPM:
    return _load_shipped(DigitsDDPM, "ddpm.safetensors", "python scripts/train_digits.py --models ddpm")
