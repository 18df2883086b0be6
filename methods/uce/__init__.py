"""UCE — Unified Concept Editing (Gandikota et al., WACV 2024): erase concepts from a text-to-image model by a
closed-form edit of every cross-attention key and value projection (no training, under a second).

Files: ``config.py`` (the official defaults, bounds, presets), ``edit.py`` (the closed form), ``run.py`` (the
entry: edit, then judge as every eraser is), ``__main__.py`` (CLI: ``python -m methods.uce --model emoji-sd
--forget "a cat" --surrogate "a dog" --out DIR``).
"""
from .config import PRESETS, UCEConfig
from .edit import cross_attention_projections, uce_edit
from .run import EDIT_FILE, erase

__all__ = ["EDIT_FILE", "PRESETS", "UCEConfig", "cross_attention_projections", "erase", "uce_edit"]
