"""The Amnesia tab's one-click examples, real runs with the full preset (seed 0): the digits cVAE forgetting 0 and
remapping 3 to 8 (their forgotten models ship beside them: a few hundred KB), emoji-sd forgetting a typed prompt
(its 27 MB pipeline does not ship: Forget in the tab computes it live to download), and the three erasers side by side
on that prompt with the recovery attack (Compare's quick preset: the comparison a workshop sees at once)."""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ..backends import load_generator
from ..runtime.results import EXAMPLES_ROOT, save_example
from .compare import forget
from .config import AmnesiaConfig, presets_for


DIGITS = {"forget-0": ("0", "noise"), "remap-3-to-8": ("3", "8")}
EMOJI = ("emoji-cat-to-dog", "a cat", "a dog")
COMPARE = ("emoji-compare-cat", "a cat", "a dog", "quick")


def configs() -> dict[str, AmnesiaConfig]:
    """Each example's settings by its folder's name (a test holds the shipped examples to them)."""
    out = {slug: AmnesiaConfig.for_model("digits-cvae", presets_for("digits-cvae")["full"], forget=concept, surrogate=surrogate)
           for slug, (concept, surrogate) in DIGITS.items()}
    slug, concept, surrogate = EMOJI
    return out | {slug: AmnesiaConfig.for_model("emoji-sd", presets_for("emoji-sd")["full"], forget=concept, surrogate=surrogate)}


def compare_configs() -> dict[str, object]:
    """The comparison example's settings, one config per eraser (a test holds the shipped example to them)."""
    from ..erasers import ERASERS

    _, concept, surrogate, preset = COMPARE
    return {name: eraser.make_config("emoji-sd", eraser.presets[preset], (concept,), surrogate, 0)
            for name, eraser in ERASERS.items()}


def precompute(root: Path = EXAMPLES_ROOT) -> None:
    digits(root)
    emoji(root)
    compare(root)


def digits(root: Path = EXAMPLES_ROOT) -> None:
    full = presets_for("digits-cvae")["full"]  # with the surrogate-only baseline and the recovery attack
    for slug, (concept, surrogate) in DIGITS.items():
        config = configs()[slug]
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = forget(load_generator("digits-cvae"), config, out_dir=Path(tmp), **full.options)
            title = f"forget {concept}" if surrogate == "noise" else f"remap {concept} → {surrogate}"
            folder = save_example("amnesia", slug, result, time.perf_counter() - started, root, title=title,
                                  inputs={"forget": concept, "surrogate": "uniform noise" if surrogate == "noise" else surrogate})
            for name in ("generator.safetensors", "config.json"):
                shutil.copy(Path(tmp) / name, folder / name)


def emoji(root: Path = EXAMPLES_ROOT) -> None:
    full = presets_for("emoji-sd")["full"]  # the recovery attack after it
    slug, concept, surrogate = EMOJI
    config = configs()[slug]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = forget(load_generator("emoji-sd"), config, out_dir=Path(tmp), **full.options)
        seconds = time.perf_counter() - started
    save_example("amnesia", slug, replace(result, files=[]), seconds, root, title=f"emoji-sd: forget {concept} → {surrogate}",
                 inputs={"model": "emoji-sd", "forget": concept, "surrogate": surrogate})


def compare(root: Path = EXAMPLES_ROOT) -> None:
    """Selective Amnesia, ESD-x and UCE on 'a cat' → 'a dog', Compare's quick preset with the recovery attack."""
    from ..erasers import compare_erasers

    slug, concept, surrogate, preset = COMPARE
    started = time.perf_counter()
    result = compare_erasers(load_generator("emoji-sd"), (concept,), surrogate, preset=preset, attack=True, seed=0)
    save_example("amnesia", slug, replace(result, files=[]), time.perf_counter() - started, root,
                 title=f"emoji-sd: the three erasers on {concept}",
                 inputs={"model": "emoji-sd", "forget": concept, "surrogate": surrogate, "compare": True, "preset": preset})
