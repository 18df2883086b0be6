"""The natural recovery attack on GUIDE: the attacker holds the unlearned generator and the photo, and simply inverts
the photo (and each other view) again — the same inversion the method used (encoder start + W refinement, same
steps) plus restarts from perturbed starts, keeping for each image the latent whose render matches it best by the
inversion's own similarity (the attacker has no face-recognition judge). dlib judges the result: recovered when the
render of the best latent is the same person as the image (distance < 0.6). The same attack on the original
generator is the calibration: if it cannot find the person there, it means nothing here."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..judges.faces import SAME_PERSON, face_descriptors, identity_distance
from ..runtime import AttackReport, CancelFn, ProgressFn, subrange
from .inversion import Inversion, InversionConfig, invert, load_encoder, to_tensor

RESTART_NOISE = 0.5  # std of the perturbation of the encoder's z for each restart (z ~ N(0, I) has std 1)


def reinvert(backend: WSpaceBackend, images: np.ndarray, steps: int, restarts: int = 1, seed: int = 0,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> tuple[torch.Tensor, list[float]]:
    """The attacker's best latent for each image (N, *w_shape) and its SSIM to the image: ``1 + restarts`` inversions
    each (the encoder's start, then perturbed starts), all in one batch; the best by SSIM."""
    target = to_tensor(images)
    with torch.no_grad():
        z0 = load_encoder()(target)
    g = torch.Generator().manual_seed(seed)
    starts = torch.cat([z0] + [z0 + RESTART_NOISE * torch.randn(z0.shape, generator=g) for _ in range(restarts)])
    found = invert(backend, target.repeat(1 + restarts, 1, 1, 1), InversionConfig(steps=steps), progress, cancel, z_start=starts)
    ssim = torch.tensor(found.ssim).reshape(1 + restarts, len(images))
    best = ssim.argmax(0)
    pick = best * len(images) + torch.arange(len(images))
    return found.w[pick], ssim.max(0).values.tolist()


def reinversion_attack(original: WSpaceBackend, unlearned: WSpaceBackend, images: np.ndarray, steps: int,
                       restarts: int = 1, original_inversion: Optional[Inversion] = None, seed: int = 0,
                       progress: Optional[ProgressFn] = None,
                       cancel: Optional[CancelFn] = None) -> tuple[AttackReport, dict[str, np.ndarray]]:
    """Re-invert ``images`` (uint8 (N, 64, 64, 3): the photo first, then its other views) into both generators.

    ``original_inversion``: the run's own inversion of the same images into the original (the attack's first start,
    already done); restarts are then spent on the unlearned generator only. Returns the report and the latents
    ({"original_latents.npy", "unlearned_latents.npy"}: (N, D) float32)."""
    started = time.perf_counter()
    if original_inversion is not None:
        original_w = original_inversion.w
    else:
        original_w, _ = reinvert(original, images, steps, restarts, seed, subrange(progress, 0, 0.4), cancel)
    unlearned_w, _ = reinvert(unlearned, images, steps, restarts, seed, subrange(progress, 0.4 if original_inversion is None else 0, 0.9), cancel)
    photos = face_descriptors(images)
    with torch.no_grad():
        distances = {name: identity_distance(photos, face_descriptors(g.render_w(w)))
                     for name, g, w in (("original", original, original_w), ("unlearned", unlearned, unlearned_w))}
    recovered = {k: float(np.mean(np.nan_to_num(d, nan=np.inf) < SAME_PERSON)) for k, d in distances.items()}
    report = AttackReport(
        name="re-inversion", objective="invert the photo and each view again into the generator (the method's own "
        "inversion); keep the latent whose face matches the image best (SSIM)",
        budget={"inversion_steps": steps, "starts_per_image": 1 + restarts, "restart_noise": RESTART_NOISE},
        judge=f"dlib's face descriptor, distance < {SAME_PERSON} = the same person",
        recovered_original=recovered["original"], recovered_unlearned=recovered["unlearned"], n=len(images),
        seconds=round(time.perf_counter() - started, 1),
        extra={"original_distance": [_num(x) for x in distances["original"]],
               "unlearned_distance": [_num(x) for x in distances["unlearned"]]})
    flat = lambda w: w.flatten(1).cpu().numpy().astype(np.float32)  # noqa: E731
    return report, {"original_latents.npy": flat(original_w), "unlearned_latents.npy": flat(unlearned_w)}


def _num(x: float) -> Optional[float]:
    return None if not np.isfinite(x) else round(float(x), 4)
