"""The concept erasers of a text-to-image model, side by side: Selective Amnesia, ESD and UCE on the same model,
prompts, surrogate and seeds, judged by one judge and one attack (:mod:`methods.judges.concept_edit`).

:data:`ERASERS` names each one's entry, config and presets (the Amnesia tab's method choice reads it);
:func:`compare_erasers` runs them one after another and makes one table and one row of images per method.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import esd, uce
from . import selective_amnesia as sa
from .backends import GeneratorBackend
from .runtime import CancelFn, MetricRow, Preset, ProgressFn, RunResult, report_progress, subrange, write_json
from .errors import InputError
from .registry import METHODS, Method
from .runtime.attack import SEED_SEARCH_CPU_S


@dataclass(frozen=True)
class Eraser:
    """One method that erases prompts, as the comparison needs it; its entry, presets and paper are its registry
    entry's (:data:`methods.registry.METHODS`)."""

    method: str  # its registry name
    make_config: Callable[..., Any]  # (model, preset, forget: tuple of prompts, surrogate: str, seed: int) -> config
    uses_surrogate: bool  # the erased prompt is remapped to a surrogate (ESD steers away instead)
    several: bool  # erases several prompts in one run

    @property
    def spec(self) -> Method:
        return METHODS[self.method]

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def paper(self) -> str:
        return self.spec.paper

    @property
    def entry(self) -> Callable[..., RunResult]:  # (backend, config, out_dir=, progress=, cancel=, **preset options)
        return self.spec.load("entry")

    @property
    def presets(self) -> dict[str, Preset]:
        return self.spec.presets_for("emoji-sd")


def _sa_config(model: str, preset: Preset, forget: tuple[str, ...], surrogate: str, seed: int = 0):
    if len(forget) != 1:
        raise InputError("Selective Amnesia forgets one prompt per run here: pick ESD or UCE to erase several at once")
    return sa.AmnesiaConfig.for_model(model, preset, forget=forget[0], surrogate=surrogate or "noise", seed=seed)


ERASERS: dict[str, Eraser] = {e.method: e for e in (
    Eraser("selective_amnesia", _sa_config, uses_surrogate=True, several=False),
    Eraser("esd", lambda model, preset, forget, surrogate, seed=0: esd.ESDConfig.for_model(model, preset, forget=forget,
                                                                                           seed=seed),
           uses_surrogate=False, several=True),
    Eraser("uce", lambda model, preset, forget, surrogate, seed=0: uce.UCEConfig.for_model(
        model, preset, forget=forget, surrogate=surrogate, seed=seed), uses_surrogate=True, several=True),
)}

# Selective Amnesia's measured time on emoji-sd in the comparison (its registry estimate covers every model; this one
# is benchmarks/results/emoji_sd_amnesia.md's, judging all of emoji-sd's concepts included).
SA_CPU_S = {"quick": 31.0, "full": 140.0}


def eraser_seconds(method: str, preset: Preset, with_attack: bool, n_prompts: int = 1) -> float:
    """A run's expected time on the reference CPU with emoji-sd (the tab's budget check and its time left)."""
    if method == "selective_amnesia":
        return SA_CPU_S[preset.name] + (SEED_SEARCH_CPU_S * n_prompts if with_attack else 0.0)
    config = ERASERS[method].make_config("emoji-sd", preset, tuple(f"prompt {i}" for i in range(n_prompts)), "", 0)
    return METHODS[method].seconds(config, preset, attack=with_attack)


def compare_erasers(backend: GeneratorBackend, forget: Sequence[str], surrogate: str, model: str = "emoji-sd",
                    preset: str = "quick", attack: bool = True, seed: int = 0, out_dir: Optional[Path] = None,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                    methods: Sequence[str] = tuple(ERASERS), n_show: int = 6, **options: Any) -> RunResult:
    """Every eraser in ``methods`` on the same prompts, surrogate and seeds, one after another; the table has one
    column per method (and the original), the gallery one row per method. Methods that cannot take the request
    (Selective Amnesia with several prompts) are skipped and said so. ``options`` override every method's preset
    options alike (e.g. ``eval_per_concept``, ``attack_seeds``)."""
    forget = tuple(forget)
    done: dict[str, RunResult] = {}
    skipped: dict[str, str] = {}
    usable = [m for m in methods if ERASERS[m].several or len(forget) == 1]
    for m in methods:
        if m not in usable:
            skipped[m] = f"{ERASERS[m].label} forgets one prompt per run"
    sample_steps = None  # every method's images drawn with the first one's sampler: the judge sees like with like
    for k, name in enumerate(usable):
        eraser = ERASERS[name]
        chosen = eraser.presets[preset]
        config = eraser.make_config(model, chosen, forget, surrogate, seed)
        sample_steps = sample_steps or config.sample_steps
        config = replace(config, sample_steps=sample_steps)
        run_options = {**chosen.options, **options, "attack": attack}
        part = subrange(progress, k / len(usable), (k + 1) / len(usable), f"{eraser.label}: ")
        started = time.perf_counter()
        result = eraser.entry(backend, config, out_dir=None if out_dir is None else Path(out_dir) / name, progress=part,
                              cancel=cancel, **run_options)
        result.report["click_s"] = round(time.perf_counter() - started, 1)
        done[name] = result
    report_progress(progress, 1.0, "done")
    return _side_by_side(done, skipped, forget, surrogate, out_dir, n_show)


