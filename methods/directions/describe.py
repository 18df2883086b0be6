"""Measured, automatic descriptions of what a latent direction changes.

For each direction, faces at z - eps*d and z + eps*d on several seeds are compared with cheap image
statistics and face landmarks; the description names the statistics whose change is large and
consistent in sign across seeds. Nothing is guessed: every word comes from a number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..judges import faces

# (name, unit of the effect, words for + and - changes)
STATISTICS = {
    "brightness": ("brighter", "darker"),
    "saturation": ("more colourful", "greyer"),
    "redness": ("warmer (redder)", "cooler (bluer)"),
    "background_brightness": ("lighter background", "darker background"),
    "face_x": ("face moves right", "face moves left"),
    "face_size": ("larger face (closer)", "smaller face"),
    "mouth_opening": ("mouth opens", "mouth closes"),
    "yaw": ("head turns to its left", "head turns to its right"),
}


def image_statistics(images: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image statistics (N,) of images in [-1, 1]; landmark-based ones are NaN without a face."""
    x = (images.float() + 1) / 2
    r, b = x[:, 0], x[:, 2]
    maxc, minc = x.max(1).values, x.min(1).values
    border = torch.cat([x[:, :, :6].flatten(2), x[:, :, -6:].flatten(2), x[:, :, :, :6].flatten(2), x[:, :, :, -6:].flatten(2)], 2)
    stats = {
        "brightness": x.mean((1, 2, 3)).numpy(),
        "saturation": (maxc - minc).mean((1, 2)).numpy(),
        "redness": (r - b).mean((1, 2)).numpy(),
        "background_brightness": border.mean((1, 2)).numpy(),
    }
    lm = faces.landmarks68(images)
    size = faces.ANALYSIS_SIZE
    fx, fs, yaw = [], [], []
    for pts in lm:
        if pts is None:
            fx.append(np.nan), fs.append(np.nan), yaw.append(np.nan)
            continue
        fx.append(pts[:, 0].mean() / size)
        fs.append((pts[:, 0].max() - pts[:, 0].min()) / size)
        nose, left, right = pts[30, 0], pts[0, 0], pts[16, 0]
        yaw.append((nose - left) / max(right - left, 1e-6) - 0.5)
    stats.update({"face_x": np.array(fx), "face_size": np.array(fs), "yaw": np.array(yaw),
                  "mouth_opening": faces.mouth_opening(images)})
    return stats


# Statistics that move together describe one factor (lighting moves brightness and background alike).
FACTORS = {
    "lighting": ("brightness", "background_brightness"),
    "colour": ("saturation", "redness"),
    "pose": ("face_x", "yaw"),
    "scale": ("face_size",),
    "mouth": ("mouth_opening",),
}


@dataclass
class DirectionDescription:
    index: int
    text: str
    effects: dict[str, float]  # statistic -> mean change in units of its spread over random faces
    factor: str  # the strongest factor, or "" when none is strong
    single_factor: bool  # one factor clearly dominates (at least twice the next one)


def describe_directions(backend: GeneratorBackend, directions: torch.Tensor, epsilon: float = 4.0, n_seeds: int = 16,
                        seed: int = 0, min_effect: float = 0.5) -> list[DirectionDescription]:
    """Describe each row of ``directions`` by its standardised, sign-consistent effects."""
    z = backend.sample_latents(n_seeds, seed)
    base = image_statistics(backend.render(backend.sample_latents(256, seed + 1)))
    spread = {k: float(np.nanstd(v)) or 1.0 for k, v in base.items()}
    out = []
    for i, d in enumerate(directions):
        lo = image_statistics(backend.render(z - epsilon * d))
        hi = image_statistics(backend.render(z + epsilon * d))
        effects = {}
        for name in STATISTICS:
            delta = hi[name] - lo[name]
            delta = delta[np.isfinite(delta)]
            if len(delta) < max(3, n_seeds // 4):
                continue
            consistency = abs(np.mean(np.sign(delta)))
            effect = float(np.mean(delta)) / spread[name]
            if consistency >= 0.75:
                effects[name] = round(effect, 2)
        by_factor = sorted(((max((abs(effects.get(s, 0.0)) for s in stats), default=0.0), f) for f, stats in FACTORS.items()), reverse=True)
        top, second = by_factor[0], by_factor[1]
        single = top[0] >= min_effect and top[0] >= 2 * second[0]
        out.append(DirectionDescription(i, "", effects, top[1] if top[0] >= min_effect else "", bool(single)))
    for d, text in zip(out, distinct_descriptions([d.effects for d in out], min_effect)):
        d.text = text
    return out


def _phrases(effects: dict[str, float], min_effect: float) -> list[tuple[float, str]]:
    """(size, words) of each effect of at least ``min_effect``, strongest first; brightness and background brightness
    moving the same way are one phrase ("darker overall"), as they are one change to a viewer."""
    strong = {k: v for k, v in effects.items() if abs(v) >= min_effect}
    phrases = []
    light = [strong.get("brightness"), strong.get("background_brightness")]
    if all(v is not None for v in light) and np.sign(light[0]) == np.sign(light[1]):
        phrases.append((max(abs(light[0]), abs(light[1])), "brighter overall" if light[0] > 0 else "darker overall"))
        strong = {k: v for k, v in strong.items() if k not in ("brightness", "background_brightness")}
    phrases += [(abs(v), STATISTICS[k][0 if v > 0 else 1]) for k, v in strong.items()]
    return sorted(phrases, reverse=True)


VERBS = (" moves", " turns", " opens", " closes")


def _with_strength(phrase: str, size: float) -> str:
    """"much darker", "slightly greyer"; "mouth opens a lot", "face moves left a little" (2 and 1 spreads apart)."""
    if 1 <= size < 2:
        return phrase
    if any(v in phrase for v in VERBS):
        return phrase + (" a lot" if size >= 2 else " a little")
    return ("much " if size >= 2 else "slightly ") + phrase


def describe_effects(effects: dict[str, float], min_effect: float = 0.5, n_words: int = 2) -> str:
    """One direction's description from its standardised effects: its ``n_words`` strongest changes, the first with
    its strength ("much darker overall, greyer")."""
    phrases = _phrases(effects, min_effect)
    if not phrases:
        return "no single measured factor (subtle or mixed)"
    words = [p for _, p in phrases[:n_words]]
    return ", ".join([_with_strength(words[0], phrases[0][0]), *words[1:]])


def distinct_descriptions(effects: list[dict[str, float]], min_effect: float = 0.5) -> list[str]:
    """Descriptions of several directions that say what separates them: where two read alike, each names its next
    measured change (down to half ``min_effect``); directions still alike are said to be so ("like #3")."""
    texts = [describe_effects(e, min_effect) for e in effects]
    for _ in range(2):  # first the next strong change, then the weaker ones
        for text in {t for t in texts if texts.count(t) > 1}:
            for i in [i for i, t in enumerate(texts) if t == text]:
                shown = len(text.split(", "))
                extra = _phrases(effects[i], min_effect / 2)[shown:]
                if extra:
                    size, phrase = extra[0]
                    texts[i] = f"{text}, {_with_strength(phrase, size) if size < min_effect else phrase}"
    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        if text in first:
            texts[i] = f"{text} (measured like #{first[text] + 1})"
        else:
            first[text] = i
    return texts
