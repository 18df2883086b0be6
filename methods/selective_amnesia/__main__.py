"""CLI: ``python -m methods.selective_amnesia --model MODEL --forget CONCEPT --out DIR`` (see the package docstring).

The same entry and preset as the Amnesia tab (:func:`~methods.selective_amnesia.compare.forget`); it prints the tab's
verdict and table. Digits: writes ``DIR/generator.safetensors``, ``DIR/config.json`` and ``DIR/report.json``;
emoji-sd and Stable Diffusion: ``DIR`` becomes a diffusers pipeline plus ``unlearning_studio.json``, ``report.json``
(and, for emoji-sd, a model card). ``--baseline`` adds the surrogate-only fine-tune, ``--attack`` the recovery attack
(``DIR/attack/``).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from ..backends import load_generator
from ..judges.clip import DEFAULT_CLIP
from ..runtime import use_all_cores
from ..runtime.cli import print_result
from .compare import forget
from .config import TRAIN_METHODS, AmnesiaConfig, presets_for
from ..errors import InputError


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
    p.add_argument("--attack", action=argparse.BooleanOptionalAction, default=None,
                   help="then try to bring the concept back and write DIR/attack/ (default: the preset's): digits, a latent "
                   "attack; emoji-sd, a seed search over its rewordings judged by its own judge; Stable Diffusion, a seed "
                   "search judged by CLIP (--judge, --paraphrase, --attack-seeds)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                   help="also fine-tune to the surrogate alone (no EWC, no replay) and judge it beside (digits, emoji-sd)")
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
    use_all_cores()
    try:
        backend = load_generator(args.model)
        presets = presets_for(args.model)
        if args.preset not in presets:
            raise InputError(f"'{args.model}' has no {args.preset} preset (it has: {', '.join(presets)})")
        preset = presets[args.preset]
        config = AmnesiaConfig.for_model(args.model, preset, **settings)
        # the tab's entry with the tab's options; the flags only override them
        options = dict(preset.options)
        options.update({k: v for k, v in (("attack", args.attack), ("compare_baseline", args.baseline)) if v is not None})
        if backend.open_vocabulary:  # a model with its own judge (emoji-sd) takes what it needs of these
            options.update(judge_model=args.judge, paraphrases=args.paraphrases, attack_seeds=args.attack_seeds)
        result = forget(backend, config, out_dir=args.out, **options)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    print_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
