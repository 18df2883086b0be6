"""CLI: ``python -m methods.uce --model emoji-sd --forget "a cat" --surrogate "a dog" --out DIR`` (see the package
docstring). ``DIR`` becomes a diffusers pipeline (``StableDiffusionPipeline.from_pretrained(DIR)``) with a model card,
``report.json`` and ``uce_edit.safetensors`` (the changed tensors alone)."""
from __future__ import annotations

from typing import Optional

from ..errors import InputError
from ..backends import load_generator
from ..runtime import use_all_cores
from ..runtime.cli import eraser_arguments, eraser_options, print_result, split_prompts
from .config import PRESETS, UCEConfig
from .run import erase


def main(argv: Optional[list[str]] = None) -> int:
    p = eraser_arguments("python -m methods.uce", "UCE (Gandikota et al., WACV 2024): erase prompts in closed form.")
    p.add_argument("--preserve", action="append", help="a prompt to keep (repeat; default: every other concept of emoji-sd)")
    p.add_argument("--lamb", type=float)
    p.add_argument("--erase-scale", type=float)
    p.add_argument("--preserve-scale", type=float)
    p.add_argument("--values-only", action="store_true", help="edit to_v only (the official default edits to_k too)")
    p.add_argument("--rewordings", action="store_true", help="also erase the model's other caption templates of each concept")
    args = p.parse_args(argv)
    use_all_cores()
    preset = PRESETS[args.preset]
    try:
        backend = load_generator(args.model)
        config = UCEConfig.for_model(args.model, preset, forget=split_prompts(args.forget), surrogate=args.surrogate,
                                     preserve=tuple(args.preserve or ()), lamb=args.lamb, erase_scale=args.erase_scale,
                                     preserve_scale=args.preserve_scale, edit_keys=not args.values_only,
                                     rewordings=args.rewordings or None, seed=args.seed)
        options = eraser_options(preset, args)
        result = erase(backend, config, out_dir=args.out, **options)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    print_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
