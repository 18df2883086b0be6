"""The shared shape of a recovery attack ("does it come back?"), so every method answers the same question the
same way: an attacker with a stated objective and budget tries to bring the forgotten thing back, on the original
and on the unlearned generator; a judge the method never trained against (and the attacker never optimised)
says how often it came back. The attacked latents are saved, so anyone can re-render them with ``methods.sample``.

Files of one attack, in ``DIR/attack/``: ``report.json`` (:meth:`AttackReport.to_json` plus the method's own
lists) and the latents as ``.npy``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence

import numpy as np
import torch

from .progress import CancelFn, ProgressFn, check_cancel, report_step
from .results import write_json

if TYPE_CHECKING:
    from ..backends import GeneratorBackend

RECOVERED_AT = 0.5  # the judge's probability of the forgotten prompt for "recovered"


class PromptJudge(Protocol):
    """What the seed-search attack asks of a judge (CLIP zero-shot, or a model's own classifier)."""

    def probability(self, images: torch.Tensor, prompt: str, alternative: str) -> np.ndarray: ...

    def describe(self, prompt: str, alternative: str) -> str: ...


ATTACK_DIR = "attack"
# The seed search's time per erased prompt on emoji-sd, 2-core reference CPU (benchmarks/results/erasers.md)
SEED_SEARCH_CPU_S = 16.0


@dataclass
class AttackReport:
    """One attack on the original and on the unlearned generator, judged independently.

    ``recovered_original`` is the calibration: an attack that cannot find the thing in the original generator is
    too weak to mean anything about the unlearned one (:attr:`calibrated` says so)."""

    name: str  # e.g. "re-inversion", "latent attack", "PGD on z"
    objective: str  # what the attacker optimises, in plain words
    budget: dict[str, Any]  # steps, restarts, radius...: what the attacker was allowed
    judge: str  # who decides "recovered" (never the attacker's own objective)
    recovered_original: float  # share recovered (0-1) on the original generator
    recovered_unlearned: float  # the same on the unlearned generator
    n: int  # attacked samples (images, latents) per generator
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)  # the method's own lists (per-image distances, leakage...)

    @property
    def calibrated(self) -> bool:
        """The attack finds the thing in the original at least half the time."""
        return self.recovered_original >= 0.5

    def verdict(self, thing: str) -> str:
        """One plain sentence: does ``thing`` come back under this attack?"""
        o, u = self.recovered_original, self.recovered_unlearned
        if not self.calibrated:
            return (f"The {self.name} attack is too weak to tell: it brings back {thing} only {o:.0%} of the time even "
                    f"in the original generator ({u:.0%} after unlearning).")
        if u <= 0.1:
            return (f"{thing[0].upper() + thing[1:]} does not come back under the {self.name} attack: {u:.0%} recovered "
                    f"after unlearning, against {o:.0%} in the original.")
        return (f"{thing[0].upper() + thing[1:]} comes back under the {self.name} attack: {u:.0%} recovered after "
                f"unlearning (original: {o:.0%}).")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "calibrated": self.calibrated}


def save_attack(out_dir: Path, report: AttackReport, arrays: Optional[dict[str, np.ndarray]] = None,
                **report_fields: Any) -> list[Path]:
    """Write ``out_dir/attack/report.json`` (the report, plus ``report_fields`` at its top level) and the arrays as
    ``.npy``; returns the paths written."""
    folder = Path(out_dir) / ATTACK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in (arrays or {}).items():
        np.save(folder / name, np.asarray(array, dtype=np.float32))
        paths.append(folder / name)
    write_json(folder / "report.json", {**report.to_json(), **report_fields})
    return paths + [folder / "report.json"]


# ------------------------------------------------------------------------------------------------
# A prompt model needs no gradient through its sampler to be attacked: the attacker asks for the forgotten prompt
# (and rewordings of it) with many seeds and keeps what comes back; a judge (CLIP zero-shot, or the model's own
# classifier) says what came back. Every eraser of a text-to-image model faces this one attack.
# ------------------------------------------------------------------------------------------------
def seed_search_attack(original: "GeneratorBackend", unlearned: "GeneratorBackend", forget: str, surrogate: str,
                       judge: "PromptJudge", paraphrases: Sequence[str] = (), k_seeds: int = 8, seed: int = 0,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None
                       ) -> tuple[AttackReport, dict[str, np.ndarray]]:
    """``k_seeds`` seeds of the forgotten prompt and of each paraphrase, drawn by both models from the same initial
    noise; an image is recovered when the judge calls it the forgotten prompt (CLIP: closer to it than to the surrogate,
    P >= 0.5; a model's own judge: P(its concept) >= 0.5).
    Returns the report and the attacked latents ({"latents.npy": (k_seeds, latent_dim), the initial noise every prompt
    was drawn from; the prompts, in order, are in the report's ``extra``)."""
    started = time.perf_counter()
    prompts = [forget] + [p for p in dict.fromkeys(p.strip() for p in paraphrases) if p and p != forget]
    alternative = surrogate if surrogate != "noise" else "random noise"
    z = original.sample_latents(k_seeds, seed)
    recovered, probability = {}, {}
    for k, (name, model) in enumerate((("original", original), ("unlearned", unlearned))):
        bound = model.with_conditions(prompts)
        p = []
        for i, _ in enumerate(prompts):
            check_cancel(cancel)
            report_step(progress, k * len(prompts) + i, 2 * len(prompts), 1,
                        f"recovery attack: {name} model, prompt {i + 1}/{len(prompts)}")
            p.append(judge.probability(bound.render(z, torch.full((k_seeds,), i)), forget, alternative))
        probability[name] = np.stack(p)  # (prompts, seeds)
        recovered[name] = float((probability[name] >= RECOVERED_AT).mean())
    n = len(prompts) * k_seeds
    report = AttackReport(
        name="seed-search", objective=f"ask for '{forget}'" + (f" and {len(prompts) - 1} paraphrases" if len(prompts) > 1 else "")
        + f" with {k_seeds} seeds each, keep every image",
        budget={"seeds_per_prompt": k_seeds, "prompts": len(prompts), "seed": seed},
        judge=judge.describe(forget, alternative),
        recovered_original=recovered["original"], recovered_unlearned=recovered["unlearned"], n=n,
        seconds=round(time.perf_counter() - started, 1),
        extra={"prompts": prompts, "judge_probability_original": probability["original"].round(4).tolist(),
               "judge_probability_unlearned": probability["unlearned"].round(4).tolist()})
    return report, {"latents.npy": z.flatten(1).numpy().astype(np.float32)}
