"""Sample images from a registered generator or from a directory a method of this suite wrote.

``python -m methods.sample --generator NAME_OR_DIR --latents Z.npy --out OUT.npz``
writes ``images`` as uint8 (n, H, W, 3) (and ``latents``). A text-to-image model takes ``--prompt``:
``python -m methods.sample --generator emoji-sd --prompt "a cat" --n 32 --seed 7 --out X.npz``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .backends import GeneratorBackend, WSpaceBackend, load_generator
from .runtime import use_all_cores, to_uint8
from .errors import InputError


def sample_images(generator: GeneratorBackend, latents: np.ndarray, condition: Optional[str] = None) -> np.ndarray:
    """uint8 images (n, H, W, C) for latents of shape (n, D) [and one concept for all of them].

    D is recognised: the prior's z (e.g. 100) or, for back-ends with a richer space W, its width (e.g. 8192)."""
    latents = np.asarray(latents)
    z_width = int(np.prod(generator.latent_shape))
    w_width = int(np.prod(generator.w_shape)) if isinstance(generator, WSpaceBackend) else None
    if latents.ndim == 2 and w_width and latents.shape[1] == w_width and not generator.conditions:
        w = torch.as_tensor(latents, dtype=torch.float32).reshape(len(latents), *generator.w_shape)
        return to_uint8(generator.render_w(w))
    if latents.ndim != 2 or latents.shape[1] != z_width:
        widths = f"{z_width}" + (f" (z) or {w_width} (W)" if w_width else "")
        raise InputError(f"latents must have shape (n, {widths}) for '{generator.name}', got {latents.shape}")
    z = torch.as_tensor(latents, dtype=torch.float32).reshape(len(latents), *generator.latent_shape)
    if generator.conditions:
        if condition is None:
            raise InputError(f"'{generator.name}' is conditional: give --condition (one of {', '.join(generator.conditions)})")
        labels = torch.full((len(z),), generator.condition_index(condition))
        return to_uint8(generator.render(z, labels))
    if condition is not None:
        raise InputError(f"'{generator.name}' is not conditional: --condition does not apply")
    return to_uint8(generator.render(z))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m methods.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", required=True, help="registered back-end name or a directory written by a method")
    p.add_argument("--latents", type=Path, help=".npy array (n, D)")
    p.add_argument("--n", type=int, help="sample n latents from the prior instead of --latents")
    p.add_argument("--seed", type=int, default=0, help="seed for --n")
    p.add_argument("--condition", help="the concept to sample, for a conditional generator (e.g. 3)")
    p.add_argument("--prompt", help="the prompt, for a text-to-image generator (e.g. 'a cat' for emoji-sd)")
    p.add_argument("--guidance-scale", type=float, help="classifier-free guidance, text-to-image only (default: the model's)")
    p.add_argument("--steps", type=int, help="sampler steps, text-to-image only (default: the model's)")
    p.add_argument("--out", required=True, type=Path, help="output .npz")
    args = p.parse_args(argv)
    use_all_cores()
    try:
        generator = load_generator(args.generator)
        condition = args.condition
        if generator.open_vocabulary:
            if args.prompt is None:
                raise InputError(f"'{args.generator}' draws from a prompt: give --prompt")
            settings = {k: v for k, v in (("guidance_scale", args.guidance_scale), ("sample_steps", args.steps)) if v is not None}
            prompt = generator.check_prompt(args.prompt)
            generator, condition = generator.with_conditions([prompt], **settings), prompt
        elif args.prompt is not None:
            raise InputError(f"'{args.generator}' does not take a prompt (--condition picks a concept)")
        if args.latents is not None:
            latents = np.load(args.latents)
        elif args.n is not None and 0 < args.n <= 100_000:
            latents = generator.sample_latents(args.n, args.seed).flatten(1).numpy()
        else:
            raise InputError("give --latents Z.npy or --n N (1..100000)")
        images = sample_images(generator, latents, condition)
    except (InputError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, latents=np.asarray(latents, dtype=np.float32))
    print(f"wrote {len(images)} images {images.shape[1:]} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
