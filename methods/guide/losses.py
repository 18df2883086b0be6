"""GUIDE's loss terms: perceptual (LPIPS, or MS-SSIM offline), identity (facenet, when its weights exist),
and L_local = λ_L2 ‖F_u − F_t‖² + λ_per Per + λ_id ID."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..backends import BackendError
from ..image_metrics import ms_ssim_similarity
from ..runtime.cache import download_worth_trying, remember_download_failed
from .config import GuideConfig


ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet weights, which LPIPS's backbone loads
FACENET_FILE = "20180402-114759-vggface2.pt"  # facenet-pytorch's VGGFace2 weights (torch hub's checkpoints folder)


@functools.lru_cache(maxsize=1)
def lpips_model():
    """LPIPS (AlexNet) if torchvision's AlexNet weights can be had (cached or downloadable), else None. A failed
    download is remembered for a day, so an offline machine does not try again at every start."""
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    if not checkpoint.is_file() and not download_worth_trying("alexnet"):
        return None
    try:
        import lpips

        return lpips.LPIPS(net="alex", verbose=False).eval().requires_grad_(False)
    except Exception:  # offline: the backbone download fails (URLError/OSError/RuntimeError)
        if not checkpoint.is_file():
            remember_download_failed("alexnet")
        return None


@functools.lru_cache(maxsize=1)
def identity_model():
    """facenet-pytorch's InceptionResnetV1 (VGGFace2) if its weights can be had, else None (offline; a failed download
    is remembered for a day, as LPIPS's)."""
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / FACENET_FILE
    if not checkpoint.is_file() and not download_worth_trying("facenet-vggface2"):
        return None
    try:
        from facenet_pytorch import InceptionResnetV1

        return InceptionResnetV1(pretrained="vggface2").eval().requires_grad_(False)
    except Exception:
        if not checkpoint.is_file():
            remember_download_failed("facenet-vggface2")
        return None


@functools.lru_cache(maxsize=4)
def _on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` where the images are: the cached instance itself if it is there, else a copy (the cached one is shared
    by every run in the process and never moved)."""
    return model if next(model.parameters()).device == torch.device(device) else copy.deepcopy(model).to(device)


def perceptual_name(config: GuideConfig) -> str:
    if config.perceptual == "msssim":
        return "MS-SSIM"
    if lpips_model() is not None:
        return "LPIPS (AlexNet)"
    if config.perceptual == "lpips":
        raise BackendError("LPIPS was asked for, but its AlexNet backbone weights are not available here (no network)")
    return "MS-SSIM"


def perceptual_distance(x: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """Per-image perceptual distance for images in [-1, 1]."""
    if name.startswith("LPIPS"):
        return _on_device(lpips_model(), x.device)(x, y).flatten()
    return 1 - ms_ssim_similarity(x, y, mode="native")


def identity_distance_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 − cosine similarity of facenet embeddings (per image)."""
    model = _on_device(identity_model(), x.device)
    size = lambda t: F.interpolate(t, size=160, mode="bilinear", align_corners=False)  # noqa: E731
    return 1 - F.cosine_similarity(model(size(x)), model(size(y)), dim=1)


def local_loss(x_u: torch.Tensor, feats_u: list[torch.Tensor], x_t: torch.Tensor, feats_t: list[torch.Tensor],
               config: GuideConfig, perceptual: str, use_id: bool) -> torch.Tensor:
    """Per-pair L_local = λ_L2 ‖F_u − F_t‖² + λ_per Per(x_u, x_t) [+ λ_id ID(x_u, x_t)]; shape (N,)."""
    l2 = sum((fu - ft).pow(2).flatten(1).mean(1) for fu, ft in zip(feats_u, feats_t)) / len(feats_u)
    loss = config.lambda_l2 * l2 + config.lambda_per * perceptual_distance(x_u, x_t, perceptual)
    if use_id:
        loss = loss + config.lambda_id * identity_distance_loss(x_u, x_t)
    return loss
