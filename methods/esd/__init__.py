"""ESD — Erasing Concepts from Diffusion Models (Gandikota et al., ICCV 2023): fine-tune a copy of the UNet so the
erased prompt's noise prediction becomes the original's, steered away from the prompt by negative guidance:

    ε_θ(x_t, c, t)  ->  ε*(x_t, t) − η [ε*(x_t, c, t) − ε*(x_t, t)]

x_t: the frozen original's own partial sample of c (a random number of its DDIM steps). ESD-x fine-tunes the
cross-attention (a named concept), ESD-u the rest (a style, nudity).

Files: ``config.py`` (the official defaults, per-model departures, presets), ``train.py`` (the loop), ``run.py`` (the
entry: erase, then judge as every eraser is), ``__main__.py`` (CLI: ``python -m methods.esd --model emoji-sd --forget
"a cat" --out DIR``).
"""
from .config import PRESETS, TRAIN_METHODS, ESDConfig
from .run import erase
from .train import run, trainable_names

__all__ = ["ESDConfig", "PRESETS", "TRAIN_METHODS", "erase", "run", "trainable_names"]
