"""CLI: ``python -m methods.esd --model emoji-sd --forget "a cat" --out DIR`` (see the package docstring). ``DIR``
becomes a diffusers pipeline (``StableDiffusionPipeline.from_pretrained(DIR)``) with a model card and ``report.json``."""
from __future__ import annotations

from typing import Optional

from ..backends import load_generator
from ..runtime import use_all_cores
from ..runtime.cli import eraser_arguments, eraser_options, print_result, split_prompts
from .config import PRESETS, TRAIN_METHODS, ESDConfig
from .run import erase
from ..errors import InputError


def main(argv: Optional[list[str]] = None) -> int:
    p = eraser_arguments("python -m methods.esd", "ESD (Gandikota et al., ICCV 2023): erase prompts by negative guidance.")
    p.add_argument("--train-method", choices=list(TRAIN_METHODS), help="xattn = ESD-x (default), noxattn = ESD-u")
    p.add_argument("--negative-guidance", type=float)
    p.add_argument("--iterations", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    args = p.parse_args(argv)
    use_all_cores()
    preset = PRESETS[args.preset]
    try:
        backend = load_generator(args.model)
        if args.surrogate:
            raise InputError("ESD has no surrogate: it steers the erased prompt away from itself")
        config = ESDConfig.for_model(args.model, preset, forget=split_prompts(args.forget), train_method=args.train_method,
                                     negative_guidance=args.negative_guidance, iterations=args.iterations, lr=args.lr,
                                     batch_size=args.batch_size, mixed_precision=args.mixed_precision, seed=args.seed)
        options = eraser_options(preset, args)
        result = erase(backend, config, out_dir=args.out, **options)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    print_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
