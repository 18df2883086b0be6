"""GUIDE's evaluation with dlib's face descriptor, which no loss uses or imitates: is the person forgotten
(ID, ID_others), and is everyone else still themselves (preservation)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..backends import WSpaceBackend, load_generator
from ..image_metrics import ssim_per_image
from ..judges.faces import SAME_PERSON, face_descriptors, hog_detects, identity_distance
from ..runtime.cache import CACHE_ROOT, cached_tensors, weights_key
from .target import brightness

RANDOM_SEED = 4321  # the random faces every evaluation compares (fixed: the same people before and after)


@dataclass
class EvaluationReference:
    """What every evaluation against one original compares with, computed once (dlib costs ~0.1 s a face):
    the latents and the original's descriptors of the photo, the source, the other images and random faces."""

    source_w: torch.Tensor
    photo: np.ndarray  # descriptor (1, 128)
    source: np.ndarray
    other_names: list[str]
    other_w: Optional[torch.Tensor]
    others: Optional[np.ndarray]
    random_w: torch.Tensor
    random_images: torch.Tensor
    random: np.ndarray


@torch.no_grad()
def random_faces_descriptors(original: WSpaceBackend, random_images: torch.Tensor, n_random: int, seed: int) -> np.ndarray:
    """dlib's descriptors of the original's random faces at ``seed``: the same for every run on this generator, so
    cached on disk by its weights (they cost ~0.1 s a face, a tenth of a quick run)."""
    path = CACHE_ROOT / "guide" / f"{original.name}-{weights_key(original.module)}-random-{n_random}-{seed}.safetensors"
    compute = lambda: {"descriptors": torch.from_numpy(face_descriptors(random_images))}  # noqa: E731
    return cached_tensors(path, compute)["descriptors"].numpy()


def warm_cache(generator: str = "digiface-dcgan") -> None:
    """Fill the random faces' cache for every preset's size (a stand-by worker calls this while it waits)."""
    from .config import PRESETS

    original = load_generator(generator)
    for n_random in sorted({p.options["n_random"] for p in PRESETS.values()}):
        random_w = original.to_w(original.sample_latents(n_random, RANDOM_SEED).to(original.device))
        random_faces_descriptors(original, original.render_w(random_w), n_random, RANDOM_SEED)


@torch.no_grad()
def evaluation_reference(original: WSpaceBackend, source_w: torch.Tensor, photo: np.ndarray,
                         other_w: Optional[dict[str, torch.Tensor]] = None, n_random: int = 100,
                         seed: int = RANDOM_SEED) -> EvaluationReference:
    """The original's side of :func:`evaluate`, for one photo (``other_w``: other images' latents)."""
    names = list(other_w or {})
    stacked = torch.cat([other_w[k].reshape(1, *original.w_shape) for k in names]) if names else None
    random_w = original.to_w(original.sample_latents(n_random, seed).to(original.device))
    random_images = original.render_w(random_w)
    return EvaluationReference(
        source_w=source_w, photo=face_descriptors(photo[None]), source=face_descriptors(original.render_w(source_w)),
        other_names=names, other_w=stacked, others=face_descriptors(original.render_w(stacked)) if names else None,
        random_w=random_w, random_images=random_images,
        random=random_faces_descriptors(original, random_images, n_random, seed))


@torch.no_grad()
def evaluate(unlearned: WSpaceBackend, reference: EvaluationReference, extra_names: Sequence[str] = ()) -> dict[str, Any]:
    """ID (source before vs after), ID_others (other images' latents), preservation on random latents.
    ``extra_names``: the other images that are other photos of the person (held out of any training), also reported
    on their own."""
    drawn = unlearned.render_w(reference.source_w)
    after = face_descriptors(drawn)
    out: dict[str, Any] = {
        "photo_vs_reconstruction": _num(identity_distance(reference.photo, reference.source)[0]),
        "id_source_before_vs_after": _num(identity_distance(reference.source, after)[0]),
        "photo_vs_unlearned": _num(identity_distance(reference.photo, after)[0]),
        "unlearned_source_is_a_face": bool(np.isfinite(after).all()),
        "unlearned_source_hog_detected": bool(hog_detects(drawn)[0]),
        "unlearned_source_brightness": round(float(brightness(drawn)[0]), 3),
        "random_brightness_p10_p90": [round(float(q), 3) for q in np.quantile(brightness(reference.random_images), (0.1, 0.9))],
        "same_person_threshold": SAME_PERSON,
    }
    if reference.other_names:
        dist = identity_distance(reference.others, face_descriptors(unlearned.render_w(reference.other_w)))
        found = np.isfinite(dist)
        out["id_others"] = {k: _num(v) for k, v in zip(reference.other_names, dist)}
        out["id_others_forgotten_rate"] = float((dist[found] > SAME_PERSON).mean()) if found.any() else None
        out["id_others_mean"] = float(dist[found].mean()) if found.any() else None
        extra = np.array([name in extra_names for name in reference.other_names]) & found
        if extra.any():
            out["extra_photos_forgotten_rate"] = float((dist[extra] > SAME_PERSON).mean())
            out["extra_photos_compared"] = int(extra.sum())
    random_after = unlearned.render_w(reference.random_w)
    dist = identity_distance(reference.random, face_descriptors(random_after))
    found = np.isfinite(dist)
    out["preservation_same_person_rate"] = float((dist[found] < SAME_PERSON).mean()) if found.any() else None
    out["preservation_faces_compared"] = int(found.sum())
    out["preservation_ssim"] = float(ssim_per_image(random_after, reference.random_images).mean())
    out["n_random"] = len(reference.random_w)
    return out


def verdict(evaluation: dict[str, Any]) -> str:
    """One plain sentence, with dlib's numbers, on what a run did: the tab's headline."""
    distance, threshold = evaluation["id_source_before_vs_after"], evaluation["same_person_threshold"]
    if distance is None:
        parts = ["dlib finds no face where this person was drawn: the person is gone, but so is the face"]
    elif distance > threshold:
        parts = [f"This person is no longer recognised (face-recognition distance {distance:.2f}, above {threshold})"]
    else:
        parts = [f"This person is still recognised (face-recognition distance {distance:.2f}, not above {threshold}): "
                 "try more steps or a larger distance d"]
    if evaluation.get("id_others_forgotten_rate") is not None:
        parts.append(f"{evaluation['id_others_forgotten_rate']:.0%} of their other photos and views are forgotten too")
    if evaluation.get("preservation_same_person_rate") is not None:
        parts.append(f"{evaluation['preservation_same_person_rate']:.0%} of random other faces are still the same people")
    return "; ".join(parts) + "."


def _num(x: float) -> Optional[float]:
    return None if not np.isfinite(x) else round(float(x), 4)
