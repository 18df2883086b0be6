"""The feature in latent space: target vector, projection, threshold, the move onto the threshold, and the
no-training baseline (shifting latents at sampling time)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

from ..backends import GeneratorBackend
from .config import THRESHOLDS
from ..errors import InputError, shown

DIRECTION_FILE = "direction.safetensors"


def target_vector(positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """z_e = mean(positive latents) - mean(negative latents), latents flattened to vectors."""
    return positives.flatten(1).mean(0) - negatives.flatten(1).mean(0)


def projection(latents: torch.Tensor, z_e: torch.Tensor) -> torch.Tensor:
    """proj(z) = z . z_e / |z_e| for each latent (flattened, as the paper does for w+)."""
    return latents.flatten(1) @ (z_e / z_e.norm())


def threshold(positives: torch.Tensor, negatives: torch.Tensor, z_e: torch.Tensor, mode: str = "mean") -> float:
    """t: the mean projection of all labelled latents (the paper) or the class-means' midpoint."""
    if mode == "mean":
        return float(projection(torch.cat([positives, negatives]), z_e).mean())
    if mode == "midpoint":
        return float((projection(positives, z_e).mean() + projection(negatives, z_e).mean()) / 2)
    raise InputError(f"threshold must be one of {THRESHOLDS}, not '{shown(mode, 24)}'")


@dataclass
class FeatureDirection:
    """The feature in latent space: a unit vector and the threshold on the projection."""

    unit: torch.Tensor  # (D,) unit target vector u = z_e / |z_e|
    threshold: float

    @classmethod
    def from_labels(cls, positives: torch.Tensor, negatives: torch.Tensor, mode: str = "mean") -> "FeatureDirection":
        z_e = target_vector(positives.float(), negatives.float())
        if not torch.isfinite(z_e).all() or z_e.norm() < 1e-8:
            raise InputError("positives and negatives have the same mean latent: no feature direction to unlearn")
        return cls(unit=z_e / z_e.norm(), threshold=threshold(positives.float(), negatives.float(), z_e, mode))

    @classmethod
    def from_vector(cls, backend: GeneratorBackend, vector: Any, n: int = 1024, seed: int = 0) -> "FeatureDirection":
        """A discovered direction as the feature: u = vector/|vector|, t = mean projection of prior samples.

        The paper's "mean" threshold with prior samples standing in for the labelled ones: latents on the
        +u side of the average carry the feature.
        """
        vector = torch.as_tensor(vector, dtype=torch.float32).flatten()
        if vector.numel() != backend.latent_dim or not torch.isfinite(vector).all() or vector.norm() < 1e-8:
            raise InputError(f"a feature direction must be a finite, non-zero vector of length {backend.latent_dim}")
        unit = vector / vector.norm()
        return cls(unit=unit, threshold=float((backend.sample_latents(n, seed).flatten(1) @ unit).mean()))

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.flatten(1) @ self.unit.to(latents)

    def has_feature(self, latents: torch.Tensor) -> torch.Tensor:
        """sim(z): True where proj(z) >= t."""
        return self.project(latents) >= self.threshold

    def move_to_threshold(self, latents: torch.Tensor) -> torch.Tensor:
        """z' = z - (proj(z) - t) u: the projection of z' is exactly t, the rest of z unchanged."""
        offset = (self.project(latents) - self.threshold)[:, None] * self.unit.to(latents)[None]
        return (latents.flatten(1) - offset).reshape(latents.shape)

    def save(self, path: Path) -> None:
        save_file({"unit": self.unit.contiguous().float(), "threshold": torch.tensor([self.threshold])}, str(path))

    @classmethod
    def load(cls, path: Path) -> "FeatureDirection":
        t = load_file(str(path))
        return cls(unit=t["unit"], threshold=float(t["threshold"][0]))


def latent_shift(latents: torch.Tensor, direction: FeatureDirection) -> torch.Tensor:
    """The no-training baseline: move latents that have the feature onto the threshold at sampling time."""
    moved = direction.move_to_threshold(latents)
    mask = direction.has_feature(latents).reshape(-1, *([1] * (latents.dim() - 1)))
    return torch.where(mask, moved, latents)


class ShiftedGenerator:
    """The latent-shift baseline seen as a generator, f(latent_shift(z)), for code that only decodes and
    renders (the probe). Not a back-end: it is never trained, registered or saved."""

    def __init__(self, base: GeneratorBackend, direction: FeatureDirection) -> None:
        self.base, self.direction = base, direction
        self.latent_dim, self.latent_shape, self.image_size = base.latent_dim, base.latent_shape, base.image_size

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.base.decode(latent_shift(latents, self.direction), condition)

    def render(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.base.render(latent_shift(latents, self.direction), condition)