def _side_by_side(done: dict[str, RunResult], skipped: dict[str, str], forget: tuple[str, ...], surrogate: str,
                  out_dir: Optional[Path], n_show: int) -> RunResult:
    first = next(iter(done.values()))
    j0 = first.report["judged"]
    columns = ["original"] + [ERASERS[m].label for m in done]
    judged = {m: r.report["judged"] for m, r in done.items()}
    erased = list(j0["forgotten"])
    neighbours, others = list(j0["neighbours"]), list(j0["others"])

    def mean(group: dict, when: str) -> float:
        return float(np.mean([v[when] for v in group.values()])) if group else float("nan")

    rows = [MetricRow(f"'{c}' recognised (erased; lower is better)",
                      (j0["forgotten"][c]["before"], *(judged[m]["forgotten"][c]["after"] for m in done))) for c in erased]
    rows.append(MetricRow(f"same-group neighbours recognised, mean of {len(neighbours)} (nearby damage)",
                          (mean(j0["neighbours"], "before"), *(mean(judged[m]["neighbours"], "after") for m in done))))
    rows.append(MetricRow("neighbours kept (at least 90% of their rate before)",
                          ("—", *(f"{len(judged[m]['neighbours_kept'])}/{len(neighbours)}" for m in done))))
    rows.append(MetricRow(f"other concepts recognised, mean of {len(others)}",
                          (j0["others_mean"]["before"], *(judged[m]["others_mean"]["after"] for m in done))))
    if all("attack" in r.report for r in done.values()):
        rows.append(MetricRow("recovery attack: rewordings × seeds the judge calls an erased concept",
                              (first.report["attack"]["recovered_original"],
                               *(r.report["attack"]["recovered_unlearned"] for r in done.values())), expert="seed search"))
    rows.append(MetricRow("time (s)", ("—", *(r.report["click_s"] for r in done.values()))))
    rows.append(MetricRow("parameters changed", ("—", *(r.report["trainable_parameters"] for r in done.values()))))

    shown = [p for p in first.galleries["before"]][:2]  # the (first) erased prompt, then the surrogate or a neighbour
    galleries: dict[str, dict[str, Any]] = {"before": {f"original: {p}": first.galleries["before"][p][:n_show] for p in shown},
                                            "after": {}}
    for p in shown:
        for m, r in done.items():
            galleries["after"][f"{ERASERS[m].label}: {p}"] = r.galleries["after"][p][:n_show]
    report = {"method": "compare", "forget": list(forget), "surrogate": surrogate, "skipped": skipped,
              "methods": {m: {k: r.report[k] for k in ("judged", "wall_s", "click_s", "trainable_parameters", "settings")
                              if k in r.report} | ({"attack": r.report["attack"]} if "attack" in r.report else {})
                          for m, r in done.items()}}
    files = [f for r in done.values() for f in r.files]
    if out_dir is not None:
        write_json(Path(out_dir) / "compare.json", report)
        files.append(Path(out_dir) / "compare.json")
    return RunResult("compare", None, columns, rows, galleries, report, files,
                     verdict=_compare_verdict(done, judged, erased, skipped))


def _compare_verdict(done: dict[str, RunResult], judged: dict[str, dict], erased: list[str], skipped: dict[str, str]) -> str:
    """One plain sentence: which method erased most, which kept the neighbours and the rest best, which held under attack."""
    label = {m: ERASERS[m].label for m in done}
    erased_rate = {m: float(np.mean([judged[m]["forgotten"][c]["after"] for c in erased])) for m in done}
    kept = {m: float(np.mean([v["after"] for v in judged[m]["neighbours"].values()] or [np.nan])) for m in done}
    rest = {m: judged[m]["others_mean"]["after"] for m in done}
    best_kept = max(kept, key=lambda m: (np.nan_to_num(kept[m]), rest[m]))

    def ranked(what: str, rates: dict[str, float], best: str, unit: str) -> str:
        """"Erased most: UCE (0%; ESD-x 12%)", or, when the rates tie, that they all did it equally."""
        if len(done) > 1 and len({round(v, 3) for v in rates.values()}) == 1:
            return f"{what}: all {len(done)} alike ({unit} {rates[best]:.0%})"
        others = ", ".join(f"{label[m]} {rates[m]:.0%}" for m in done if m != best)
        return f"{what}: {label[best]} ({rates[best]:.0%}" + (f"; {others})" if others else ")")

    parts = [ranked("Erased most", erased_rate, min(erased_rate, key=erased_rate.get), "the judge still sees it"),
             ranked("kept the neighbours best", kept, best_kept, "neighbours recognised")]
    if all("attack" in r.report for r in done.values()):
        recovered = {m: r.report["attack"]["recovered_unlearned"] for m, r in done.items()}
        parts.append(ranked("least recovered under the attack", recovered, min(recovered, key=recovered.get), "recovered"))
    text = "; ".join(parts) + "."
    if skipped:
        text += " Not run: " + "; ".join(skipped.values()) + "."
    return text
