"""The direction matrix A of Voynov & Babenko: K directions in a D-dimensional latent space."""
from __future__ import annotations

import torch
from torch import nn
from ..errors import InputError

VARIANTS = ("orthonormal", "unit")


class DirectionMatrix(nn.Module):
    """K learnable directions (rows of :meth:`directions`, shape (K, D)).

    - ``orthonormal``: the first K columns of expm(S - S^T), orthonormal by construction;
    - ``unit``: free columns, each normalised to unit length.
    """

    def __init__(self, latent_dim: int, k: int, variant: str = "orthonormal", seed: int = 0) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"variant must be one of {VARIANTS}")
        if not 1 <= k <= latent_dim:
            raise InputError(f"K must be between 1 and the latent dimension {latent_dim}")
        self.latent_dim, self.k, self.variant = latent_dim, k, variant
        g = torch.Generator().manual_seed(seed)
        if variant == "orthonormal":
            self.param = nn.Parameter(0.1 * torch.randn(latent_dim, latent_dim, generator=g))
        else:
            self.param = nn.Parameter(torch.randn(latent_dim, k, generator=g))

    def directions(self) -> torch.Tensor:
        """(K, D): one unit direction a row."""
        if self.variant == "orthonormal":
            q = torch.linalg.matrix_exp(self.param - self.param.T)
            return q[:, : self.k].T
        return nn.functional.normalize(self.param, dim=0).T

    def shift(self, index: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
        """A (epsilon e_k) for a batch: (B,) indices and magnitudes -> (B, D) latent shifts."""
        return epsilon[:, None] * self.directions()[index]
