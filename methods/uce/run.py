"""UCE's entry point: erase prompts from a text-to-image model in closed form, then judge it as every eraser is."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from safetensors.torch import save_file

from ..backends import GeneratorBackend
from ..judges.concept_edit import concept_edit_result
from ..runtime import CancelFn, ProgressFn, RunResult, check_cancel, report_progress, subrange
from .config import UCEConfig
from .edit import uce_edit
from ..errors import InputError

EDIT_FILE = "uce_edit.safetensors"  # the changed tensors alone: load them into the base model's UNet


def check_prompts(backend: GeneratorBackend, config: UCEConfig) -> list[str]:
    """The prompts to erase (plus their rewordings when asked), every prompt checked in plain words first."""
    if not backend.open_vocabulary:
        raise InputError(f"UCE edits a text-to-image model's cross-attention; '{backend.name}' takes no prompts")
    forget = [backend.check_prompt(p, "erase") for p in config.forget]
    if config.surrogate:
        backend.check_prompt(config.surrogate, "surrogate")
    concepts = backend.concepts
    if concepts is None:
        return forget
    names = [concepts.concept_of(p) for p in forget]
    if None in names:
        raise InputError(f"name exactly one concept in each prompt to erase, e.g. 'a cat'. {concepts.known()}")
    if config.surrogate and concepts.concept_of(config.surrogate) in names:
        raise InputError("the surrogate must be another concept than the ones to erase")
    if config.rewordings:
        forget = list(dict.fromkeys(r for n in names for r in concepts.rewordings(n)))
    return forget


def erase(backend: GeneratorBackend, config: UCEConfig, out_dir: Optional[Path] = None,
          progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, eval_per_concept: int = 32,
          others_limit: Optional[int] = None, attack: bool = False, attack_seeds: int = 8, **_: Any) -> RunResult:
    """Erase ``config.forget`` (one or several prompts) in one closed-form edit; the tab's, the CLI's and the
    benchmark's entry. Judged by the model's own judge on held-out seeds, with the seed-search attack if asked."""
    bound = backend.with_conditions([], sample_steps=config.sample_steps)
    erased = check_prompts(bound, config)
    check_cancel(cancel)
    report_progress(progress, 0.0, "editing the cross-attention projections (closed form)")
    edited, report = uce_edit(bound, config, erased)
    changed = report.pop("_changed")
    report.update(settings=asdict(config), wall_s=report["edit_s"])
    result = concept_edit_result("uce", bound, edited, list(config.forget), config.surrogate or "noise", report,
                                 out_dir=out_dir, progress=subrange(progress, 0.05, 1.0), cancel=cancel,
                                 eval_per_concept=eval_per_concept, others_limit=others_limit, attack=attack,
                                 attack_seeds=attack_seeds, seed=config.seed)
    if out_dir is not None:
        save_file({k: v.contiguous() for k, v in changed.items()}, str(Path(out_dir) / EDIT_FILE),
                  metadata={"method": "uce", "base_model": str(backend.config.get("model"))})
        result.files.append(Path(out_dir) / EDIT_FILE)
    return result
