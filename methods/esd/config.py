"""ESD's settings: the official defaults of ``esd_sd.py`` (rohitgandikota/erasing: 200 iterations at lr 5e-5, batch 1,
x_t drawn by the frozen model with guidance 3 over 50 DDIM steps, negative guidance 2), bounds declared once,
per-model departures and presets.

η here is the paper's: target ε*(x_t) − η [ε*(x_t, c) − ε*(x_t)]. The code's target starts from ε*(x_t, c) instead,
ε*(x_t, c) − η' [ε*(x_t, c) − ε*(x_t)], which is the paper's with η = η' − 1: its default η' = 2 is η = 1 here."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from ..runtime.attack import SEED_SEARCH_CPU_S
from ..runtime.config import BoundedConfig, Preset, bounded, choice
from ..errors import InputError

# ESD-x: cross-attention only (the paper's choice for a concept named in the prompt); ESD-u: everything else
# (unconditional erasure, e.g. a style or nudity); the code's esd-x-strict: only the key and value projections.
TRAIN_METHODS = {"xattn": "ESD-x", "noxattn": "ESD-u", "xattn-strict": "ESD-x (keys and values only)", "full": "all"}


@dataclass
class ESDConfig(BoundedConfig):
    """ε_θ(x_t, c, t) -> ε*(x_t, t) − η [ε*(x_t, c, t) − ε*(x_t, t)], an L2 loss, θ from θ* (the frozen original)."""

    forget: tuple[str, ...] = ("a cat",)
    train_method: str = choice("xattn", tuple(TRAIN_METHODS), "train_method")
    negative_guidance: float = bounded(1.0, 0, 20, "η (negative guidance)", ui=(0, 5, 0.1))
    iterations: int = bounded(200, 1, 20_000, "Iterations", ui=(5, 1000, 5))
    lr: float = bounded(5e-5, 1e-7, 0.1, "Learning rate")
    batch_size: int = bounded(1, 1, 256, "Batch size")
    guidance_scale: float = bounded(3.0, 0, 30, "Guidance while drawing x_t")
    ddim_steps: int = bounded(50, 2, 200, "DDIM steps while drawing x_t")
    seed: int = bounded(0, 0, 2**31 - 1, "Seed")
    sample_steps: int = bounded(20, 1, 200, "Sampler steps")  # for judging and the galleries
    mixed_precision: str = choice("no", ("no", "fp16", "bf16"), "Mixed precision")  # GPU only

    def __post_init__(self) -> None:
        super().__post_init__()
        self.forget = tuple(self.forget)
        if not self.forget:
            raise InputError("give at least one prompt to erase")

    @classmethod
    def for_model(cls, model: str, preset: Optional[Preset] = None, **overrides: Any) -> "ESDConfig":
        """The official defaults, ``model``'s departures, the preset's settings, then ``overrides``."""
        base = asdict(cls())
        base.update(MODEL_DEFAULTS.get(str(model), {}))
        base.update(preset.settings if preset else {})
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


# emoji-sd: x_t drawn over 10 DDIM steps (a sampler step costs about 15 ms at batch 1 on 2 cores, so 50 would make an
# iteration seconds long); its small UNet takes a larger learning rate than SD's 5e-5.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"emoji-sd": {"ddim_steps": 10, "lr": 5e-4, "sample_steps": 10}}

PRESETS = {
    "quick": Preset("quick", "Quick", settings={"iterations": 100},
                    options={"eval_per_concept": 8, "others_limit": 3, "attack": False}),
    "full": Preset("full", "Full", options={"eval_per_concept": 8, "others_limit": None, "attack": True}),
}


# A run's measured time on the 2-core reference CPU with emoji-sd and warm caches, judging included, without the attack
# (benchmarks/results/erasers*.md)
CPU_S = {'quick': 50.0, 'full': 120.0}


def estimate_seconds(config, preset: Preset, attack: bool = False, **_: Any) -> float:
    """The registry's cost estimate: the measured time of ``preset`` on emoji-sd, plus the attack per erased prompt."""
    return CPU_S[preset.name] + (SEED_SEARCH_CPU_S * len(config.forget) if attack else 0.0)
