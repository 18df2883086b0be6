"""Selective Amnesia (Heng & Soh, NeurIPS 2023): a conditional generator forgets a concept c_f.

Maximise  E_{q(x|c_f)}[ELBO(x|θ,c_f)] − λ Σ_i F_i (θ_i − θ*_i)² + γ E_{p(x|c_r)}[ELBO(x|θ,c_r)]
- q: the surrogate distribution for the forgotten concept (uniform noise, or another concept's samples);
- F: the diagonal Fisher of the ELBO at θ*, estimated from the model's OWN samples (no training data),
  with batched per-sample gradients (torch.func) and cached on disk, keyed by the weights;
- replay: samples of the remembered concepts from the frozen original model.

One generic loop; an adapter gives each kind of conditional generator its per-sample loss and sampler.
CLI: ``python -m methods.selective_amnesia --model digits-cvae --forget 0 --out DIR``; on Stable Diffusion
``accelerate launch -m methods.selective_amnesia --model CompVis/stable-diffusion-v1-4 --forget "Brad Pitt"
--surrogate "a middle-aged man" --mixed-precision fp16 --gradient-checkpointing --out DIR``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.func import grad, vmap

from .amnesia_adapters import ADAPTERS, AmnesiaAdapter, CVAEAdapter, DDPMAdapter, StableDiffusionAdapter, adapter_for  # noqa: F401
from .backends import BackendError, GeneratorBackend, load_generator
from .runtime import CancelFn, ProgressFn, check_cancel, make_accelerator, report_progress, seed_everything, use_all_cores, write_json

FISHER_CACHE = Path(os.environ.get("UNLEARNING_STUDIO_CACHE", Path.home() / ".cache" / "unlearning-studio")) / "fisher"


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


def trainable_names(adapter: AmnesiaAdapter, module: nn.Module) -> list[str]:
    """The parameters a run fine-tunes (and the Fisher and the penalty cover): the adapter's choice, else all."""
    chooser = getattr(adapter, "trainable_names", None)
    return chooser(module) if chooser else [k for k, _ in module.named_parameters()]


def fisher_diagonal(adapter: AmnesiaAdapter, n_samples: int = 2000, batch_size: int = 250, seed: int = 0,
                    cache: bool = True, progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> dict[str, torch.Tensor]:
    """Diagonal Fisher E[(∂ log p(x|c)/∂θ)²] with x ~ the model's own p(x|c), c uniform over concepts
    (over ``adapter.fisher_conditions`` where it names them, e.g. the replay prompts of Stable Diffusion).

    Per-sample gradients come from ``vmap(grad(...))``: one batched pass instead of one backward per sample.
    """
    module = adapter.backend.module
    names = trainable_names(adapter, module)
    tag = hashlib.sha256("|".join([getattr(adapter, "cache_tag", ""), *names]).encode()).hexdigest()[:8]
    path = FISHER_CACHE / f"{adapter.backend.name}-{weights_key(module)}-{tag}-{n_samples}-{seed}.safetensors"
    if cache and path.is_file():
        return load_file(str(path), device=str(module_device(module)))
    g = torch.Generator().manual_seed(seed)
    all_params = dict(module.named_parameters())
    params = {k: all_params[k].detach() for k in names}
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    vmappable = getattr(adapter, "vmappable", True)
    concepts = torch.tensor(getattr(adapter, "fisher_conditions", None) or range(len(adapter.backend.conditions)))
    done = 0
    while done < n_samples:
        check_cancel(cancel)
        m = min(batch_size, n_samples - done)
        c = concepts[torch.randint(0, len(concepts), (m,), generator=g)]
        x = adapter.sample(c, g)
        if vmappable:
            per_sample_grad = vmap(grad(adapter.per_sample_loss), in_dims=(None, 0, 0, 0))
            grads = per_sample_grad(params, x, adapter.condition_input(c), adapter.noise_like(m, g))
            for k in fisher:
                fisher[k] += grads[k].pow(2).sum(0)
        else:
            _accumulate_squared_grads(adapter, module, x.to(module_device(module)), c, fisher, cancel)
        done += m
        report_progress(progress, done / n_samples, f"Fisher: {done}/{n_samples} samples")
    fisher = {k: (v / n_samples).contiguous() for k, v in fisher.items()}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.cpu() for k, v in fisher.items()}, str(path))
    return fisher


