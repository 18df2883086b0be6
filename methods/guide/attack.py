"""Recovery attacks on GUIDE: the attacker holds the unlearned generator and the photo, and inverts the photo (and each
other view) again, keeping for each image the latent whose render matches it best by the inversion's own similarity
(the attacker has no face-recognition judge). dlib judges the result: recovered when the render of the best latent is
the same person as the image (distance < 0.6). The same attack on the original generator is the calibration: if it
cannot find the person there, it means nothing here.

- re-inversion: the method's own inversion (encoder start + W refinement) plus restarts from perturbed starts. The
  robust mode trains against it (:func:`in_loop_finder`), so after a robust run its figure is a training fit.
- held-out re-inversion: other starts, another schedule and z as well as W (:func:`heldout_latents`); never used
  inside a training, so it is the one a robust run's verdict reports."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..judges.faces import SAME_PERSON, face_descriptors, identity_distance
from ..runtime import AttackReport, CancelFn, ProgressFn, subrange
from .inversion import Inversion, InversionConfig, invert, load_encoder, to_tensor
from .train import FindPerson

RESTART_NOISE = 0.5  # std of the perturbation of the encoder's z for each restart (z ~ N(0, I) has std 1)
HELDOUT_RANDOM_STARTS, HELDOUT_SEED = 2, 31_337


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


def heldout_latents(backend: WSpaceBackend, images: np.ndarray, steps: int, seed: int = HELDOUT_SEED,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> tuple[torch.Tensor, list[float]]:
    """The held-out attack's best latent per image: starts and an optimiser the robust training never saw — W from
    the average latent (z = 0) and from two random z at a higher, cosine-decayed learning rate with a looser
    residual prior, and z alone from the encoder's guess; the best render by SSIM."""
    target = to_tensor(images)
    n = len(images)
    with torch.no_grad():
        z_encoder = load_encoder()(target)
    g = torch.Generator().manual_seed(seed)
    w_starts = torch.cat([torch.zeros_like(z_encoder)] + [torch.randn(z_encoder.shape, generator=g) for _ in range(HELDOUT_RANDOM_STARTS)])
    w_config = InversionConfig(steps=steps, lr=0.1, schedule="cosine", residual_weight=0.5)
    z_config = InversionConfig(steps=steps, lr=0.05, schedule="cosine", space="z")
    in_w = invert(backend, target.repeat(1 + HELDOUT_RANDOM_STARTS, 1, 1, 1), w_config, subrange(progress, 0, 0.75), cancel, z_start=w_starts)
    in_z = invert(backend, target, z_config, subrange(progress, 0.75, 1), cancel, z_start=z_encoder)
    w = torch.cat([in_w.w, in_z.w])
    ssim = torch.tensor(in_w.ssim + in_z.ssim).reshape(-1, n)
    pick = ssim.argmax(0) * n + torch.arange(n)
    return w[pick], ssim.max(0).values.tolist()


def in_loop_finder(images: np.ndarray, steps: int, restarts: int = 1, seed: int = 0) -> FindPerson:
    """The robust mode's attack: :func:`reinvert` into the current model, dlib says which found latents still draw the
    person (its figures are a training fit: the run trains against this attack)."""
    photos = face_descriptors(images)

    def find(model: WSpaceBackend) -> tuple[torch.Tensor, torch.Tensor, dict]:
        started = time.perf_counter()
        w, _ = reinvert(model, images, steps, restarts, seed)
        with torch.no_grad():
            distance = identity_distance(photos, face_descriptors(model.render_w(w)))
        drawn = np.nan_to_num(distance, nan=np.inf) < SAME_PERSON
        return w, torch.from_numpy(drawn), {"recovered": float(drawn.mean()), "seconds": round(time.perf_counter() - started, 1)}

    return find


ATTACKS = {
    "re-inversion": ("invert the photo and each view again into the generator (the method's own inversion: encoder "
                     "start, W, Adam 0.05) with perturbed restarts; keep the latent whose face matches the image best (SSIM)"),
    "held-out re-inversion": ("a stronger inversion the robust training never used: W from the average latent and from "
                              f"{HELDOUT_RANDOM_STARTS} random starts (Adam 0.1, cosine schedule, looser residual prior) and z "
                              "alone from the encoder; keep the latent whose face matches the image best (SSIM)"),
}


def reinversion_attack(original: WSpaceBackend, unlearned: WSpaceBackend, images: np.ndarray, steps: int,
                       restarts: int = 1, original_inversion: Optional[Inversion] = None, seed: int = 0,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                       heldout: bool = False) -> tuple[AttackReport, dict[str, np.ndarray]]:
    """Re-invert ``images`` (uint8 (N, 64, 64, 3): the photo first, then its other views) into both generators.

    ``heldout``: the held-out attack (:func:`heldout_latents`), else the method's own inversion with ``restarts``
    (:func:`reinvert`; ``original_inversion``, the run's own inversion of the same images into the original, is then
    its first start there, already done). The same attack on the original is the calibration. Returns the report and
    the latents ({"original_latents.npy", "unlearned_latents.npy"}: (N, D) float32)."""
    started = time.perf_counter()
    if heldout:
        find = lambda g, p: heldout_latents(g, images, steps, progress=p, cancel=cancel)  # noqa: E731
    else:
        find = lambda g, p: reinvert(g, images, steps, restarts, seed, p, cancel)  # noqa: E731
    if original_inversion is not None and not heldout:
        original_w = original_inversion.w
    else:
        original_w, _ = find(original, subrange(progress, 0, 0.45))
    unlearned_w, _ = find(unlearned, subrange(progress, 0.45, 0.9))
    photos = face_descriptors(images)
    with torch.no_grad():
        distances = {name: identity_distance(photos, face_descriptors(g.render_w(w)))
                     for name, g, w in (("original", original, original_w), ("unlearned", unlearned, unlearned_w))}
    recovered = {k: float(np.mean(np.nan_to_num(d, nan=np.inf) < SAME_PERSON)) for k, d in distances.items()}
    name = "held-out re-inversion" if heldout else "re-inversion"
    budget = ({"inversion_steps": steps, "starts_per_image": 2 + HELDOUT_RANDOM_STARTS} if heldout else
              {"inversion_steps": steps, "starts_per_image": 1 + restarts, "restart_noise": RESTART_NOISE})
    report = AttackReport(
        name=name, objective=ATTACKS[name], budget=budget,
        judge=f"dlib's face descriptor, distance < {SAME_PERSON} = the same person",
        recovered_original=recovered["original"], recovered_unlearned=recovered["unlearned"], n=len(images),
        seconds=round(time.perf_counter() - started, 1),
        extra={"original_distance": [_num(x) for x in distances["original"]],
               "unlearned_distance": [_num(x) for x in distances["unlearned"]]})
    flat = lambda w: w.flatten(1).cpu().numpy().astype(np.float32)  # noqa: E731
    return report, {"original_latents.npy": flat(original_w), "unlearned_latents.npy": flat(unlearned_w)}


def _num(x: float) -> Optional[float]:
    return None if not np.isfinite(x) else round(float(x), 4)
