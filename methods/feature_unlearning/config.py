"""Feature Unlearning's settings, with their bounds (the CLI's and the public UI's) declared once."""
from __future__ import annotations

from dataclasses import dataclass

from ..image_metrics import MSSSIM_MODES
from ..runtime.config import BoundedConfig, bounded, choice

THRESHOLDS = ("mean", "midpoint")
MIN_LABELS_EACH = 4  # the tab's minimum of labelled faces with and without the feature
HELDOUT_SEED = 900_001  # fixed held-out seed: the before/after rows are the same for every run


@dataclass
class FeatureUnlearningConfig(BoundedConfig):
    """Settings of one run; defaults are the benchmarked ones (README)."""

    steps: int = bounded(300, 1, 20_000, "Steps", ui=(5, 2000, 5))
    batch_size: int = bounded(32, 2, 512, "Batch size", ui=(4, 128, 4))
    lr: float = bounded(1e-4, 1e-7, 1e-1, "Learning rate")
    alpha: float = bounded(1.0, 0, 1000, "α", exclusive_low=True, ui=(0.1, 10, 0.1))
    threshold: str = choice("mean", THRESHOLDS, "Threshold")
    msssim_mode: str = choice("native", MSSSIM_MODES, "MS-SSIM mode")
    seed: int = bounded(0, 0, 2**31 - 1, "Run seed")
    eval_samples: int = bounded(256, 0, 10_000, "Eval samples")
    mixed_precision: str = choice("no", ("no", "fp16", "bf16"), "Mixed precision")
