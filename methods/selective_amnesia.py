"""Selective Amnesia (Heng & Soh, NeurIPS 2023): a conditional generator forgets a concept c_f.

Maximise  E_{q(x|c_f)}[ELBO(x|θ,c_f)] − λ Σ_i F_i (θ_i − θ*_i)² + γ E_{p(x|c_r)}[ELBO(x|θ,c_r)]
- q: the surrogate distribution for the forgotten concept (uniform noise, or another concept's samples);
- F: the diagonal Fisher of the ELBO at θ*, estimated from the model's OWN samples (no training data),
  with batched per-sample gradients (torch.func) and cached on disk, keyed by the weights;
- replay: samples of the remembered concepts from the frozen original model.

One generic loop; an adapter gives each kind of conditional generator its per-sample loss and sampler.
CLI: ``python -m methods.selective_amnesia --model digits-cvae --forget 0 --out DIR``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.func import functional_call, grad, vmap

from .backends import BackendError, GeneratorBackend, load_generator
from .runtime import CancelFn, ProgressFn, check_cancel, make_accelerator, report_progress, seed_everything, use_all_cores, write_json

FISHER_CACHE = Path(os.environ.get("UNLEARNING_STUDIO_CACHE", Path.home() / ".cache" / "unlearning-studio")) / "fisher"


class AmnesiaAdapter(Protocol):
    """What the generic loop needs from a conditional generator."""

    backend: GeneratorBackend

    def per_sample_loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, c: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """−ELBO (or its stand-in) of ONE sample (no batch dimension), as a function of ``params``;
        ``c`` as given by :meth:`condition_input`."""

    def condition_input(self, c: torch.Tensor) -> torch.Tensor:
        """Class indices -> the form ``per_sample_loss`` takes under vmap (e.g. one-hot)."""

    def loss(self, module: nn.Module, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Mean −ELBO of a batch under ``module``."""

    def sample(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Samples x ~ p(x|c) of the frozen original, in the model's data space."""

    def noise_like(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Per-sample noise for the loss (the VAE's ε)."""

    def uniform_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The 'uniform noise' surrogate in data space."""


class _Bound(nn.Module):
    """Wraps a cVAE so ``functional_call`` can run its ``negative_elbo`` with given parameters."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.m = module

    def forward(self, x, c, noise):
        return self.m.negative_elbo(x, c, noise=noise)


class CVAEAdapter:
    """Conditional VAE: the ELBO is the VAE's own; data are pixels in [0, 1] (N, 64)."""

    def __init__(self, backend: GeneratorBackend) -> None:
        self.backend = backend
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
        z = torch.randn((len(c), self.backend.module.latent), generator=generator)
        return torch.sigmoid(self.backend.module.decode_logits(z, c))

    def noise_like(self, n, generator):
        return torch.randn((n, self.backend.module.latent), generator=generator)

    def uniform_noise(self, n, generator):
        return torch.rand((n, self.backend.image_size ** 2), generator=generator)


class DDPMAdapter:
    """Class-conditional diffusion: the ELBO's stand-in is the noise-prediction loss
    |eps - eps_theta(x_t, t, c)|^2 at a random t; data are images in [-1, 1] (N, 1, 8, 8).

    The replay and the Fisher's "own samples" come from a buffer of DDIM samples of the frozen
    original, drawn once per concept (sampling inside every step would cost 50 UNet passes).
    """

    vmappable = False  # the diffusers UNet goes through the one-backward-per-sample Fisher
    buffer_per_class = 128

    def __init__(self, backend: GeneratorBackend) -> None:
        from diffusers import DDPMScheduler

        self.backend = backend
        self.scheduler = DDPMScheduler(num_train_timesteps=1000)
        self._buffer: dict[int, torch.Tensor] = {}

    def _own_samples(self, c: int) -> torch.Tensor:
        if c not in self._buffer:
            g = torch.Generator().manual_seed(7919 + c)
            z = torch.randn((self.buffer_per_class, *self.backend.latent_shape), generator=g)
            self._buffer[c] = self.backend.render(z, torch.full((self.buffer_per_class,), c))
        return self._buffer[c]

    def sample(self, c, generator):
        picks = torch.randint(0, self.buffer_per_class, (len(c),), generator=generator)
        return torch.stack([self._own_samples(int(ci))[int(pi)] for ci, pi in zip(c, picks)])

    def condition_input(self, c):
        return c

    def per_sample_loss(self, params, x, c, noise):  # pragma: no cover - not vmapped (vmappable = False)
        raise NotImplementedError

    def noise_like(self, n, generator):
        return torch.zeros(n, 1)

    def loss(self, module, x, c):
        noise = torch.randn_like(x)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x),), device=x.device)
        pred = module(self.scheduler.add_noise(x, noise, t), t, class_labels=c).sample
        return (pred - noise).pow(2).flatten(1).mean(1).mean()

    def uniform_noise(self, n, generator):
        return torch.rand((n, 1, 8, 8), generator=generator) * 2 - 1


