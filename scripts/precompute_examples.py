"""Compute each tab's one-click examples and ship what the tab shows of them (instant for the first visitor).

    python scripts/precompute_examples.py [--only identity|amnesia|amnesia-emoji|features]

Each example is a real run with the tab's full preset (seed 0), on this 2-core CPU; its folder under
``assets/examples/<tab>/<name>/`` holds the galleries (PNG strips), the metric rows, the verdict, the report and
how it was made (command, seed, seconds). Amnesia's examples also ship their (small) forgotten models; the face
generators' examples do not (14 MB each): press Run in the tab to compute one live and download it. The Features
example's labels (open mouths, marked by dlib's landmarks on 10 pages) ship as ``labels.json`` beside it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from methods import feature_unlearning as fu
from methods import guide
from methods import selective_amnesia as sa
from methods.backends import DEFAULT_FACE_GENERATOR, load_generator
from methods.feature_unlearning.evaluate import judged_verdict
from methods.feature_unlearning.labels import LabelSet
from methods.guide.face_input import example_photos
from methods.judges.faces import MOUTH_OPEN_THRESHOLD, mouth_opening
from methods.runtime import MetricRow, save_display

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
COMMAND = "python scripts/precompute_examples.py"
FEATURE_PAGES = range(10)
JUDGED_FACES, JUDGE_SEED = 400, 910_000


def identity() -> None:
    for slug, (title, photo) in zip(("astronaut", "cameraman"), example_photos().items()):
        started = time.perf_counter()
        full = guide.PRESETS["full"]  # the full preset: the baseline beside GUIDE and the recovery attack after it
        result = guide.unlearn_identity(load_generator(DEFAULT_FACE_GENERATOR), photo, guide.GuideConfig(**full.settings),
                                        **full.options)
        folder = _save("identity", slug, result, title=title, seconds=time.perf_counter() - started, inputs={"photo": slug})
        Image.open(photo).convert("RGB").save(folder / "photo.png", optimize=True)  # the upload box's copy


def amnesia() -> None:
    for slug, forget, surrogate in [("forget-0", "0", "noise"), ("remap-3-to-8", "3", "8")]:
        full = sa.presets_for("digits-cvae")["full"]  # with the surrogate-only baseline and the recovery attack
        config = sa.AmnesiaConfig.for_model("digits-cvae", full, forget=forget, surrogate=surrogate)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = sa.forget(load_generator("digits-cvae"), config, out_dir=Path(tmp), **full.options)
            seconds = time.perf_counter() - started
            title = f"forget {forget}" if surrogate == "noise" else f"remap {forget} → {surrogate}"
            folder = _save("amnesia", slug, result, title=title, seconds=seconds,
                           inputs={"forget": forget, "surrogate": "uniform noise" if surrogate == "noise" else surrogate})
            for name in ("generator.safetensors", "config.json"):  # the forgotten model (a few hundred KB)
                shutil.copy(Path(tmp) / name, folder / name)


def amnesia_emoji() -> None:
    """A typed prompt forgotten by emoji-sd (full preset: the baseline beside it and the recovery attack). Its pipeline
    (27 MB) is not shipped: press Forget to compute it live and download it."""
    full = sa.presets_for("emoji-sd")["full"]
    config = sa.AmnesiaConfig.for_model("emoji-sd", full, forget="a cat", surrogate="a dog")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = sa.forget(load_generator("emoji-sd"), config, out_dir=Path(tmp), **full.options)
        seconds = time.perf_counter() - started
        result = replace(result, files=[])
        _save("amnesia", "emoji-cat-to-dog", result, title="emoji-sd: forget a cat → a dog", seconds=seconds,
              inputs={"model": "emoji-sd", "forget": "a cat", "surrogate": "a dog"})


def features() -> None:
    """Open mouths, labelled on 10 pages by dlib's landmarks (the README's judge) as a person would by clicking."""
    generator = load_generator(DEFAULT_FACE_GENERATOR)
    labels = LabelSet(DEFAULT_FACE_GENERATOR, 64)
    for seed in FEATURE_PAGES:
        opening = mouth_opening(generator.render(generator.sample_latents(64, seed)))
        labels.mark_page(seed, [bool(np.isfinite(x) and x >= MOUTH_OPEN_THRESHOLD) for x in opening])
    pos, neg = labels.latents(generator)
    started = time.perf_counter()
    result = fu.unlearn_from_labels(generator, pos, neg, fu.FeatureUnlearningConfig(), probe=True, feature="open mouths")
    seconds = time.perf_counter() - started
    # This example has a judge the live tab has not: the dlib measure that labelled it (the method saw only labels).
    z = generator.sample_latents(JUDGED_FACES, seed=JUDGE_SEED)
    rates = [_open_rate(g.render(latents)) for g, latents in
             ((generator, z), (result.generator, z), (generator, fu.latent_shift(z, result.details["direction"])))]
    kept = result.report["heldout"]["unlearned"]["ssim_kept"]
    result = replace(result, verdict=judged_verdict(
        "Open mouths", rates[0], rates[1], f"dlib's face landmarks on {JUDGED_FACES} faces (the measure that labelled "
        "this example; the method saw only the labels)", kept),
        metrics=[*result.metrics, MetricRow(f"open mouths by dlib's landmarks, {JUDGED_FACES} new faces", tuple(rates))])
    folder = _save("features", "open-mouths", result, title="open mouths (10 pages labelled by dlib)",
                   seconds=seconds, inputs={"feature": "open mouths", "pages": list(FEATURE_PAGES)})
    (folder / "labels.json").write_text(labels.to_json())


def _open_rate(images) -> float:
    """The share of faces dlib finds whose mouth is open (the README's measure)."""
    opening = mouth_opening(images)
    found = np.isfinite(opening)
    return float((opening[found] >= MOUTH_OPEN_THRESHOLD).mean())


def _save(tab: str, slug: str, result, **extra) -> Path:
    folder = EXAMPLES / tab / slug
    shutil.rmtree(folder, ignore_errors=True)
    extra["seconds"] = round(extra["seconds"], 1)
    save_display(result, folder, slug=slug, command=COMMAND, seed=0, machine="2-core CPU, no GPU", **extra)
    print(f"{tab}/{slug}: {extra['seconds']} s — {result.verdict}", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["identity", "amnesia", "amnesia-emoji", "features"])
    args = parser.parse_args()
    for name, fn in [("amnesia", amnesia), ("amnesia-emoji", amnesia_emoji), ("features", features), ("identity", identity)]:
        if args.only in (None, name):
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
