"""Feature Unlearning's settings, with their bounds (the CLI's and the public UI's) declared once."""
from __future__ import annotations

from dataclasses import dataclass

from ..image_metrics import MSSSIM_MODES
from ..runtime.config import BoundedConfig, CpuCost, bounded, choice

THRESHOLDS = ("mean", "midpoint")
MIN_LABELS_EACH = 4  # the tab's minimum of labelled faces with and without the feature
# benchmarks/feature_unlearning.py on the 2-core machine (slowest day): 300 steps x 32 in 74.3 s; labels,
# evaluation and the probe about 10 s. benchmarks/ui_limits.py: 1000 steps x 36 took 308 s, 0.26 s a step per 32.
CPU_COST = CpuCost(fixed_s=15.0, step_s=0.28, batch=32)
HELDOUT_SEED = 900_001  # fixed held-out seed: the before/after rows are the same for every run


@dataclass
class FeatureUnlearningConfig(BoundedConfig):
    """Settings of one run; defaults are the benchmarked ones (README)."""

    steps: int = bounded(300, 1, 20_000, "Steps", ui=(5, 1000, 5))
    batch_size: int = bounded(32, 2, 512, "Batch size", ui=(4, 64, 4))
    lr: float = bounded(1e-4, 1e-7, 1e-1, "Learning rate")
    alpha: float = bounded(1.0, 0, 1000, "α", exclusive_low=True, ui=(0.1, 10, 0.1))
    threshold: str = choice("mean", THRESHOLDS, "Threshold")
    msssim_mode: str = choice("native", MSSSIM_MODES, "MS-SSIM mode")
    seed: int = bounded(0, 0, 2**31 - 1, "Run seed")
    eval_samples: int = bounded(256, 0, 10_000, "Eval samples")
    mixed_precision: str = choice("no", ("no", "fp16", "bf16"), "Mixed precision")

    def cpu_seconds(self) -> float:
        """This run's expected time on the reference CPU (see :data:`CPU_COST`)."""
        return CPU_COST.seconds(self.steps, self.batch_size)
