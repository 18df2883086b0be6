"""GUIDE's latent geometry in W: the average face w̄ and radius R, the UFO target, neighbours, far random latents."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backends import WSpaceBackend


@dataclass
class LatentStats:
    mean: torch.Tensor  # w̄ (1, *w_shape)
    radius: float  # R: median ‖w − w̄‖ over the generator's own w


@torch.no_grad()
def latent_stats(backend: WSpaceBackend, n: int = 2000, seed: int = 777) -> LatentStats:
    """w̄ and R from the generator's own samples."""
    w = backend.to_w(backend.sample_latents(n, seed).to(backend.device))
    mean = w.mean(0, keepdim=True)
    return LatentStats(mean, float((w - mean).flatten(1).norm(dim=1).median()))


def ufo_target(source: torch.Tensor, mean: torch.Tensor, distance: float) -> torch.Tensor:
    """w_t = w̄ − distance · (w_u − w̄)/‖w_u − w̄‖ (per row)."""
    identity = (source - mean).flatten(1)
    unit = identity / identity.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return mean - distance * unit.reshape(source.shape)


def neighbour_offsets(source: torch.Tensor, random_w: torch.Tensor, alpha_max: float, g: torch.Generator) -> torch.Tensor:
    """Δ_i = α_i (w_r,i − w_u)/‖w_r,i − w_u‖ with α_i ~ U(0, alpha_max): steps from w_u towards random faces."""
    direction = (random_w - source).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alpha = torch.rand(len(random_w), 1, generator=g).to(direction.device) * alpha_max  # drawn on the CPU: reproducible
    return (alpha * direction).reshape(random_w.shape)


def far_random_w(backend: WSpaceBackend, source: torch.Tensor, n: int, min_distance: float, g: torch.Generator) -> torch.Tensor:
    """N_g random latents, each redrawn while it falls inside the neighbourhood of w_u."""
    out = []
    while len(out) < n:
        z = torch.randn((4 * n, backend.latent_dim), generator=g).to(backend.device)
        with torch.no_grad():
            w = backend.to_w(z)
        keep = (w - source).flatten(1).norm(dim=1) >= min_distance
        out.extend(w[keep])
    return torch.stack(out[:n])
