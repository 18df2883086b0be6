"""GUIDE's target: what the forgotten person's latent draws afterwards.

"ufo" is the paper's: w̄ − d·(w_u − w̄)/‖w_u − w̄‖, a point past the average face on the far side from the person. On
this 64-px generator that point is a dark, odd face. "nobody" (the default) is one of the generator's own random
faces: the one nearest to the person in W among those that dlib's detector finds, whose brightness is typical of
random faces, and that dlib reads as someone else by a margin. It is a face of nobody in particular by construction,
and being near in W it asks the generator to change as little as possible."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..backends import WSpaceBackend
from ..judges.faces import SAME_PERSON, face_descriptors, hog_detects, identity_distance
from ..runtime.cache import CACHE_ROOT, cached_tensors, weights_key

POOL_SEED, POOL_SIZE = 9090, 64  # candidate faces (not the evaluation's random faces: those are measured)
BRIGHTNESS_RANGE = (0.25, 0.75)  # quantiles of the pool's mean brightness a target must fall between
DISTANCE_MARGIN = 0.1  # a target is at least SAME_PERSON + this from the person (dlib distance)


@dataclass
class TargetChoice:
    w: torch.Tensor  # (1, *w_shape)
    kind: str
    facts: dict  # how it was chosen, for the report


def brightness(images: torch.Tensor) -> np.ndarray:
    """Mean brightness in [0, 1] of images in [-1, 1] (N, 3, H, W)."""
    return ((images.float().clamp(-1, 1) + 1) / 2).flatten(1).mean(1).cpu().numpy()


@torch.no_grad()
def candidate_pool(backend: WSpaceBackend) -> dict[str, torch.Tensor]:
    """The pool's latents in W, dlib descriptors, HOG detections and brightness (cached per generator's weights)."""
    w = backend.to_w(backend.sample_latents(POOL_SIZE, POOL_SEED).to(backend.device))
    path = CACHE_ROOT / "guide" / f"{backend.name}-{weights_key(backend.module)}-targets-{POOL_SIZE}-{POOL_SEED}.safetensors"

    def compute() -> dict[str, torch.Tensor]:
        images = backend.render_w(w)
        return {"descriptors": torch.from_numpy(face_descriptors(images)),
                "detected": torch.from_numpy(hog_detects(images)), "brightness": torch.from_numpy(brightness(images))}

    return {"w": w.cpu(), **cached_tensors(path, compute)}


@torch.no_grad()
def nobody_target(backend: WSpaceBackend, source_w: torch.Tensor) -> TargetChoice:
    """The pool face nearest to ``source_w`` in W that HOG detects, with typical brightness, at dlib distance of at
    least SAME_PERSON + DISTANCE_MARGIN from the person's render."""
    pool = candidate_pool(backend)
    person = face_descriptors(backend.render_w(source_w.to(backend.device)))
    distance = identity_distance(np.repeat(person, POOL_SIZE, 0), pool["descriptors"].numpy())
    light = pool["brightness"].numpy()
    low, high = np.quantile(light, BRIGHTNESS_RANGE)
    ok = (pool["detected"].numpy() & (light >= low) & (light <= high)
          & (np.nan_to_num(distance, nan=0.0) >= SAME_PERSON + DISTANCE_MARGIN))
    if not np.isfinite(person).all():  # the person's own render is no face dlib can read: any typical face will do
        ok = pool["detected"].numpy() & (light >= low) & (light <= high)
    if not ok.any():
        ok = pool["detected"].numpy()
    w_dist = (pool["w"] - source_w.cpu().reshape(1, *backend.w_shape)).flatten(1).norm(dim=1).numpy()
    pick = int(np.where(ok, w_dist, np.inf).argmin())
    return TargetChoice(pool["w"][pick : pick + 1].to(source_w.device), "nobody", {
        "pool_index": pick, "pool_seed": POOL_SEED, "dlib_distance_to_person": _num(distance[pick]),
        "w_distance_to_person": round(float(w_dist[pick]), 3), "brightness": round(float(light[pick]), 3),
        "pool_brightness_range": [round(float(low), 3), round(float(high), 3)], "candidates": int(ok.sum())})


def _num(x: float):
    return None if not np.isfinite(x) else round(float(x), 4)
