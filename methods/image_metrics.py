"""Differentiable image similarities shared by the methods (MS-SSIM, SSIM) at the suite's sizes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim
from .errors import InputError, shown

# pytorch-msssim asserts min(H, W) > (win_size - 1) * 16 for its four down-samplings, so the
# standard 11-px window needs > 160 px. Two ways to run it on 64-px faces:
#   "native":   64 px, 5 scales, standard weights, a 3-px window (the largest that fits);
#   "upsample": bilinear up-sampling to 176 px, then the standard 11-px window.
# benchmarks/feature_unlearning.py measures both (step time and result); "native" is the default.
MSSSIM_MODES = ("native", "upsample")


def ms_ssim_similarity(x: torch.Tensor, y: torch.Tensor, mode: str = "native") -> torch.Tensor:
    """Per-image MS-SSIM between images in [-1, 1] (returns shape (N,))."""
    x01, y01 = (x + 1) / 2, (y + 1) / 2
    if mode == "upsample":
        size = max(176, min(x.shape[-2:]))
        x01 = F.interpolate(x01, size=size, mode="bilinear", align_corners=False)
        y01 = F.interpolate(y01, size=size, mode="bilinear", align_corners=False)
        return ms_ssim(x01, y01, data_range=1.0, size_average=False)
    if mode == "native":
        win = 3 if min(x.shape[-2:]) <= 160 else 11
        return ms_ssim(x01, y01, data_range=1.0, size_average=False, win_size=win)
    raise InputError(f"unknown MS-SSIM mode '{shown(mode, 24)}' (choose from {MSSSIM_MODES})")


@torch.no_grad()
def ssim_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Standard SSIM (11-px Gaussian window) per image, inputs in [-1, 1], at their own size."""
    return ssim((x + 1) / 2, (y + 1) / 2, data_range=1.0, size_average=False)
