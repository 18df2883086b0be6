"""Feature Unlearning's objective: L = α (L_unlearn + L_percep) + L_recon on a batch of random latents."""
from __future__ import annotations

import torch

from ..backends import GeneratorBackend
from ..image_metrics import ms_ssim_similarity
from .direction import FeatureDirection, latent_shift


def unlearning_loss(
    student: GeneratorBackend,
    teacher: GeneratorBackend,
    latents: torch.Tensor,
    direction: FeatureDirection,
    alpha: float,
    msssim_mode: str = "native",
) -> tuple[torch.Tensor, dict[str, float]]:
    """g(z) = f(z) where proj(z) < t (L_recon, L1); g(z) = f(z') where proj(z) >= t (L_unlearn, L1, and
    L_percep, 1 - MS-SSIM), z' = z moved onto the threshold. Returns the loss and its parts."""
    sim = direction.has_feature(latents).float()
    with torch.no_grad():
        # f(z') where z has the feature, f(z) elsewhere, in one pass: the frozen teacher (eval mode) decodes each latent
        # on its own, so this equals decoding both batches and choosing per row, at half the teacher's cost.
        target = teacher.decode(latent_shift(latents, direction))
    out = student.decode(latents)
    l1 = (out - target).abs().flatten(1).mean(1)
    loss_recon = ((1 - sim) * l1).mean()
    loss_unlearn = (sim * l1).mean()
    if sim.any():
        pos = sim.bool()
        msssim = ms_ssim_similarity(out[pos].float(), target[pos].float(), msssim_mode)
        loss_percep = (1 - msssim).sum() / len(sim)
    else:
        loss_percep = out.new_zeros(())
    loss = alpha * (loss_unlearn + loss_percep) + loss_recon
    parts = {"recon": float(loss_recon.detach()), "unlearn": float(loss_unlearn.detach()), "percep": float(loss_percep.detach())}
    return loss, parts
