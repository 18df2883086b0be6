"""Invert an aligned face photo into the face generator's richer latent space W.

w = project(to_w_pre(z) + r): an encoder (trained on the generator's own samples by ``scripts/train_encoder.py``) gives
z; Adam then refines z and a residual r in W (8192-d for the DCGAN) against MSE + MS-SSIM to the photo.
The prior keeps w near the generator's manifold: a Gaussian penalty on z and an L2 penalty on r (the part
of w that no z reaches), and the projection keeps w a valid activation map. ``space="z"`` optimises z only
(the ablation in ``benchmarks/guide_ablations.py``, which also measures the residual penalty's effect).

CLI (``methods/invert.py``): ``python -m methods.invert --image FACE.jpg --out W.npy`` writes a (1, 8192) float32 array.
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..backends import BackendError, WSpaceBackend, load_generator
from ..image_metrics import ms_ssim_similarity, ssim_per_image
from ..judges.faces import face_descriptors, identity_distance
from ..runtime import CancelFn, ProgressFn, check_cancel, report_step, use_all_cores
from ..runtime.config import BoundedConfig, bounded, choice
from .face_input import FaceInputError, align_face
from ..errors import InputError

ENCODER_FILE = Path(__file__).resolve().parents[2] / "assets" / "identity" / "encoder.safetensors"


class FaceEncoder(nn.Module):
    """64-px face -> z (100): four stride-2 convolutions and a linear head (1.2 M parameters)."""

    def __init__(self, latent_dim: int = 100, width: int = 32) -> None:
        super().__init__()
        layers, channels = [], 3
        for out in (width, width * 2, width * 4, width * 8):
            layers += [nn.Conv2d(channels, out, 4, 2, 1), nn.GroupNorm(8, out), nn.LeakyReLU(0.2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * 16, latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))


@functools.lru_cache(maxsize=1)
def load_encoder() -> FaceEncoder:
    """The shipped encoder (frozen, shared)."""
    encoder = FaceEncoder()
    encoder.load_state_dict(load_file(str(ENCODER_FILE)))
    return encoder.eval().requires_grad_(False)


@dataclass
class InversionConfig(BoundedConfig):
    steps: int = bounded(300, 1, 5000, "Inversion steps")
    lr: float = bounded(0.05, 1e-5, 1.0, "Inversion learning rate")
    residual_weight: float = 1.0  # mean r^2: keeps w near to_w(z); 0.1 put other views of a face ~R apart
    prior_weight: float = 1e-3  # mean z^2: a Gaussian prior on z
    msssim_weight: float = 0.5
    schedule: str = choice("constant", ("constant", "cosine"), "Learning-rate schedule")  # cosine: to 0 at the last step
    space: str = choice("w", ("w", "z"), "Inversion space")  # "z": z only (an ablation: see benchmarks/guide_ablations.py)
    seed: int = 0


@dataclass
class Inversion:
    w: torch.Tensor  # (N, *w_shape)
    z: torch.Tensor  # (N, latent_dim): the on-manifold part
    reconstruction: torch.Tensor  # (N, 3, 64, 64) in [-1, 1]
    ssim: list[float]
    seconds: float
    config: dict[str, Any]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    return torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float() / 127.5 - 1


def invert(backend: WSpaceBackend, images: np.ndarray | torch.Tensor, config: Optional[InversionConfig] = None,
           progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
           z_start: Optional[torch.Tensor] = None) -> Inversion:
    """Invert aligned faces (uint8 (N, 64, 64, 3) or tensors in [-1, 1]) into W; each image independently.
    ``z_start``: each image's starting z (default: the encoder's guess; an attack restarts from elsewhere)."""
    config = config or InversionConfig()
    if not isinstance(backend, WSpaceBackend):
        raise InputError(f"'{backend.name}' has no W latent space to invert into")
    use_all_cores()
    started = time.perf_counter()
    target = images if isinstance(images, torch.Tensor) else to_tensor(images)
    torch.manual_seed(config.seed)
    with torch.no_grad():
        z0 = load_encoder()(target) if z_start is None else z_start.float()
    z = z0.clone().requires_grad_(True)
    residual = torch.zeros((len(target), *backend.w_shape), requires_grad=config.space == "w")
    optimizer = torch.optim.Adam([z, residual] if config.space == "w" else [z], lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps) if config.schedule == "cosine" else None
    for step in range(config.steps):
        check_cancel(cancel)
        out = backend.synthesize(backend.project_w(backend.to_w(z, pre_activation=True) + residual))
        loss = (F.mse_loss(out, target) + config.msssim_weight * (1 - ms_ssim_similarity(out, target, mode="upsample")).mean()
                + config.prior_weight * z.pow(2).mean() + config.residual_weight * residual.pow(2).mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        report_step(progress, step, config.steps, 25, f"inverting: step {step + 1}/{config.steps}")
    with torch.no_grad():
        w = backend.project_w(backend.to_w(z, pre_activation=True) + residual)
        reconstruction = backend.synthesize(w)
    return Inversion(w.detach(), z.detach(), reconstruction, [float(s) for s in ssim_per_image(reconstruction, target)],
                     time.perf_counter() - started, asdict(config))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m methods.invert", description="Invert a face photo into the face generator's W space.")
    p.add_argument("--image", type=Path, required=True, help="a photo with a face (JPEG/PNG)")
    p.add_argument("--out", type=Path, required=True, help="output .npy: (1, D) float32, D = 8192 for the DCGAN's W")
    p.add_argument("--generator", default="digiface-dcgan")
    p.add_argument("--steps", type=int, default=InversionConfig.default("steps"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        backend = load_generator(args.generator)
        face = align_face(args.image)
        result = invert(backend, face.image, InversionConfig(steps=args.steps, seed=args.seed))
    except (BackendError, FaceInputError, ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, result.w.flatten(1).numpy().astype(np.float32))
    distance = identity_distance(face_descriptors(face.image[None]), face_descriptors(result.reconstruction))[0]
    print(f"wrote {args.out} {tuple(result.w.flatten(1).shape)}: SSIM {result.ssim[0]:.3f}, dlib distance to the photo "
          f"{distance:.3f} (< 0.6 = same person), {result.seconds:.1f} s" + "".join(f"; note: {n}" for n in face.notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
