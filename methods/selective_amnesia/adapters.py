"""Selective Amnesia's adapters: what the generic loop needs from each kind of conditional generator (its
per-sample −ELBO or stand-in — the objective's terms —, its own samples, the uniform-noise surrogate in its data
space). A new kind of conditional generator is one subclass of :class:`AmnesiaAdapter` and one entry in
:data:`ADAPTERS`.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch
from torch import nn
from torch.func import functional_call

from ..backends import GeneratorBackend
from ..runtime.cache import CACHE_ROOT, cached_tensors, weights_key
from .config import AmnesiaConfig
from ..errors import InputError


class AmnesiaAdapter(ABC):
    """What the generic loop needs from a conditional generator; the class attributes are its defaults."""

    vmappable: ClassVar[bool] = True  # False: the Fisher takes one backward per sample instead of vmap(grad)
    fisher_conditions: Optional[list[int]] = None  # the concept indices the Fisher samples (None: all)
    cache_tag: str = ""  # what else the cached Fisher depends on

    def __init__(self, backend: GeneratorBackend, config: Optional[AmnesiaConfig] = None) -> None:
        self.backend = backend
        self.config = config or AmnesiaConfig()

    def trainable_names(self, module: nn.Module) -> list[str]:
        """The parameters fine-tuned, penalised and in the Fisher (default: all)."""
        return [k for k, _ in module.named_parameters()]

    @abstractmethod
    def loss(self, module: nn.Module, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Mean −ELBO (or its stand-in) of a batch under ``module``."""

    @abstractmethod
    def sample(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Samples x ~ p(x|c) of the frozen original, in the model's data space."""

    @abstractmethod
    def uniform_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The 'uniform noise' surrogate in data space."""

    # Needed when ``vmappable`` (the batched Fisher):
    def per_sample_loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, c: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """−ELBO (or its stand-in) of ONE sample (no batch dimension), as a function of ``params``;
        ``c`` as given by :meth:`condition_input`."""
        raise NotImplementedError(f"{type(self).__name__} is not vmappable")

    def condition_input(self, c: torch.Tensor) -> torch.Tensor:
        """Class indices -> the form ``per_sample_loss`` takes under vmap (e.g. one-hot)."""
        return c

    def noise_like(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Per-sample noise for the loss (the VAE's ε); a placeholder where the loss draws none."""
        return torch.zeros(n, 1)


class _Bound(nn.Module):
    """Wraps a cVAE so ``functional_call`` can run its ``negative_elbo`` with given parameters."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.m = module

    def forward(self, x, c, noise):
        return self.m.negative_elbo(x, c, noise=noise)


class CVAEAdapter(AmnesiaAdapter):
    """Conditional VAE: the ELBO is the VAE's own; data are pixels in [0, 1] (N, 64)."""

    def __init__(self, backend: GeneratorBackend, config: Optional[AmnesiaConfig] = None) -> None:
        super().__init__(backend, config)
        self._bound = _Bound(backend.module)

    def per_sample_loss(self, params, x, c, noise):
        prefixed = {f"m.{k}": v for k, v in params.items()}
        return functional_call(self._bound, prefixed, (x[None], c[None], noise[None]))[0]

    def condition_input(self, c):
        return nn.functional.one_hot(c.long(), len(self.backend.conditions)).float()

    def loss(self, module, x, c):
        return module.negative_elbo(x, c).mean()

    @torch.no_grad()
    def sample(self, c, generator):
        z = torch.randn((len(c), self.backend.module.latent), generator=generator)  # drawn on the CPU: reproducible
        device = self.backend.device
        return torch.sigmoid(self.backend.module.decode_logits(z.to(device), c.to(device)))

    def noise_like(self, n, generator):
        return torch.randn((n, self.backend.module.latent), generator=generator)

    def uniform_noise(self, n, generator):
        return torch.rand((n, self.backend.image_size ** 2), generator=generator)


class _BufferedDiffusionAdapter(AmnesiaAdapter):
    """Shared by the diffusion adapters: the ELBO's stand-in is the noise-prediction loss
    |eps - eps_theta(x_t, t, c)|^2 at a random t, and the replay / the Fisher's "own samples" come from a
    buffer of the frozen original's samples, drawn once per concept (sampling inside every step would cost
    a whole sampler run). Subclasses give ``buffer_size``, ``_draw(c, n)`` and ``_condition(c, device)``."""

    vmappable = False  # the diffusers UNets go through the one-backward-per-sample Fisher
    buffer_size: int

    def __init__(self, backend: GeneratorBackend, config: Optional[AmnesiaConfig], scheduler: Any) -> None:
        super().__init__(backend, config)
        self.scheduler = scheduler
        self._buffer: dict[int, torch.Tensor] = {}

    def _draw(self, c: int, n: int) -> torch.Tensor:
        raise NotImplementedError

    def _condition(self, c: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _buffer_cache(self, c: int) -> Optional[Path]:
        """Where concept ``c``'s buffer is cached on disk (None: not cached)."""
        return None

    def _own_samples(self, c: int) -> torch.Tensor:
        if c not in self._buffer:
            path = self._buffer_cache(c)
            draw = lambda: {"samples": self._draw(c, self.buffer_size)}  # noqa: E731
            self._buffer[c] = (cached_tensors(path, draw) if path else draw())["samples"]
        return self._buffer[c]

    def warm(self) -> None:
        """Draw (or read from the disk cache) every concept's buffer now."""
        for c in range(len(self.backend.conditions)):
            self._own_samples(c)

    def sample(self, c, generator):
        picks = torch.randint(0, self.buffer_size, (len(c),), generator=generator)
        return torch.stack([self._own_samples(int(ci))[int(pi)] for ci, pi in zip(c, picks)])

    def loss(self, module, x, c):
        noise = torch.randn_like(x)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x),), device=x.device)
        pred = module(self.scheduler.add_noise(x, noise, t), t, **self._condition(c, x.device)).sample
        return (pred.float() - noise.float()).pow(2).flatten(1).mean(1).mean()