ADAPTERS = {"digits-cvae": CVAEAdapter, "digits-ddpm": DDPMAdapter}


def adapter_for(backend: GeneratorBackend) -> AmnesiaAdapter:
    if backend.name not in ADAPTERS:
        raise ValueError(f"Selective Amnesia has no adapter for '{backend.name}' yet (available: {', '.join(ADAPTERS)})")
    return ADAPTERS[backend.name](backend)


# ------------------------------------------------------------------------------------------------
# Fisher information
# ------------------------------------------------------------------------------------------------
def weights_key(module: nn.Module) -> str:
    """A short hash of the weights: the Fisher cache is valid for exactly these weights."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def fisher_diagonal(adapter: AmnesiaAdapter, n_samples: int = 2000, batch_size: int = 250, seed: int = 0,
                    cache: bool = True, progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> dict[str, torch.Tensor]:
    """Diagonal Fisher E[(∂ log p(x|c)/∂θ)²] with x ~ the model's own p(x|c), c uniform over concepts.

    Per-sample gradients come from ``vmap(grad(...))``: one batched pass instead of one backward per sample.
    """
    module = adapter.backend.module
    path = FISHER_CACHE / f"{adapter.backend.name}-{weights_key(module)}-{n_samples}-{seed}.safetensors"
    if cache and path.is_file():
        return load_file(str(path))
    g = torch.Generator().manual_seed(seed)
    params = {k: v.detach() for k, v in module.named_parameters()}
    per_sample_grad = vmap(grad(adapter.per_sample_loss), in_dims=(None, 0, 0, 0))
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    vmappable = getattr(adapter, "vmappable", True)
    n_classes = len(adapter.backend.conditions)
    done = 0
    while done < n_samples:
        check_cancel(cancel)
        m = min(batch_size, n_samples - done)
        c = torch.randint(0, n_classes, (m,), generator=g)
        x = adapter.sample(c, g)
        if vmappable:
            grads = per_sample_grad(params, x, adapter.condition_input(c), adapter.noise_like(m, g))
            for k in fisher:
                fisher[k] += grads[k].pow(2).sum(0)
        else:
            _accumulate_squared_grads(adapter, module, x, c, fisher)
        done += m
        report_progress(progress, done / n_samples, f"Fisher: {done}/{n_samples} samples")
    fisher = {k: (v / n_samples).contiguous() for k, v in fisher.items()}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(fisher, str(path))
    return fisher


def _accumulate_squared_grads(adapter: AmnesiaAdapter, module: nn.Module, x: torch.Tensor, c: torch.Tensor,
                              fisher: dict[str, torch.Tensor]) -> None:
    """The reference way: one backward pass per sample (for models vmap cannot run)."""
    module.requires_grad_(True)
    try:
        for i in range(len(x)):
            module.zero_grad(set_to_none=True)
            adapter.loss(module, x[i : i + 1], c[i : i + 1]).backward()
            for k, p in module.named_parameters():
                fisher[k] += p.grad.pow(2)
    finally:
        module.zero_grad(set_to_none=True)
        module.requires_grad_(False)


def ewc_penalty(module: nn.Module, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ_i F_i (θ_i − θ*_i)²: zero at θ*, growing where the Fisher says a weight matters."""
    return sum((fisher[k] * (p - anchor[k]).pow(2)).sum() for k, p in module.named_parameters())


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------
@dataclass
class AmnesiaConfig:
    """Defaults: the official MNIST cVAE's λ = 100, γ = 1, lr 1e-4, batch 256 (half surrogate, half replay),
    10k steps; the Fisher from 10k own samples (official 50k)."""

    forget: str = "0"
    surrogate: str = "noise"  # "noise" or another concept's name
    lmbda: float = 100.0
    gamma: float = 1.0
    steps: int = 10000
    lr: float = 1e-4
    batch_size: int = 256
    fisher_samples: int = 10000
    seed: int = 0

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> "AmnesiaConfig":
        """The defaults for ``model`` (official values where they fit a 2-core CPU), then ``overrides``."""
        base = asdict(cls())
        base.update(MODEL_DEFAULTS.get(model, {}))
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def validate(self, backend: GeneratorBackend) -> None:
        names = backend.conditions or []
        checks = [
            (self.forget in names, f"'{self.forget}' is not a concept of '{backend.name}' (known: {', '.join(names)})"),
            (self.surrogate == "noise" or (self.surrogate in names and self.surrogate != self.forget),
             "surrogate must be 'noise' or another concept than the forgotten one"),
            (0 <= self.lmbda <= 1e6, "λ must be between 0 and 1e6"),
            (0 <= self.gamma <= 100, "γ must be between 0 and 100"),
            (1 <= self.steps <= 100_000, "steps must be between 1 and 100000"),
            (1e-7 <= self.lr <= 0.1, "learning rate must be between 1e-7 and 0.1"),
            (2 <= self.batch_size <= 4096, "batch size must be between 2 and 4096"),
            (10 <= self.fisher_samples <= 200_000, "Fisher samples must be between 10 and 200000"),
            (0 <= self.seed < 2**31, "seed must be in [0, 2^31)"),
            (len(names) >= 2, "forgetting needs at least two concepts (one to forget, one to keep)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# Per-model departures from the cVAE defaults above. Diffusion: the official DDPM lambda = 10 and
# batch 128; lr 1e-3 and 1500 steps instead of 1e-4 and 20k so it fits a few CPU minutes.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits-ddpm": {"lmbda": 10.0, "lr": 1e-3, "steps": 1500, "batch_size": 128, "fisher_samples": 500},
}


@dataclass
class AmnesiaResult:
    generator: GeneratorBackend
    report: dict[str, Any]


def run(config: AmnesiaConfig, backend: GeneratorBackend, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> AmnesiaResult:
    """Forget ``config.forget`` in a copy of ``backend``; the original stays untouched."""
    config.validate(backend)
    use_all_cores()
    g = seed_everything(config.seed)
    original = adapter_for(backend)
    started = time.perf_counter()
    fisher = fisher_diagonal(original, config.fisher_samples, seed=config.seed,
                             progress=lambda f, m: report_progress(progress, 0.2 * f, m), cancel=cancel)
    fisher_s = time.perf_counter() - started

    accelerator = make_accelerator()
    student = backend.trainable_copy()
    student.module.train()
    anchor = {k: v.detach().clone() for k, v in backend.module.named_parameters()}
    optimizer = torch.optim.Adam(student.module.parameters(), lr=config.lr)
    student.module, optimizer = accelerator.prepare(student.module, optimizer)
    forget_idx = backend.condition_index(config.forget)
    remember = torch.tensor([i for i in range(len(backend.conditions)) if i != forget_idx])
    surrogate_idx = None if config.surrogate == "noise" else backend.condition_index(config.surrogate)
    half = config.batch_size // 2
    history = []
    for step in range(config.steps):
        check_cancel(cancel)
        c_forget = torch.full((half,), forget_idx)
        x_forget = original.uniform_noise(half, g) if surrogate_idx is None else original.sample(torch.full((half,), surrogate_idx), g)
        c_remember = remember[torch.randint(0, len(remember), (half,), generator=g)]
        x_remember = original.sample(c_remember, g)
        loss_forget = original.loss(student.module, x_forget, c_forget)
        loss_remember = original.loss(student.module, x_remember, c_remember)
        penalty = ewc_penalty(student.module, fisher, anchor)
        loss = loss_forget + config.gamma * loss_remember + config.lmbda * penalty
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        history.append({"step": step, "forget": float(loss_forget.detach()), "remember": float(loss_remember.detach()),
                        "ewc": float(penalty.detach())})
        if step % 20 == 0 or step == config.steps - 1:
            report_progress(progress, 0.2 + 0.8 * (step + 1) / config.steps, f"forgetting: step {step + 1}/{config.steps}")
    student.module = accelerator.unwrap_model(student.module).cpu()
    student.frozen()
    report = {"method": "selective_amnesia", "model": backend.name, "settings": asdict(config),
              "fisher_s": round(fisher_s, 1), "wall_s": round(time.perf_counter() - started, 1), "steps": config.steps,
              "final": history[-1] if history else None}
    return AmnesiaResult(student, report)


# ------------------------------------------------------------------------------------------------
# Metrics (the paper's): judged by the digits classifier, which no loss uses
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(backend: GeneratorBackend, forget: str, n_per_class: int = 500, seed: int = 12345) -> dict[str, Any]:
    """P(forgotten class) and mean entropy on samples conditioned on it; accuracy on every other class."""
    from .digits import class_probabilities

    forget_idx = backend.condition_index(forget)
    out: dict[str, Any] = {"per_class_accuracy": {}}
    for idx, name in enumerate(backend.conditions):
        z = backend.sample_latents(n_per_class, seed + idx)
        probs = class_probabilities(backend.render(z, torch.full((n_per_class,), idx)))
        if idx == forget_idx:
            out["forgotten_probability"] = float(probs[:, idx].mean())
            out["forgotten_entropy"] = float(-(probs * probs.clamp_min(1e-12).log()).sum(1).mean())
        else:
            out["per_class_accuracy"][name] = float((probs.argmax(1) == idx).float().mean())
    out["remembered_accuracy"] = float(np.mean(list(out["per_class_accuracy"].values())))
    return out


@dataclass
class AmnesiaComparison:
    """A finished run plus what a person looks at: per-concept samples before/after and a metrics table."""

    result: AmnesiaResult
    before: dict[str, np.ndarray]  # concept -> uint8 (n, H, W, C), fixed latents
    after: dict[str, np.ndarray]
    metrics: list[tuple[str, Any, Any]]  # (metric, before, after)


def forget_and_compare(backend: GeneratorBackend, config: AmnesiaConfig, out_dir: Optional[Path] = None,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, n_show: int = 8,
                       eval_per_class: int = 200) -> AmnesiaComparison:
    """Run Selective Amnesia and measure it, before and after, with the digits classifier."""
    from .runtime import to_uint8

    config.validate(backend)
    report_progress(progress, 0.0, "measuring the original with the digits classifier")
    before_eval = evaluate(backend, config.forget, n_per_class=eval_per_class)
    result = run(config, backend, progress=lambda f, m: report_progress(progress, 0.9 * f, m), cancel=cancel)
    report_progress(progress, 0.92, "measuring the result with the digits classifier")
    after_eval = evaluate(result.generator, config.forget, n_per_class=eval_per_class)
    result.report.update(before=before_eval, after=after_eval)
    z = backend.sample_latents(n_show, 2024)
    grids = {}
    for key, gen in (("before", backend), ("after", result.generator)):
        grids[key] = {name: to_uint8(gen.render(z, torch.full((n_show,), i))) for i, name in enumerate(backend.conditions)}
    metrics = [
        (f"P(class {config.forget}) on samples of '{config.forget}' (chance 0.1)", before_eval["forgotten_probability"], after_eval["forgotten_probability"]),
        (f"classifier entropy on samples of '{config.forget}' (max ln 10 = 2.303)", before_eval["forgotten_entropy"], after_eval["forgotten_entropy"]),
        ("accuracy on samples of the remembered classes", before_eval["remembered_accuracy"], after_eval["remembered_accuracy"]),
        ("lowest remembered-class accuracy", min(before_eval["per_class_accuracy"].values()), min(after_eval["per_class_accuracy"].values())),
        ("time: Fisher + forgetting (s)", "—", result.report["wall_s"]),
    ]
    if out_dir is not None:
        result.generator.save(Path(out_dir), provenance={"method": "selective_amnesia", "settings": result.report["settings"]})
        write_json(Path(out_dir) / "report.json", result.report)
    report_progress(progress, 1.0, "done")
    return AmnesiaComparison(result, grids["before"], grids["after"], metrics)


def main(argv: Optional[list[str]] = None) -> int:
    d = AmnesiaConfig()
    p = argparse.ArgumentParser(prog="python -m methods.selective_amnesia", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="digits-cvae | digits-ddpm (the Stable Diffusion adapter is not built yet)")
    p.add_argument("--forget", required=True, help="the concept to forget, e.g. 0")
    p.add_argument("--surrogate", default=d.surrogate, help="noise, or another concept")
    p.add_argument("--lmbda", type=float, help="EWC weight (default: the model's)")
    p.add_argument("--gamma", type=float, help="replay weight (default 1)")
    p.add_argument("--steps", type=int, help="forgetting steps (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--fisher-samples", type=int, help="own samples for the Fisher (default: the model's)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        backend = load_generator(args.model)
        config = AmnesiaConfig.for_model(args.model, forget=args.forget, surrogate=args.surrogate, lmbda=args.lmbda,
                                         gamma=args.gamma, steps=args.steps, lr=args.lr,
                                         fisher_samples=args.fisher_samples, seed=args.seed)
        config.validate(backend)
        before = evaluate(backend, config.forget)
        result = run(config, backend)
        result.report.update(before=before, after=evaluate(result.generator, config.forget))
        result.generator.save(args.out, provenance={"method": "selective_amnesia", "settings": result.report["settings"]})
        write_json(args.out / "report.json", result.report)
    except (BackendError, ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    a = result.report["after"]
    print(f"wrote {args.out}: P(forgotten) {a['forgotten_probability']:.3f}, entropy {a['forgotten_entropy']:.3f}, "
          f"remembered accuracy {a['remembered_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
