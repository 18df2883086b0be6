"""The Identity tab's one-click examples: GUIDE's full preset on the two example photos (real runs, seed 0).
The face generator's weights are not shipped with them (14 MB each): Run in the tab computes one live to download."""
from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from ..backends import DEFAULT_FACE_GENERATOR, load_generator
from ..runtime.results import EXAMPLES_ROOT, save_example
from .config import PRESETS, GuideConfig
from .face_input import example_photos
from .pipeline import unlearn_identity


SLUGS = ("astronaut", "cameraman")


def configs() -> dict[str, GuideConfig]:
    """Each example's settings by its folder's name (a test holds the shipped examples to them)."""
    return {slug: GuideConfig(**PRESETS["full"].settings) for slug in SLUGS}


def precompute(root: Path = EXAMPLES_ROOT) -> None:
    full = PRESETS["full"]  # the baseline beside GUIDE and the recovery attack after it
    for (slug, config), (title, photo) in zip(configs().items(), example_photos().items()):
        started = time.perf_counter()
        result = unlearn_identity(load_generator(DEFAULT_FACE_GENERATOR), photo, config,
                                  **{**full.options, "attack_views": None})  # the attack on every view: no budget here
        folder = save_example("identity", slug, result, time.perf_counter() - started, root, title=title,
                              inputs={"photo": slug})
        Image.open(photo).convert("RGB").save(folder / "photo.png", optimize=True)  # the upload box's copy
