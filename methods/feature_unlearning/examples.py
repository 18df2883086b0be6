"""The Features tab's one-click example: open mouths, labelled on 10 pages by dlib's landmarks (the README's judge) as
a person would by clicking, unlearned with the default settings and the probe (a real run, seed 0). Its labels ship
beside it as ``labels.json``."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..backends import DEFAULT_FACE_GENERATOR, load_generator
from ..judges.faces import MOUTH_OPEN_THRESHOLD, mouth_opening
from ..runtime import MetricRow
from ..runtime.results import EXAMPLES_ROOT, save_example
from .compare import unlearn_from_labels
from .config import FeatureUnlearningConfig
from .direction import latent_shift
from .evaluate import judged_verdict
from .labels import LabelSet

PAGES = range(10)
JUDGED_FACES, JUDGE_SEED = 400, 910_000


def configs() -> dict[str, FeatureUnlearningConfig]:
    """The example's settings by its folder's name (a test holds the shipped example to them)."""
    return {"open-mouths": FeatureUnlearningConfig()}


def precompute(root: Path = EXAMPLES_ROOT) -> None:
    generator = load_generator(DEFAULT_FACE_GENERATOR)
    labels = LabelSet(DEFAULT_FACE_GENERATOR, 64)
    for seed in PAGES:
        opening = mouth_opening(generator.render(generator.sample_latents(64, seed)))
        labels.mark_page(seed, [bool(np.isfinite(x) and x >= MOUTH_OPEN_THRESHOLD) for x in opening])
    pos, neg = labels.latents(generator)
    started = time.perf_counter()
    result = unlearn_from_labels(generator, pos, neg, configs()["open-mouths"], probe=True, feature="open mouths")
    seconds = time.perf_counter() - started
    # This example has a judge the live tab has not: the dlib measure that labelled it (the method saw only labels).
    z = generator.sample_latents(JUDGED_FACES, seed=JUDGE_SEED)
    rates = [open_rate(g.render(latents)) for g, latents in
             ((generator, z), (result.generator, z), (generator, latent_shift(z, result.details["direction"])))]
    kept = result.report["heldout"]["unlearned"]["ssim_kept"]
    result = replace(result, verdict=judged_verdict(
        "Open mouths", rates[0], rates[1], f"dlib's face landmarks on {JUDGED_FACES} faces (the measure that labelled "
        "this example; the method saw only the labels)", kept),
        metrics=[*result.metrics, MetricRow(f"open mouths by dlib's landmarks, {JUDGED_FACES} new faces", tuple(rates))])
    folder = save_example("features", "open-mouths", result, seconds, root, title="open mouths (10 pages labelled by dlib)",
                          inputs={"feature": "open mouths", "pages": list(PAGES)})
    (folder / "labels.json").write_text(labels.to_json())


def open_rate(images) -> float:
    """The share of faces dlib finds whose mouth is open (the README's measure)."""
    opening = mouth_opening(images)
    found = np.isfinite(opening)
    return float((opening[found] >= MOUTH_OPEN_THRESHOLD).mean())
