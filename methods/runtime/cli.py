"""What the command-line entry points share: a tqdm bar as a progress callable."""
from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from .config import Preset
from .progress import ProgressFn


@contextlib.contextmanager
def tqdm_progress(total: int, desc: str, unit: str) -> Iterator[ProgressFn]:
    """A progress callable that moves a tqdm bar of ``total`` units (fraction × total); silent on a process other
    than the main one."""
    from tqdm import tqdm

    from .distributed import is_main_process

    if not is_main_process():
        yield lambda fraction, message: None
        return

    with tqdm(total=total, desc=desc, unit=unit) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * total)
            bar.set_postfix_str(message)
            bar.refresh()

        yield progress


def eraser_arguments(prog: str, description: str):
    """The arguments every eraser of a text-to-image model takes (UCE, ESD): the model, what to erase and into what,
    the preset, the attack, the output folder."""
    from pathlib import Path

    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--model", required=True, help="emoji-sd, a Stable Diffusion Hub id or a local pipeline folder")
    p.add_argument("--forget", required=True, action="append",
                   help="a prompt to erase (repeat, or separate with commas, to erase several at once: 'a cat, a dog')")
    p.add_argument("--surrogate", help="what the erased prompts become (default: the method's)")
    p.add_argument("--preset", choices=["quick", "full"], default="full")
    p.add_argument("--attack", action="store_true", default=None, help="run the seed-search recovery attack (full: on)")
    p.add_argument("--judge-samples", type=int, help="images per concept the judge sees (default: the preset's)")
    p.add_argument("--others", type=int, help="unrelated concepts judged beside the neighbours (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    return p


def eraser_options(preset: Preset, args: argparse.Namespace) -> dict:
    """The run's options: the preset's, with what the command line overrode (the attack, the judge's samples)."""
    from ..errors import InputError

    if args.judge_samples is not None and not 1 <= args.judge_samples <= 64:
        raise InputError("--judge-samples must be between 1 and 64")
    if args.others is not None and not 0 <= args.others <= 64:
        raise InputError("--others must be between 0 and 64")
    chosen = {"attack": args.attack, "eval_per_concept": args.judge_samples, "others_limit": args.others}
    return {**preset.options, **{k: v for k, v in chosen.items() if v is not None}}


def split_prompts(values: list[str]) -> tuple[str, ...]:
    """``--forget 'a cat, a dog' --forget 'a fish'`` -> ('a cat', 'a dog', 'a fish')."""
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def print_result(result, out) -> None:
    """The verdict and where the files went, as the tab shows them (by the main process only)."""
    from .distributed import is_main_process

    if not is_main_process():
        return
    print(result.verdict)
    for row in result.metrics:
        print(f"  {row.name}: " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values))
    print(f"wrote {out}")
