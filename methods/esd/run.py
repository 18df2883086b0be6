"""ESD's entry point: erase prompts by negative-guidance fine-tuning, then judge it as every eraser is."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..backends import GeneratorBackend
from ..runtime.distributed import is_main_process
from ..runtime.results import other_process_result
from ..judges.concept_edit import concept_edit_result
from ..runtime import CancelFn, ProgressFn, RunResult, subrange
from .config import ESDConfig
from .train import run
from ..errors import InputError


def check_prompts(backend: GeneratorBackend, config: ESDConfig) -> list[str]:
    """The prompts to erase, each checked in plain words before anything runs."""
    if not backend.open_vocabulary:
        raise InputError(f"ESD fine-tunes a text-to-image model on its prompts; '{backend.name}' takes no prompts")
    forget = [backend.check_prompt(p, "erase") for p in config.forget]
    concepts = backend.concepts
    if concepts is not None and any(concepts.concept_of(p) is None for p in forget):
        raise InputError(f"name exactly one concept in each prompt to erase, e.g. 'a cat'. {concepts.known()}")
    return forget


def erase(backend: GeneratorBackend, config: ESDConfig, out_dir: Optional[Path] = None,
          progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, eval_per_concept: int = 32,
          others_limit: Optional[int] = None, attack: bool = False, attack_seeds: int = 8, **_: Any) -> RunResult:
    """Erase ``config.forget`` (one or several prompts); the tab's, the CLI's and the benchmark's entry. ESD has no
    surrogate: the erased prompt is pushed away from itself (its images become whatever remains)."""
    bound = backend.with_conditions([], sample_steps=config.sample_steps)
    check_prompts(bound, config)
    erased, report = run(config, bound, progress=subrange(progress, 0, 0.6), cancel=cancel)
    if not is_main_process():
        return other_process_result("esd", report)
    return concept_edit_result("esd", bound, erased, list(config.forget), "noise", report, out_dir=out_dir,
                               progress=subrange(progress, 0.6, 1.0), cancel=cancel, eval_per_concept=eval_per_concept,
                               others_limit=others_limit, attack=attack, attack_seeds=attack_seeds, seed=config.seed)
