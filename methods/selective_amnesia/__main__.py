"""CLI: ``python -m methods.selective_amnesia --model MODEL --forget CONCEPT --out DIR`` (see the package docstring).

Digits: writes ``DIR/generator.safetensors``, ``DIR/config.json`` and ``DIR/report.json`` (before/after metrics);
``--baseline`` adds the surrogate-only fine-tune's measure, ``--attack`` the recovery attack (``DIR/attack/``).
Stable Diffusion: ``DIR`` becomes a diffusers pipeline plus ``unlearning_studio.json`` and ``report.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from ..backends import BackendError, load_generator
from ..judges.clip import DEFAULT_CLIP
from .compare import forget_and_compare, forget_prompt_and_compare
from .config import TRAIN_METHODS, AmnesiaConfig, presets_for


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m methods.selective_amnesia",
                                description="Selective Amnesia (Heng & Soh, NeurIPS 2023): a conditional generator forgets a concept.")
    p.add_argument("--model", required=True, help="digits-cvae | digits-ddpm | a Stable Diffusion Hub id or local pipeline folder")
    p.add_argument("--forget", required=True, help="the concept to forget: a class (e.g. 0) or a prompt (e.g. 'Brad Pitt')")
    p.add_argument("--surrogate", help="noise, another class, or a surrogate prompt (default: noise; SD: 'a middle-aged man')")
    p.add_argument("--preset", choices=["quick", "full"], default="full",
                   help="the model's preset (quick: the tab's default; Stable Diffusion has full only)")
    p.add_argument("--lmbda", type=float, help="EWC weight (default: the model's)")
    p.add_argument("--gamma", type=float, help="replay weight (default 1)")
    p.add_argument("--steps", type=int, help="forgetting steps (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, help="batch, half surrogate and half replay (default: the model's)")
    p.add_argument("--fisher-samples", type=int, help="own samples for the Fisher (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--attack", action="store_true", help="then try to bring the concept back and write DIR/attack/ (latents.npy, "
                   "report.json): digits, a latent attack (also original_latents.npy); Stable Diffusion, a seed search "
                   "judged by CLIP (--judge, --paraphrase, --attack-seeds)")
    p.add_argument("--baseline", action="store_true", help="digits: also fine-tune to the surrogate alone (no EWC, no replay)")
    sd = p.add_argument_group("Stable Diffusion")
    sd.add_argument("--replay-prompt", action="append", dest="replay_prompts", help="a concept to remember (repeat; default: 6 generic prompts)")
    sd.add_argument("--train-method", choices=TRAIN_METHODS)
    sd.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    sd.add_argument("--gradient-checkpointing", action="store_true", default=None)
    sd.add_argument("--samples-per-concept", type=int, help="original's samples drawn per surrogate/replay prompt (default 8)")
    sd.add_argument("--sample-steps", type=int, help="sampler steps (default 50)")
    sd.add_argument("--resolution", type=int, help="image side (default: the model's)")
    sd.add_argument("--judge", default=DEFAULT_CLIP, help=f"--attack's CLIP judge: a Hub id or local folder (default {DEFAULT_CLIP})")
    sd.add_argument("--paraphrase", action="append", dest="paraphrases", default=[],
                    help="--attack also asks for this rewording of the forgotten prompt (repeat)")
    sd.add_argument("--attack-seeds", type=int, default=8, help="--attack's seeds per prompt (default 8)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    settings = {k: v for k, v in vars(args).items()
                if k not in ("model", "out", "preset", "attack", "baseline", "judge", "paraphrases", "attack_seeds")}
    try:
        backend = load_generator(args.model)
        presets = presets_for(args.model)
        if args.preset not in presets:
            raise ValueError(f"'{args.model}' has no {args.preset} preset (it has: {', '.join(presets)})")
        config = AmnesiaConfig.for_model(args.model, presets[args.preset], **settings)
        if backend.open_vocabulary:
            result = forget_prompt_and_compare(backend, config, out_dir=args.out if _is_main_process() else None,
                                               attack=args.attack, judge_model=args.judge, paraphrases=args.paraphrases,
                                               attack_seeds=args.attack_seeds)
            report = result.report
        else:  # judged on 500 samples a class, as the benchmark
            result = forget_and_compare(backend, config, out_dir=args.out, eval_per_class=500, attack=args.attack,
                                        compare_baseline=args.baseline)
            report = result.report
    except (BackendError, ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    if "after" in report:
        a = report["after"]
        print(f"wrote {args.out}: P(forgotten) {a['forgotten_probability']:.3f}, entropy {a['forgotten_entropy']:.3f}, "
              f"remembered accuracy {a['remembered_accuracy']:.3f}, leakage {a['leakage']:.3f}")
        if "baseline" in report:
            b = report["baseline"]["after"]
            print(f"  surrogate only (no EWC, no replay): P(forgotten) {b['forgotten_probability']:.3f}, remembered "
                  f"accuracy {b['remembered_accuracy']:.3f} (lowest {min(b['per_class_accuracy'].values()):.3f})")
        if "attack" in report:
            print(f"  recovery attack ({args.out / 'attack'}): recovered {report['attack']['recovered_unlearned']:.0%} "
                  f"(original: {report['attack']['recovered_original']:.0%})")
    else:
        print(f"wrote {args.out}: {report['steps']} steps, {report['step_s']} s/step, peak {report['peak_memory_mb']} MB "
              f"({report['memory_kind']}), SSIM before/after {report['ssim_before_after']}")
        attack = report.get("attack", {})
        if "unavailable" in attack:
            print(f"  recovery attack did not run: {attack['unavailable']}")
        elif attack:
            print(f"  recovery attack ({args.out / 'attack'}): CLIP calls {attack['recovered_unlearned']:.0%} of the seeds "
                  f"'{config.forget}' (original: {attack['recovered_original']:.0%})")
    return 0


def _is_main_process() -> bool:
    """Only one process writes the result under ``accelerate launch``."""
    from accelerate import PartialState

    return PartialState().is_main_process


if __name__ == "__main__":
    raise SystemExit(main())
