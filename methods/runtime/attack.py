"""The shared shape of a recovery attack ("does it come back?"), so every method answers the same question the
same way: an attacker with a stated objective and budget tries to bring the forgotten thing back, on the original
and on the unlearned generator; a judge the method never trained against (and the attacker never optimised)
says how often it came back. The attacked latents are saved, so anyone can re-render them with ``methods.sample``.

Files of one attack, in ``DIR/attack/``: ``report.json`` (:meth:`AttackReport.to_json` plus the method's own
lists) and the latents as ``.npy``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .results import write_json

ATTACK_DIR = "attack"


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
