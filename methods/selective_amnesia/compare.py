"""From settings to a :class:`~methods.runtime.RunResult`: run Selective Amnesia, measure before and after,
and draw every concept on fixed latents — what the Amnesia tab shows. Digits are judged by the digits
classifier; prompts (Stable Diffusion) by what can be measured offline."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..backends import GeneratorBackend
from ..runtime import (AttackReport, CancelFn, MetricRow, ProgressFn, RunResult, report_progress, save_attack, save_run,
                       subrange, to_uint8)
from ..runtime.attack import seed_search_attack
from ..runtime.distributed import is_main_process
from ..runtime.results import other_process_result
from ..judges.clip import DEFAULT_CLIP, JudgeUnavailable, clip_judge
from ..judges.concept_edit import concept_edit_result
from .attack import latent_attack
from .config import ATTACK_BUDGET, AmnesiaConfig, model_kind
from ..runtime.gallery import GALLERY_SEED, concept_grid, original_concept_grid
from .evaluate import evaluate, evaluate_original, image_similarity, prompt_verdict, surrogate_fit, verdict
from .train import run

COLUMNS = ["before", "after"]


def forget_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, n_show: int = 8,
                       eval_per_class: int = 200, attack: bool = False, compare_baseline: bool = False) -> RunResult:
    """Selective Amnesia on a class-conditional model, judged before and after by the digits classifier.

    ``compare_baseline``: the paper's ablation beside it — the same fine-tuning to the surrogate alone (λ = γ = 0: no
    Fisher penalty, no replay), same seed. ``attack``: then try to bring the forgotten class back
    (:func:`~methods.selective_amnesia.attack.latent_attack`); its files go to ``out_dir/attack/``."""
    share = 0.7 if compare_baseline else 0.85
    result = run(config, backend, progress=subrange(progress, 0, share / (2 if compare_baseline else 1)), cancel=cancel)
    baseline = None
    if compare_baseline:
        baseline = run(replace(config, lmbda=0.0, gamma=0.0), backend, progress=subrange(progress, share / 2, share, "baseline: "),
                       cancel=cancel)
    if not is_main_process():
        return other_process_result("selective_amnesia", result.report)
    report_progress(progress, share, "measuring the original with the digits classifier")
    before_eval = evaluate_original(backend, config.forget, n_per_class=eval_per_class)
    report_progress(progress, share + 0.03, "measuring the result with the digits classifier")
    after_eval = evaluate(result.generator, config.forget, n_per_class=eval_per_class)
    result.report.update(before=before_eval, after=after_eval)
    baseline_eval = evaluate(baseline.generator, config.forget, n_per_class=eval_per_class) if baseline else None
    if baseline_eval is not None:
        result.report["baseline"] = {"settings": "the same run with λ = 0 and γ = 0 (surrogate only)", "after": baseline_eval,
                                     "wall_s": baseline.report["wall_s"]}
    galleries = {"before": original_concept_grid(backend, n_show), "after": concept_grid(result.generator, n_show)}
    if baseline is not None:
        galleries["surrogate only"] = concept_grid(baseline.generator, n_show)
    attack_report, attack_latents = None, {}
    if attack:
        report_progress(progress, 0.92, "recovery attack: searching the latents for the forgotten class")
        budget = ATTACK_BUDGET.get(model_kind(backend.name), {})
        attack_report, attack_latents = latent_attack(backend, result.generator, config.forget, seed=config.seed,
                                                      progress=subrange(progress, 0.92, 0.99), cancel=cancel, **budget)
        result.report["attack"] = attack_report.to_json()
        f_idx = backend.condition_index(config.forget)
        shown = {k: torch.from_numpy(v[:n_show]).reshape(-1, *backend.latent_shape) for k, v in attack_latents.items()}
        galleries["recovery attack"] = {
            "original": to_uint8(backend.render(shown["original_latents.npy"], torch.full((len(shown["latents.npy"]),), f_idx))),
            "after": to_uint8(result.generator.render(shown["latents.npy"], torch.full((len(shown["latents.npy"]),), f_idx)))}
    columns = COLUMNS + (["surrogate only (no EWC, no replay)"] if baseline_eval else [])
    metrics = _digit_rows(config.forget, [before_eval, after_eval] + ([baseline_eval] if baseline_eval else []),
                          ["—", result.report["wall_s"]] + ([baseline.report["wall_s"]] if baseline else []), attack_report)
    files = save_run(out_dir, result.generator, result.report) if out_dir is not None else []
    if attack_report is not None and out_dir is not None:
        files += save_attack(out_dir, attack_report, attack_latents, recovered_rate=attack_report.recovered_unlearned,
                             original_recovered_rate=attack_report.recovered_original)
    report_progress(progress, 1.0, "done")
    headline = verdict(config.forget, config.surrogate, before_eval, after_eval, baseline_eval)
    if attack_report is not None:
        headline += " " + attack_report.verdict(f"digit {config.forget}")
    return RunResult("selective_amnesia", result.generator, columns, metrics, galleries, result.report, files,
                     verdict=headline)


def _digit_rows(forget: str, evals: list[dict], seconds: list, attack: Optional[AttackReport]) -> list[MetricRow]:
    """The judge's rows, one value per column (before, after[, surrogate only]); the attack's where it ran."""
    f, pad = forget, ("",) * (len(evals) - 2)
    rows = [
        MetricRow(f"P(class {f}) on samples of '{f}' (chance 0.1)", tuple(e["forgotten_probability"] for e in evals)),
        MetricRow(f"classifier entropy on samples of '{f}' (max ln 10 = 2.303)", tuple(e["forgotten_entropy"] for e in evals)),
        MetricRow("accuracy on samples of the remembered classes", tuple(e["remembered_accuracy"] for e in evals)),
        MetricRow("lowest remembered-class accuracy", tuple(min(e["per_class_accuracy"].values()) for e in evals)),
        MetricRow(f"other digits' samples the judge calls a {f} (leakage)", tuple(e["leakage"] for e in evals)),
    ]
    if attack is not None:
        rows.append(MetricRow(f"recovery attack: searched latents the judge calls a {f} (P >= 0.5), of {attack.n}",
                              (attack.recovered_original, attack.recovered_unlearned, *pad), expert="latent attack"))
    return rows + [MetricRow("time: Fisher + forgetting (s)", tuple(seconds))]


def forget_prompt_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                              progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                              n_show: int = 2, shown_replay: int = 2, attack: bool = False, judge_model: str = DEFAULT_CLIP,
                              paraphrases: Sequence[str] = (), attack_seeds: int = 8) -> RunResult:
    """Selective Amnesia on a prompt-conditioned model (``config.forget`` is a prompt), compared on fixed seeds.

    What is always measured: SSIM before/after per prompt (the forgotten prompt should change, the replay prompts
    should not), the forgotten prompt's noise-prediction loss on the surrogate's images (the training fit), time and
    memory. ``attack``: then a seed search (``attack_seeds`` seeds of the prompt and each of ``paraphrases``) judged by
    CLIP ``judge_model`` (:func:`~methods.runtime.attack.seed_search_attack`); when CLIP cannot be loaded
    (offline) the report and the verdict say the judge is unavailable.
    """
    report_progress(progress, 0.0, "forgetting")
    result = run(config, backend, progress=subrange(progress, 0, 0.85), cancel=cancel)
    if not is_main_process():
        return other_process_result("selective_amnesia", result.report)
    after_backend = result.generator
    adapter = result.adapter  # its buffer already holds the surrogate's samples
    bound = adapter.backend  # the original, with this run's prompts as concepts
    forget_idx = 0
    surrogate_idx = None if config.surrogate == "noise" else bound.condition_index(config.surrogate)
    fit_before = surrogate_fit(adapter, bound.module, forget_idx, surrogate_idx)
    fit_after = surrogate_fit(adapter, after_backend.module, forget_idx, surrogate_idx)

    report_progress(progress, 0.9, "drawing the fixed-seed galleries")
    shown = bound.conditions[: 1 + (surrogate_idx is not None) + shown_replay]
    latents = bound.sample_latents(n_show, GALLERY_SEED)
    before, after, similarity = {}, {}, {}
    for i, prompt in enumerate(shown):
        cond = torch.full((n_show,), i)
        b, a = bound.render(latents, cond), after_backend.render(latents, cond)
        before[prompt], after[prompt] = to_uint8(b), to_uint8(a)
        similarity[prompt] = image_similarity(b, a)
    replay_similarity = [similarity[p] for p in shown if p not in (config.forget, config.surrogate)]
    report = result.report
    report.update(surrogate_fit_before=fit_before, surrogate_fit_after=fit_after, ssim_before_after=similarity)
    metrics = [
        MetricRow(f"SSIM before/after, '{config.forget}' (forgotten: lower = changed)", ("—", similarity[config.forget])),
        MetricRow("SSIM before/after, replay prompts shown (kept: higher = unchanged)",
                  ("—", float(np.mean(replay_similarity)) if replay_similarity else "—")),
        MetricRow(f"training fit (what the run optimises, not the result): noise-prediction loss of '{config.forget}' on the "
                  "surrogate's images", (fit_before, fit_after)),
        MetricRow("time: Fisher (s)", ("—", report["fisher_s"])),
        MetricRow("time: Fisher + forgetting (s)", ("—", report["wall_s"])),
        MetricRow("median step time (s)", ("—", report["step_s"])),
        MetricRow(f"peak memory (MB, {report['memory_kind']})", ("—", report["peak_memory_mb"])),
        MetricRow("trainable parameters", ("—", report["trainable_parameters"])),
    ]
    galleries = {"before": before, "after": after}
    headline = prompt_verdict(config.forget, similarity[config.forget],
                              float(np.mean(replay_similarity)) if replay_similarity else None)
    attack_report, attack_latents = None, {}
    if attack:
        report_progress(progress, 0.93, "recovery attack: loading the CLIP judge")
        try:
            judge = clip_judge(judge_model)
        except JudgeUnavailable as exc:
            report["attack"] = {"name": "seed-search", "unavailable": str(exc)}
            headline += f" The recovery attack did not run: {exc}"
        else:
            attack_report, attack_latents = seed_search_attack(
                bound, after_backend, config.forget, config.surrogate, judge, paraphrases, attack_seeds, config.seed,
                progress=subrange(progress, 0.93, 0.99), cancel=cancel)
            report["attack"] = attack_report.to_json()
            metrics.insert(2, MetricRow(f"recovery attack: seeds CLIP calls '{config.forget}', of {attack_report.n}",
                                        (attack_report.recovered_original, attack_report.recovered_unlearned),
                                        expert="seed search"))
            z = torch.from_numpy(attack_latents["latents.npy"][:n_show]).reshape(-1, *bound.latent_shape)
            forgotten = torch.zeros(len(z), dtype=torch.long)
            galleries["recovery attack"] = {"original": to_uint8(bound.render(z, forgotten)),
                                            "after": to_uint8(after_backend.with_conditions(bound.conditions).render(z, forgotten))}
            headline += " " + attack_report.verdict(f"'{config.forget}'")
    files = save_run(out_dir, after_backend, report) if out_dir is not None else []
    if attack_report is not None and out_dir is not None:
        files += save_attack(out_dir, attack_report, attack_latents, recovered_rate=attack_report.recovered_unlearned,
                             original_recovered_rate=attack_report.recovered_original)
    report_progress(progress, 1.0, "done")
    return RunResult("selective_amnesia", after_backend, COLUMNS, metrics, galleries, report, files, verdict=headline)


def forget_concept_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                               progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                               eval_per_concept: int = 32, others_limit: Optional[int] = None, attack: bool = False,
                               compare_baseline: bool = False, attack_seeds: int = 8, **_: Any) -> RunResult:
    """Selective Amnesia on a closed-vocabulary prompt model that ships its own judge (``emoji-sd``), judged as every
    eraser of such a model is (:func:`~methods.judges.concept_edit.concept_edit_result`): the forgotten prompt, each
    same-group neighbour and the other concepts, before and after, on held-out seeds.

    ``compare_baseline``: the surrogate-only fine-tune beside it (λ = γ = 0). ``attack``: the seed search over every
    rewording the model learnt (and one it never saw)."""
    share = 0.55 if compare_baseline else 0.75
    report_progress(progress, 0.0, "forgetting")
    result = run(config, backend, progress=subrange(progress, 0, share / (2 if compare_baseline else 1)), cancel=cancel)
    baseline = None
    if compare_baseline:
        base = run(replace(config, lmbda=0.0, gamma=0.0), backend, progress=subrange(progress, share / 2, share, "baseline: "),
                   cancel=cancel)
        baseline = ("surrogate only (no EWC, no replay)", base.generator,
                    {"settings": "the same run with λ = 0 and γ = 0 (surrogate only)", "wall_s": base.report["wall_s"]})
    if not is_main_process():
        return other_process_result("selective_amnesia", result.report)
    return concept_edit_result("selective_amnesia", result.adapter.backend, result.generator, [config.forget],
                               config.surrogate, result.report, out_dir=out_dir, progress=subrange(progress, share, 1.0),
                               cancel=cancel, eval_per_concept=eval_per_concept, others_limit=others_limit, attack=attack,
                               attack_seeds=attack_seeds, seed=config.seed, baseline=baseline)


def forget(backend: GeneratorBackend, config: AmnesiaConfig, **kwargs) -> RunResult:
    """The tab's entry point: a judged concept model (emoji-sd), any prompt model, or classes."""
    if backend.open_vocabulary and getattr(backend, "concepts", None) is not None and backend.concepts.judge:
        return forget_concept_and_compare(backend, config, **kwargs)
    if backend.open_vocabulary:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("eval_per_concept", "others_limit", "compare_baseline")}
        return forget_prompt_and_compare(backend, config, **kwargs)
    return forget_and_compare(backend, config, **kwargs)
