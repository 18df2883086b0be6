"""UCE's settings: the official erasing script's defaults (``train-scripts/train_erase.py`` of
rohitgandikota/unified-concept-editing: λ = 0.5, erase scale 1, preserve scale 0.1, keys and values edited, the
"replace" technique, no extra prompt templates), bounds declared once, and the presets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..backends.stable_diffusion import CONCEPTS_FILE, LOCAL_MODELS, ConceptList
from ..runtime.attack import SEED_SEARCH_CPU_S
from ..runtime.config import BoundedConfig, Preset, bounded
from ..errors import InputError


@dataclass
class UCEConfig(BoundedConfig):
    """``forget``: the prompts to erase; ``surrogate``: what they become ("" = the unconditional prompt, as the
    official code's default); ``preserve``: prompts whose keys and values must not move (default: every other
    concept of a closed-vocabulary model)."""

    forget: tuple[str, ...] = ("a cat",)
    surrogate: str = ""
    preserve: tuple[str, ...] = ()
    lamb: float = bounded(0.5, 0, 1e4, "λ (keep the original weights)")
    erase_scale: float = bounded(1.0, 0, 1e4, "Erase scale", ui=(0, 10, 0.1))
    preserve_scale: float = bounded(0.1, 0, 1e4, "Preserve scale", ui=(0, 10, 0.05))
    edit_keys: bool = True  # the official default edits to_k as well as to_v
    rewordings: bool = False  # also erase the model's other caption templates of each concept (the official add_prompts)
    seed: int = bounded(0, 0, 2**31 - 1, "Seed")  # the judge's and the attack's seeds (the edit itself is closed form)
    sample_steps: int = bounded(10, 1, 200, "Sampler steps")  # for judging and the galleries

    def __post_init__(self) -> None:
        super().__post_init__()
        self.forget, self.preserve = tuple(self.forget), tuple(self.preserve)
        if not self.forget:
            raise InputError("give at least one prompt to erase")

    @classmethod
    def for_model(cls, model: str, preset: Optional[Preset] = None, **overrides: Any) -> "UCEConfig":
        """Defaults, then ``model``'s (a closed-vocabulary model preserves every other concept it knows), then the
        preset's settings, then ``overrides``."""
        base: dict[str, Any] = {}
        if str(model) in LOCAL_MODELS and not overrides.get("preserve"):
            concepts = ConceptList.read(LOCAL_MODELS[str(model)] / CONCEPTS_FILE)
            forget = tuple(overrides.get("forget") or cls().forget)
            base["preserve"] = tuple(p for p in (concepts.prompts.values() if concepts else ())
                                     if concepts.concept_of(p) not in {concepts.concept_of(f) for f in forget})
        base.update(preset.settings if preset else {})
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


PRESETS = {
    "quick": Preset("quick", "Quick", options={"eval_per_concept": 8, "others_limit": 3, "attack": False}),
    "full": Preset("full", "Full", options={"eval_per_concept": 8, "others_limit": None, "attack": True}),
}


# A run's measured time on the 2-core reference CPU with emoji-sd and warm caches, judging included, without the attack
# (benchmarks/results/erasers*.md)
CPU_S = {'quick': 25.0, 'full': 63.0}


def estimate_seconds(config, preset: Preset, attack: bool = False, **_: Any) -> float:
    """The registry's cost estimate: the measured time of ``preset`` on emoji-sd, plus the attack per erased prompt."""
    return CPU_S[preset.name] + (SEED_SEARCH_CPU_S * len(config.forget) if attack else 0.0)