def module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _accumulate_squared_grads(adapter: AmnesiaAdapter, module: nn.Module, x: torch.Tensor, c: torch.Tensor,
                              fisher: dict[str, torch.Tensor], cancel: Optional[CancelFn] = None) -> None:
    """The reference way: one backward pass per sample (for models vmap cannot run), only for ``fisher``'s keys."""
    params = dict(module.named_parameters())
    for k in fisher:
        params[k].requires_grad_(True)
    try:
        for i in range(len(x)):
            check_cancel(cancel)
            module.zero_grad(set_to_none=True)
            adapter.loss(module, x[i : i + 1], c[i : i + 1]).backward()
            for k in fisher:
                fisher[k] += params[k].grad.pow(2)
    finally:
        module.zero_grad(set_to_none=True)
        module.requires_grad_(False)


def ewc_penalty(module: nn.Module, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ_i F_i (θ_i − θ*_i)² over the Fisher's parameters: zero at θ*, growing where the Fisher says a weight matters."""
    params = dict(module.named_parameters())
    return sum((fisher[k] * (params[k].float() - anchor[k]).pow(2)).sum() for k in fisher)


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
    # Stable Diffusion (prompt-conditioned models) only:
    replay_prompts: tuple[str, ...] = ()
    train_method: str = "full"  # full | xattn | noxattn
    mixed_precision: str = "no"  # no | fp16 | bf16 (GPU only; ignored on a CPU)
    gradient_checkpointing: bool = False
    samples_per_concept: int = 8  # buffer of the original's samples per surrogate/replay prompt
    sample_steps: int = 50  # sampler steps for the buffer and the galleries
    resolution: int = 0  # 0 = the model's own

    def concepts(self) -> list[str]:
        """The run's concepts for a prompt-conditioned model: [forget, surrogate?, *replay] without repeats."""
        out = [self.forget] + ([] if self.surrogate == "noise" else [self.surrogate])
        return out + [p for p in dict.fromkeys(self.replay_prompts) if p not in out]

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> "AmnesiaConfig":
        """The defaults for ``model`` (official values where they fit a 2-core CPU), then ``overrides``."""
        base = asdict(cls())
        base.update(MODEL_DEFAULTS.get(model_kind(model), {}))
        base.update({k: v for k, v in overrides.items() if v is not None})
        base["replay_prompts"] = tuple(base["replay_prompts"])
        return cls(**base)

    def validate(self, backend: GeneratorBackend) -> None:
        if getattr(backend, "open_vocabulary", False):
            self._validate_prompts(backend)
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
            (2 <= self.fisher_samples <= 200_000, "Fisher samples must be between 2 and 200000"),
            (0 <= self.seed < 2**31, "seed must be in [0, 2^31)"),
            (len(names) >= 2, "forgetting needs at least two concepts (one to forget, one to keep)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def _validate_prompts(self, backend: GeneratorBackend) -> None:
        def check_prompt(prompt: str, what: str) -> None:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"the {what} prompt is empty")
            if len(prompt) > 1000 or backend.count_tokens(prompt) > 77:
                raise ValueError(f"the {what} prompt is too long: CLIP reads at most 75 tokens (about 50 words)")

        check_prompt(self.forget, "forget")
        if self.surrogate != "noise":
            check_prompt(self.surrogate, "surrogate")
            if self.surrogate.strip().lower() == self.forget.strip().lower():
                raise ValueError("the surrogate prompt must differ from the prompt to forget")
        if not self.replay_prompts:
            raise ValueError("give at least one replay prompt (concepts to remember)")
        for prompt in self.replay_prompts:
            check_prompt(prompt, "replay")
        checks = [
            (self.train_method in ("full", "xattn", "noxattn"), "train_method must be full, xattn or noxattn"),
            (self.mixed_precision in ("no", "fp16", "bf16"), "mixed precision must be no, fp16 or bf16"),
            (1 <= self.samples_per_concept <= 1000, "samples per concept must be between 1 and 1000"),
            (1 <= self.sample_steps <= 200, "sampler steps must be between 1 and 200"),
            (self.resolution == 0 or (16 <= self.resolution <= 2048 and self.resolution % 8 == 0),
             "resolution must be 0 (the model's) or a multiple of 8 between 16 and 2048"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def bind(self, backend: GeneratorBackend) -> GeneratorBackend:
        """A prompt-conditioned back-end gets this run's prompts as its concepts; others pass through."""
        if not getattr(backend, "open_vocabulary", False):
            return backend
        overrides = {"sample_steps": self.sample_steps} | ({"resolution": self.resolution} if self.resolution else {})
        return backend.with_conditions(self.concepts(), **overrides)


# Per-model departures from the cVAE defaults above. Diffusion: the official DDPM lambda = 10 and
# batch 128; lr 1e-3 and 1500 steps instead of 1e-4 and 20k so it fits a few CPU minutes.
# Stable Diffusion: the official λ = 50, lr 1e-5, batch 4 (per GPU) and its replay/Fisher prompt idea; the
# steps and Fisher samples are this suite's (the official runs 200 epochs of a generated dataset on 4 GPUs).
SD_REPLAY_PROMPTS = ("a photo of a man", "a photo of a woman", "a photo of a dog", "a landscape painting",
                     "a city street at night", "a bowl of fruit on a table")
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits-ddpm": {"lmbda": 10.0, "lr": 1e-3, "steps": 1500, "batch_size": 128, "fisher_samples": 500},
    "stable-diffusion": {"lmbda": 50.0, "lr": 1e-5, "steps": 1000, "batch_size": 4, "fisher_samples": 200,
                         "surrogate": "a middle-aged man", "replay_prompts": SD_REPLAY_PROMPTS},
}


@dataclass
class AmnesiaResult:
    generator: GeneratorBackend
    report: dict[str, Any]
    adapter: Optional[AmnesiaAdapter] = None  # the original's adapter (its sample buffers, for measuring)


def model_kind(model: str) -> str:
    """'stable-diffusion' for a Hub id or diffusers folder, else the name itself (for per-model defaults)."""
    from .backends.stable_diffusion import StableDiffusionBackend

    return "stable-diffusion" if model not in MODEL_DEFAULTS and StableDiffusionBackend.claims(model) else model


def run(config: AmnesiaConfig, backend: GeneratorBackend, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> AmnesiaResult:
    """Forget ``config.forget`` in a copy of ``backend``; the original stays untouched.

    Runs as is on a CPU or one GPU, and data-parallel under ``accelerate launch`` (each process draws its
    own batches; the Fisher is computed, or read from the cache, by every process).
    """
    backend = config.bind(backend)
    config.validate(backend)
    use_all_cores()
    accelerator = make_accelerator(config.mixed_precision)
    g = seed_everything(config.seed)
    if accelerator.process_index:
        g.manual_seed(config.seed + 7919 * accelerator.process_index)
    backend.to(accelerator.device)  # the frozen original samples the replay on the training device
    original = adapter_for(backend, config)
    started = time.perf_counter()
    fisher = fisher_diagonal(original, config.fisher_samples, seed=config.seed,
                             progress=lambda f, m: report_progress(progress, 0.2 * f, m), cancel=cancel)
    fisher_s = time.perf_counter() - started

    student = backend.trainable_copy()
    student.module.train()
    names = set(trainable_names(original, student.module))
    for name, p in student.module.named_parameters():
        p.requires_grad_(name in names)
    if config.gradient_checkpointing and hasattr(student.module, "enable_gradient_checkpointing"):
        student.module.enable_gradient_checkpointing()
    anchor = {k: v.detach().clone().float() for k, v in backend.module.named_parameters() if k in names}
    optimizer = torch.optim.Adam([p for p in student.module.parameters() if p.requires_grad], lr=config.lr)
    student.module, optimizer = accelerator.prepare(student.module, optimizer)
    forget_idx = backend.condition_index(config.forget)
    remember = torch.tensor([i for i in range(len(backend.conditions)) if i != forget_idx])
    surrogate_idx = None if config.surrogate == "noise" else backend.condition_index(config.surrogate)
    half = max(1, config.batch_size // 2)
    device = accelerator.device
    history = []
    step_times = []
    for step in range(config.steps):
        check_cancel(cancel)
        c_forget = torch.full((half,), forget_idx)
        x_forget = original.uniform_noise(half, g) if surrogate_idx is None else original.sample(torch.full((half,), surrogate_idx), g)
        c_remember = remember[torch.randint(0, len(remember), (half,), generator=g)]
        x_remember = original.sample(c_remember, g)
        tick = time.perf_counter()
        loss_forget = original.loss(student.module, x_forget.to(device), c_forget.to(device))
        loss_remember = original.loss(student.module, x_remember.to(device), c_remember.to(device))
        penalty = ewc_penalty(accelerator.unwrap_model(student.module), fisher, anchor)
        loss = loss_forget + config.gamma * loss_remember + config.lmbda * penalty
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        step_times.append(time.perf_counter() - tick)
        history.append({"step": step, "forget": float(loss_forget.detach()), "remember": float(loss_remember.detach()),
                        "ewc": float(penalty.detach())})
        if step % 20 == 0 or step == config.steps - 1:
            report_progress(progress, 0.2 + 0.8 * (step + 1) / config.steps, f"forgetting: step {step + 1}/{config.steps}")
    student.module = accelerator.unwrap_model(student.module)
    student.frozen()
    report = {"method": "selective_amnesia", "model": backend.config.get("model", backend.name), "settings": asdict(config),
              "fisher_s": round(fisher_s, 1), "wall_s": round(time.perf_counter() - started, 1), "steps": config.steps,
              "step_s": round(float(np.median(step_times)), 4) if step_times else None,
              "trainable_parameters": int(sum(anchor[k].numel() for k in anchor)),
              "device": str(device), "processes": accelerator.num_processes, **peak_memory(device),
              "final": history[-1] if history else None}
    return AmnesiaResult(student, report, original)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory so far: CUDA's allocator on a GPU, the process's peak resident set on a CPU."""
    if device.type == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1), "memory_kind": "CUDA allocated"}
    import resource

    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "memory_kind": "process peak RSS"}


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
    p = argparse.ArgumentParser(prog="python -m methods.selective_amnesia", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="digits-cvae | digits-ddpm | a Stable Diffusion Hub id or local pipeline folder")
    p.add_argument("--forget", required=True, help="the concept to forget: a class (e.g. 0) or a prompt (e.g. 'Brad Pitt')")
    p.add_argument("--surrogate", help="noise, another class, or a surrogate prompt (default: noise; SD: 'a middle-aged man')")
    p.add_argument("--lmbda", type=float, help="EWC weight (default: the model's)")
    p.add_argument("--gamma", type=float, help="replay weight (default 1)")
    p.add_argument("--steps", type=int, help="forgetting steps (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, help="batch, half surrogate and half replay (default: the model's)")
    p.add_argument("--fisher-samples", type=int, help="own samples for the Fisher (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    sd = p.add_argument_group("Stable Diffusion")
    sd.add_argument("--replay-prompt", action="append", dest="replay_prompts", help="a concept to remember (repeat; default: 6 generic prompts)")
    sd.add_argument("--train-method", choices=["full", "xattn", "noxattn"])
    sd.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    sd.add_argument("--gradient-checkpointing", action="store_true", default=None)
    sd.add_argument("--samples-per-concept", type=int, help="original's samples drawn per surrogate/replay prompt (default 8)")
    sd.add_argument("--sample-steps", type=int, help="sampler steps (default 50)")
    sd.add_argument("--resolution", type=int, help="image side (default: the model's)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k not in ("model", "out")}
    try:
        backend = load_generator(args.model)
        config = AmnesiaConfig.for_model(args.model, **settings)
        if getattr(backend, "open_vocabulary", False):
            from .amnesia_prompts import forget_prompt_and_compare

            comparison = forget_prompt_and_compare(backend, config)
            result = comparison.result
        else:
            config.validate(backend)
            before = evaluate(backend, config.forget)
            result = run(config, backend)
            result.report.update(before=before, after=evaluate(result.generator, config.forget))
        if _is_main_process():
            result.generator.save(args.out, provenance={"method": "selective_amnesia", "settings": result.report["settings"]})
            write_json(args.out / "report.json", result.report)
    except (BackendError, ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    r = result.report
    if "after" in r:
        a = r["after"]
        print(f"wrote {args.out}: P(forgotten) {a['forgotten_probability']:.3f}, entropy {a['forgotten_entropy']:.3f}, "
              f"remembered accuracy {a['remembered_accuracy']:.3f}")
    else:
        print(f"wrote {args.out}: {r['steps']} steps, {r['step_s']} s/step, peak {r['peak_memory_mb']} MB ({r['memory_kind']}), "
              f"SSIM before/after {r['ssim_before_after']}")
    return 0


def _is_main_process() -> bool:
    """Only one process writes the result under ``accelerate launch``."""
    from accelerate import PartialState

    return PartialState().is_main_process


if __name__ == "__main__":
    raise SystemExit(main())
