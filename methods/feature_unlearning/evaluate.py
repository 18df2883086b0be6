"""Feature Unlearning's image-space evaluation on latents the run never saw, for the method and the
latent-shift baseline."""
from __future__ import annotations

from typing import Any

import torch

from ..backends import GeneratorBackend
from ..image_metrics import ssim_per_image
from .config import HELDOUT_SEED
from .direction import FeatureDirection


@torch.no_grad()
def evaluate(
    original: GeneratorBackend, unlearned: GeneratorBackend, direction: FeatureDirection, latents: torch.Tensor
) -> dict[str, Any]:
    """- ``ssim_kept``: SSIM(g(z), f(z)) where the projection says "no feature" (preservation);
    - ``l1_to_target``: |g(z) - f(z')| where it says "feature" (how well the move was learnt);
    - the same two for the baseline f(latent_shift(z)), whose preservation is exact by construction.
    """
    has = direction.has_feature(latents)
    f_z = original.render(latents)
    g_z = unlearned.render(latents)
    f_target = original.render(direction.move_to_threshold(latents))
    baseline = torch.where(has[:, None, None, None], f_target, f_z)
    ssim_g = ssim_per_image(g_z, f_z)
    return {
        "n": len(latents),
        "share_with_feature_by_projection": float(has.float().mean()),
        "unlearned": {
            "ssim_kept": float(ssim_g[~has].mean()) if (~has).any() else None,
            "l1_to_target": float((g_z - f_target)[has].abs().mean()) if has.any() else None,
            "ssim_to_target": float(ssim_per_image(g_z[has], f_target[has]).mean()) if has.any() else None,
        },
        "original_ssim_to_target": float(ssim_per_image(f_z[has], f_target[has]).mean()) if has.any() else None,
        "latent_shift_baseline": {
            "ssim_kept": float(ssim_per_image(baseline[~has], f_z[~has]).mean()) if (~has).any() else None,
            "l1_to_target": 0.0,
            "ssim_to_target": 1.0,
        },
    }


def heldout_rows(backend: GeneratorBackend, direction: FeatureDirection, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """n held-out latents the projection says have the feature, and n it says do not (fixed seed)."""
    pool = backend.sample_latents(max(16 * n, 64), HELDOUT_SEED)
    has = direction.has_feature(pool)
    return pool[has][:n], pool[~has][:n]
