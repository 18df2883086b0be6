"""One result for every method that erases concepts from a closed-vocabulary text-to-image model (Selective Amnesia,
ESD, UCE on ``emoji-sd``): the same judge, the same held-out seeds, the same fixed-seed galleries and the same
recovery attack, so the methods can be compared side by side."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import torch

from ..runtime import (AttackReport, CancelFn, MetricRow, ProgressFn, RunResult, report_progress, save_attack, save_run,
                       subrange, to_uint8)
from ..runtime.attack import seed_search_attack
from ..runtime.gallery import concept_grid, original_concept_grid
from .concepts import concept_rows, concept_verdict, judge_concepts
from .emoji import emoji_judge

if TYPE_CHECKING:
    from ..backends import GeneratorBackend

COLUMNS = ["before", "after"]
METHOD_NAMES = {"selective_amnesia": "Selective Amnesia (Heng & Soh, NeurIPS 2023)", "esd": "ESD (Gandikota et al., ICCV 2023)",
                "uce": "UCE (Gandikota et al., WACV 2024)"}
BASE_LICENCES = {"emoji-sd": "apache-2.0"}  # emoji-sd: trained here on Noto Color Emoji renders (Apache-2.0 images)


def write_model_card(out_dir: Path, method: str, original: "GeneratorBackend", report: dict[str, Any], verdict: str) -> Path:
    """``README.md`` with Hugging Face Hub metadata: base model, method, erased concepts, the judged figures, licences,
    so the folder can be uploaded as it is (``huggingface-cli upload``)."""
    base = str(original.config.get("model", "unknown"))
    judged = report.get("judged", {})
    erased = list(judged.get("forgotten", {}))
    meta = {"library_name": "diffusers", "pipeline_tag": "text-to-image", "license": BASE_LICENCES.get(base, "other"),
            "base_model": base, "tags": ["concept-erasure", method.replace("_", "-"), "unlearning-studio"]}
    lines = ["---", *(f"{k}: {json.dumps(v)}" for k, v in meta.items()), "---", "",
             f"# {base} with {', '.join(erased) or 'a concept'} erased by {METHOD_NAMES.get(method, method)}", "",
             verdict, "",
             "| concept | judged before | judged after |", "|---|---|---|"]
    for group in ("forgotten", "neighbours", "others"):
        for concept, rates in judged.get(group, {}).items():
            lines.append(f"| {concept} ({'erased' if group == 'forgotten' else group[:-1]}) | {rates['before']:.0%} | {rates['after']:.0%} |")
    lines += ["", f"Judge: {judged.get('judge', 'n/a')}, {judged.get('n_per_concept', '?')} samples per concept on held-out seeds.",
              "", "Load it: `StableDiffusionPipeline.from_pretrained(\"<this folder>\")` (diffusers). Made with Unlearning Studio; "
              "the settings are in `report.json`.",
              "", "Licences: the base model's; emoji-sd's training images are Noto Color Emoji (Apache-2.0), its judge's also "
              "Twemoji (CC-BY 4.0)." if base == "emoji-sd" else "", ""]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    return path


def concept_edit_result(method: str, original: "GeneratorBackend", edited: "GeneratorBackend", forget: Sequence[str],
                        surrogate: str, report: dict[str, Any], *, out_dir=None, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelFn] = None, eval_per_concept: int = 32, others_limit: Optional[int] = None,
                        attack: bool = False, attack_seeds: int = 8, seed: int = 0, n_show: int = 6,
                        baseline: Optional[tuple[str, "GeneratorBackend", dict[str, Any]]] = None) -> RunResult:
    """Judge ``edited`` against ``original`` (both with the run's sampler settings) and make the tab's result.

    ``forget``: the erased prompts; ``surrogate``: what they were remapped to ("noise" or a prompt); ``report``: the
    method's own (time, settings, parameters touched), completed here; ``baseline``: (column name, generator, report)
    of a comparison run judged beside it. ``attack``: the seed search over every rewording the model learnt, per
    erased concept."""
    concepts = original.concepts
    judge = emoji_judge(concepts.judge)
    forgotten = [concepts.concept_of(p) for p in forget]
    surrogate_concept = None if surrogate == "noise" else concepts.concept_of(surrogate)
    report_progress(progress, 0.0, f"judging {eval_per_concept} samples of each concept")
    judged = lambda model: judge_concepts(original, model, judge, forgotten, surrogate_concept, eval_per_concept,  # noqa: E731
                                          others_limit)
    judgement = judged(edited)
    report["judged"] = judgement.to_json()
    base_judgement = None
    if baseline is not None:
        label, base_model, base_report = baseline
        base_judgement = judged(base_model)
        report["baseline"] = {**base_report, "judged": base_judgement.to_json()}
    columns = COLUMNS + ([baseline[0]] if baseline else [])
    pad = ("",) * (len(columns) - 2)

    report_progress(progress, 0.4, "drawing the fixed-seed galleries")
    shown = forgotten + ([surrogate_concept] if surrogate_concept else []) + judgement.neighbours[:3] + judgement.others[:2]
    shown_prompts = [concepts.prompts[c] for c in dict.fromkeys(shown)]
    before_model = original.with_conditions(shown_prompts)
    galleries = {"before": original_concept_grid(before_model, n_show),
                 "after": concept_grid(edited.with_conditions(shown_prompts), n_show)}
    if baseline is not None:
        galleries[baseline[0]] = concept_grid(baseline[1].with_conditions(shown_prompts), n_show)
    metrics = concept_rows(judgement, concepts.prompts, [base_judgement] if base_judgement else [])
    headline = concept_verdict(judgement, concepts.prompts)
    if base_judgement is not None:
        headline += (f" {baseline[0][0].upper() + baseline[0][1:]}: " + ", ".join(
            f"'{concepts.prompts[c]}' {base_judgement.after[c]:.0%}" for c in forgotten)
            + f", the other concepts {base_judgement.mean(base_judgement.others, 'after'):.0%}.")

    attack_report, attack_latents = None, {}
    if attack:
        parts = []
        for k, concept in enumerate(forgotten):
            report_progress(progress, 0.5 + 0.45 * k / len(forgotten), f"recovery attack on '{concepts.prompts[concept]}'")
            parts.append(seed_search_attack(original, edited, concepts.prompts[concept], surrogate, judge,
                                            concepts.rewordings(concept), attack_seeds, seed,
                                            progress=subrange(progress, 0.5 + 0.45 * k / len(forgotten),
                                                              0.5 + 0.45 * (k + 1) / len(forgotten)), cancel=cancel))
        attack_report, attack_latents = _merged(parts)
        report["attack"] = attack_report.to_json()
        metrics.append(MetricRow(f"recovery attack: images the judge calls the erased concept, of {attack_report.n} "
                                 f"(every rewording × {attack_seeds} seeds)",
                                 (attack_report.recovered_original, attack_report.recovered_unlearned, *pad), expert="seed search"))
        z = torch.from_numpy(attack_latents["latents.npy"][:n_show]).reshape(-1, *original.latent_shape)
        rewording = parts[0][0].extra["prompts"][-1:]  # the first concept's rewording the model never learnt
        zeros = torch.zeros(len(z), dtype=torch.long)
        galleries["recovery attack"] = {"original": to_uint8(original.with_conditions(rewording).render(z, zeros)),
                                        "after": to_uint8(edited.with_conditions(rewording).render(z, zeros))}
        headline += " " + attack_report.verdict(" and ".join(f"'{concepts.prompts[c]}'" for c in forgotten))
    metrics += [MetricRow("time (s)", ("—", report["wall_s"], *((baseline[2]["wall_s"],) if baseline else ()))),
                MetricRow("parameters changed", ("—", report["trainable_parameters"], *pad))]
    files = save_run(out_dir, edited, report) if out_dir is not None else []
    if out_dir is not None:
        files.append(write_model_card(Path(out_dir), method, original, report, headline))
    if attack_report is not None and out_dir is not None:
        files += save_attack(out_dir, attack_report, attack_latents, recovered_rate=attack_report.recovered_unlearned,
                             original_recovered_rate=attack_report.recovered_original)
    report_progress(progress, 1.0, "done")
    return RunResult(method, edited, columns, metrics, galleries, report, files, verdict=headline)


def _merged(parts: list[tuple[AttackReport, dict[str, np.ndarray]]]) -> tuple[AttackReport, dict[str, np.ndarray]]:
    """Several concepts' seed searches as one attack (same budget each: rates are the mean)."""
    if len(parts) == 1:
        return parts[0]
    reports = [r for r, _ in parts]
    first = reports[0]
    merged = AttackReport(
        name=first.name, objective="; ".join(r.objective for r in reports), budget=first.budget, judge=first.judge,
        recovered_original=float(np.mean([r.recovered_original for r in reports])),
        recovered_unlearned=float(np.mean([r.recovered_unlearned for r in reports])), n=sum(r.n for r in reports),
        seconds=round(sum(r.seconds for r in reports), 1),
        extra={"prompts": [p for r in reports for p in r.extra["prompts"]], "per_concept": [r.to_json() for r in reports]})
    return merged, parts[0][1]
