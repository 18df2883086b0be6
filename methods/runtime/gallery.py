"""Every concept of a conditional generator drawn on fixed latents: the before/after galleries of the Amnesia tab
(any method that edits a conditional model), and the original's, cached."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch

from .cache import CACHE_ROOT, cached_tensors, weights_key
from .results import to_uint8

if TYPE_CHECKING:
    from ..backends import GeneratorBackend

GALLERY_SEED = 2024


@torch.no_grad()
def concept_grid(backend: "GeneratorBackend", n_show: int = 8) -> dict[str, np.ndarray]:
    """``n_show`` samples of every concept on the gallery's fixed latents (the same for every model): {concept: uint8}."""
    z = backend.sample_latents(n_show, GALLERY_SEED)
    n_concepts = len(backend.conditions)
    # one render for every concept (a diffusion sampler's per-step overhead is paid once)
    images = to_uint8(backend.render(z.repeat(n_concepts, *([1] * (z.dim() - 1))),
                                     torch.arange(n_concepts).repeat_interleave(n_show)))
    return {name: images[i * n_show:(i + 1) * n_show] for i, name in enumerate(backend.conditions)}


def original_concept_grid(backend: "GeneratorBackend", n_show: int = 8) -> dict[str, np.ndarray]:
    """:func:`concept_grid` of a model every run starts from (a run's "before", which a tab shows before any run),
    cached on disk by its weights: the DDPM's takes seconds and is the same for every run."""
    # a prompt model's concepts and sampler settings are the run's
    concepts = hashlib.sha256(("|".join(backend.conditions) + repr(sorted(backend.config.items()))).encode()).hexdigest()[:12]
    path = CACHE_ROOT / "galleries" / f"{backend.name}-{weights_key(backend.module)}-{concepts}-{n_show}-{GALLERY_SEED}.safetensors"
    grid = cached_tensors(path, lambda: {k: torch.from_numpy(v) for k, v in concept_grid(backend, n_show).items()})
    return {name: grid[name].numpy() for name in backend.conditions}