class DDPMAdapter(_BufferedDiffusionAdapter):
    """Class-conditional diffusion on the digits: images in [-1, 1] (N, 1, 8, 8), DDIM samples in the buffer."""

    def __init__(self, backend: GeneratorBackend, config: Optional[AmnesiaConfig] = None) -> None:
        from diffusers import DDPMScheduler

        super().__init__(backend, config or AmnesiaConfig.for_model("digits-ddpm"), DDPMScheduler(num_train_timesteps=1000))
        self.buffer_size = int(self.config.samples_per_concept)
        self._weights_key: Optional[str] = None

    def _buffer_cache(self, c: int) -> Optional[Path]:
        # the draw depends only on the weights and c (fixed seeds): cached, it saves every run about 15 s on a CPU
        if self._weights_key is None:
            self._weights_key = weights_key(self.backend.module)
        return CACHE_ROOT / "buffers" / f"{self.backend.name}-{self._weights_key}-{c}-{self.buffer_size}.safetensors"

    def _draw(self, c: int, n: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(7919 + c)
        z = torch.randn((n, *self.backend.latent_shape), generator=g)
        return self.backend.render(z, torch.full((n,), c))

    def _condition(self, c, device):
        return {"class_labels": c}

    def uniform_noise(self, n, generator):
        return torch.rand((n, 1, 8, 8), generator=generator) * 2 - 1


class StableDiffusionAdapter(_BufferedDiffusionAdapter):
    """Stable Diffusion: the noise-prediction loss on VAE latents, conditioned on the CLIP embedding of the
    concept's prompt. Concepts are the run's prompts: [forget, surrogate?, *replay].

    The surrogate's and the replay prompts' images are drawn once from the frozen original into the buffer
    (as the official code generates its datasets first); ``train_method`` picks the fine-tuned weights:
    ``full`` (the UNet), ``xattn`` (cross-attention only) or ``noxattn`` (all but cross-attention and the
    time embedding), the official code's choices.
    """

    def __init__(self, backend: GeneratorBackend, config: Optional[AmnesiaConfig] = None) -> None:
        from diffusers import DDPMScheduler

        super().__init__(backend, config, DDPMScheduler.from_config(backend.pipeline.scheduler.config))
        self.train_method = self.config.train_method
        self.buffer_size = int(self.config.samples_per_concept)
        self.fisher_conditions = [i for i in range(len(backend.conditions)) if i != 0]  # the replay set: not the forgotten
        self.cache_tag = "|".join([self.train_method, *backend.conditions[1:], str(self.buffer_size),
                                   str(backend.config["sample_steps"])])  # the Fisher's samples come from the sampler
        self._embeddings = backend.embed(backend.conditions)
        self._weights_key: Optional[str] = None

    def trainable_names(self, module: nn.Module) -> list[str]:
        names = [k for k, _ in module.named_parameters()]
        if self.train_method == "xattn":
            return [k for k in names if "attn2" in k]
        if self.train_method == "noxattn":
            return [k for k in names if "attn2" not in k and "time_emb" not in k]
        return names

    def _buffer_cache(self, c: int) -> Optional[Path]:
        # the draw depends only on the weights, the prompt and the sampler (its seed follows the prompt, not its place
        # in this run's list): the same for every run that replays this prompt
        if self._weights_key is None:
            self._weights_key = weights_key(self.backend.module)
        cfg = self.backend.config
        digest = hashlib.sha256(json.dumps([self.backend.conditions[c], self.buffer_size, cfg["sample_steps"],
                                            cfg["guidance_scale"], self.backend.image_size]).encode()).hexdigest()[:16]
        return CACHE_ROOT / "buffers" / f"{self.backend.name}-{self._weights_key}-{digest}.safetensors"

    def _draw(self, c: int, n: int) -> torch.Tensor:
        noise = self.backend.sample_latents(n, prompt_seed(self.backend.conditions[c]))
        latents = [self.backend.decode(chunk, torch.full((len(chunk),), c), output_type="latent").float().cpu()
                   for chunk in noise.split(min(self.config.render_batch, self.backend.render_batch))]
        return torch.cat(latents)

    def _condition(self, c, device):
        return {"encoder_hidden_states": self._embeddings[c.cpu()].to(device)}

    def uniform_noise(self, n, generator):
        """Uniform-noise images, encoded by the VAE into the space the UNet denoises."""
        side = self.backend.image_size
        images = torch.rand((n, 3, side, side), generator=generator) * 2 - 1
        return self.backend.encode_images(images).float().cpu()


def prompt_seed(prompt: str) -> int:
    """The seed a prompt's buffer is drawn from (stable across runs and processes)."""
    return 7919 + int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 1_000_000


ADAPTERS = {"digits-cvae": CVAEAdapter, "digits-ddpm": DDPMAdapter, "stable-diffusion": StableDiffusionAdapter}


def adapter_for(backend: GeneratorBackend, config: Optional[AmnesiaConfig] = None) -> AmnesiaAdapter:
    """The adapter for ``backend``'s kind of generator (``config``: the run's settings, for SD)."""
    if backend.name not in ADAPTERS:
        raise InputError(f"Selective Amnesia has no adapter for '{backend.name}' (available: {', '.join(ADAPTERS)})")
    return ADAPTERS[backend.name](backend, config)
