"""A convolutional VAE of 64-px faces with an N(0, I) prior, trained by ``scripts/train_face_vae.py`` and shipped in
``assets/face-vae/``: Feature Unlearning's second kind of generator (the paper's VAE half).

Its training images are samples of the shipped DigiFace DCGAN (no real-face dataset ships with a package here): it is
distilled from the GAN, so it draws the GAN's kind of faces, blurrier, through a different generator — an encoder, a
decoder and a prior instead of a discriminator. Its decoder's first layer carries a Gaussian fitted to the encoder's
codes of the training faces (see the script, at its temperature 0.7), so z ~ N(0, I) draws from where those codes lie.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file
from torch import nn

from .base import GeneratorBackend, register

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "face-vae"
WEIGHTS = "vae.safetensors"


class FaceVAE(nn.Module):
    """Encoder 64→32→16→8→4 (strided convolutions) to a diagonal Gaussian over z (``latent`` wide); decoder: a linear
    layer to 4×4 features, then transposed convolutions back to 64 px in [-1, 1]. The Gaussian decoder's noise scale
    is the batch's own reconstruction error (the optimal σ of a calibrated decoder, Rybkin et al. 2021), so the
    reconstruction and the KL term balance without a hand-set weight."""

    def __init__(self, latent: int = 100, width: int = 32) -> None:
        super().__init__()
        self.latent, self.width = latent, width
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 8 * w, 4, 2, 1), nn.BatchNorm2d(8 * w), nn.LeakyReLU(0.2), nn.Flatten())
        self.to_mu, self.to_logvar = nn.Linear(8 * w * 16, latent), nn.Linear(8 * w * 16, latent)
        self.project = nn.Linear(latent, 8 * w * 16)  # the decoder's first layer: a linear map of z (SeFa reads it)
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(8 * w), nn.ReLU(),
            nn.ConvTranspose2d(8 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, 3, 4, 2, 1), nn.Tanh())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.project(z.flatten(1)).reshape(len(z), 8 * self.width, 4, 4))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)

    def negative_elbo(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-image −ELBO (nats) for images in [-1, 1], with its reconstruction and KL parts."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        x_hat = self.decode(z)
        squared = (x - x_hat).pow(2)
        sigma2 = squared.mean().detach().clamp_min(1e-4)  # the optimal σ² for this batch
        recon = (squared / (2 * sigma2) + 0.5 * torch.log(2 * torch.pi * sigma2)).flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return recon + kl, recon, kl


@register("digiface-vae")
class DigiFaceVAE(GeneratorBackend):
    """The face VAE's decoder as a generator: z ~ N(0, I) (100-d) → a 64-px face."""

    latent_dim = 100
    image_size = 64

    @classmethod
    def build_module(cls, latent: int = 100, width: int = 32, **_: Any) -> nn.Module:
        return FaceVAE(latent, width)

    @classmethod
    def pretrained(cls) -> "DigiFaceVAE":
        return _pretrained_vae()

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.module.decode(latents.reshape(len(latents), self.latent_dim))

    def first_layer_matrix(self) -> torch.Tensor:
        """The decoder's first layer (``project``, a linear map of z): SeFa's A (the encoder is not the generator)."""
        return self.module.project.weight.detach()


@functools.lru_cache(maxsize=1)
def _pretrained_vae() -> DigiFaceVAE:
    path = ASSETS / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python scripts/train_face_vae.py")
    module = DigiFaceVAE.build_module()
    module.load_state_dict(load_file(str(path)))
    return DigiFaceVAE(module, {"latent": 100, "width": 32}).frozen()
