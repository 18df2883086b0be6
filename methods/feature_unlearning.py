"""Feature Unlearning for pre-trained GANs and VAEs (Moon, Cho & Kim, AAAI 2024).

The user labels generated samples as having a visual feature or not. The difference of the
labelled latents' means is the feature's target vector z_e; latents whose projection on z_e
exceeds a threshold t "have" the feature. A copy g of the generator f is fine-tuned so that
    g(z) = f(z)                     where proj(z) <  t     (L_recon, L1)
    g(z) = f(z - (proj(z) - t) u)   where proj(z) >= t     (L_unlearn, L1 + L_percep, 1 - MS-SSIM)
with u = z_e / |z_e|. The free alternative, shifting latents at sampling time
(:func:`latent_shift`), is reported beside it everywhere.

CLI: ``python -m methods.feature_unlearning --positives P.npy --negatives N.npy --out DIR``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .backends import DEFAULT_FACE_GENERATOR, GeneratorBackend, load_generator
from .image_metrics import MSSSIM_MODES, ms_ssim_similarity, ssim_per_image
from .runtime import (
    CancelFn,
    ProgressFn,
    check_cancel,
    use_all_cores,
    make_accelerator,
    report_progress,
    seed_everything,
    write_json,
)

THRESHOLDS = ("mean", "midpoint")
DIRECTION_FILE = "direction.safetensors"


# ----------------------------------------------------------------------------------------------
# The latent-space geometry: target vector, projection, threshold, the move onto the threshold
# ----------------------------------------------------------------------------------------------
def target_vector(positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """z_e = mean(positive latents) - mean(negative latents), latents flattened to vectors."""
    return positives.flatten(1).mean(0) - negatives.flatten(1).mean(0)


def projection(latents: torch.Tensor, z_e: torch.Tensor) -> torch.Tensor:
    """proj(z) = z . z_e / |z_e| for each latent (flattened, as the paper does for w+)."""
    return latents.flatten(1) @ (z_e / z_e.norm())


def threshold(positives: torch.Tensor, negatives: torch.Tensor, z_e: torch.Tensor, mode: str = "mean") -> float:
    """t: the mean projection of all labelled latents (the paper) or the class-means' midpoint."""
    if mode == "mean":
        return float(projection(torch.cat([positives, negatives]), z_e).mean())
    if mode == "midpoint":
        return float((projection(positives, z_e).mean() + projection(negatives, z_e).mean()) / 2)
    raise ValueError(f"threshold must be one of {THRESHOLDS}, not '{mode}'")


@dataclass
class FeatureDirection:
    """The feature in latent space: a unit vector and the threshold on the projection."""

    unit: torch.Tensor  # (D,) unit target vector u = z_e / |z_e|
    threshold: float

    @classmethod
    def from_labels(cls, positives: torch.Tensor, negatives: torch.Tensor, mode: str = "mean") -> "FeatureDirection":
        z_e = target_vector(positives.float(), negatives.float())
        if not torch.isfinite(z_e).all() or z_e.norm() < 1e-8:
            raise ValueError("positives and negatives have the same mean latent: no feature direction to unlearn")
        return cls(unit=z_e / z_e.norm(), threshold=threshold(positives.float(), negatives.float(), z_e, mode))

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.flatten(1) @ self.unit.to(latents)

    def has_feature(self, latents: torch.Tensor) -> torch.Tensor:
        """sim(z): True where proj(z) >= t."""
        return self.project(latents) >= self.threshold

    def move_to_threshold(self, latents: torch.Tensor) -> torch.Tensor:
        """z' = z - (proj(z) - t) u: the projection of z' is exactly t, the rest of z unchanged."""
        offset = (self.project(latents) - self.threshold)[:, None] * self.unit.to(latents)[None]
        return (latents.flatten(1) - offset).reshape(latents.shape)

    def save(self, path: Path) -> None:
        save_file({"unit": self.unit.contiguous().float(), "threshold": torch.tensor([self.threshold])}, str(path))

    @classmethod
    def load(cls, path: Path) -> "FeatureDirection":
        t = load_file(str(path))
        return cls(unit=t["unit"], threshold=float(t["threshold"][0]))


def latent_shift(latents: torch.Tensor, direction: FeatureDirection) -> torch.Tensor:
    """The no-training baseline: move latents that have the feature onto the threshold at sampling time."""
    moved = direction.move_to_threshold(latents)
    mask = direction.has_feature(latents).reshape(-1, *([1] * (latents.dim() - 1)))
    return torch.where(mask, moved, latents)


# ----------------------------------------------------------------------------------------------
# The objective
# ----------------------------------------------------------------------------------------------
def unlearning_loss(
    student: GeneratorBackend,
    teacher: GeneratorBackend,
    latents: torch.Tensor,
    direction: FeatureDirection,
    alpha: float,
    msssim_mode: str = "native",
) -> tuple[torch.Tensor, dict[str, float]]:
    """L = alpha (L_unlearn + L_percep) + L_recon on one batch of random latents."""
    sim = direction.has_feature(latents).float()
    with torch.no_grad():
        target = torch.where(
            sim.bool()[:, None, None, None],
            teacher.decode(direction.move_to_threshold(latents)),
            teacher.decode(latents),
        )
    out = student.decode(latents)
    l1 = (out - target).abs().flatten(1).mean(1)
    loss_recon = ((1 - sim) * l1).mean()
    loss_unlearn = (sim * l1).mean()
    if sim.any():
        pos = sim.bool()
        msssim = ms_ssim_similarity(out[pos].float(), target[pos].float(), msssim_mode)
        loss_percep = (1 - msssim).sum() / len(sim)
    else:
        loss_percep = out.new_zeros(())
    loss = alpha * (loss_unlearn + loss_percep) + loss_recon
    parts = {"recon": float(loss_recon.detach()), "unlearn": float(loss_unlearn.detach()), "percep": float(loss_percep.detach())}
    return loss, parts


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
@dataclass
class FeatureUnlearningConfig:
    """Settings of one run; defaults are the benchmarked ones (README)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-4
    alpha: float = 1.0
    threshold: str = "mean"
    msssim_mode: str = "native"
    seed: int = 0
    eval_samples: int = 256
    mixed_precision: str = "no"

    def validate(self) -> None:
        """Raise ValueError with a user-readable message for out-of-range settings."""
        checks = [
            (1 <= self.steps <= 20000, "steps must be between 1 and 20000"),
            (2 <= self.batch_size <= 512, "batch size must be between 2 and 512"),
            (1e-7 <= self.lr <= 1e-1, "learning rate must be between 1e-7 and 0.1"),
            (0 < self.alpha <= 1000, "alpha must be in (0, 1000]"),
            (self.threshold in THRESHOLDS, f"threshold must be one of {THRESHOLDS}"),
            (self.msssim_mode in MSSSIM_MODES, f"MS-SSIM mode must be one of {MSSSIM_MODES}"),
            (0 <= self.seed < 2**31, "seed must be in [0, 2^31)"),
            (0 <= self.eval_samples <= 10000, "eval samples must be in [0, 10000]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class FeatureUnlearningResult:
    generator: GeneratorBackend  # the unlearned copy, frozen
    direction: FeatureDirection
    report: dict[str, Any]
    out_dir: Optional[Path] = None
    losses: list[dict[str, float]] = field(default_factory=list)


def validate_labels(positives: np.ndarray | torch.Tensor, negatives: np.ndarray | torch.Tensor, latent_dim: int, min_each: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Check labelled latent arrays and return them as float tensors (ValueError otherwise)."""
    pos, neg = torch.as_tensor(np.asarray(positives), dtype=torch.float32), torch.as_tensor(np.asarray(negatives), dtype=torch.float32)
    for name, arr in (("positives", pos), ("negatives", neg)):
        if arr.dim() != 2 or arr.shape[1] != latent_dim:
            raise ValueError(f"{name} must be an array of shape (n, {latent_dim}), got {tuple(arr.shape)}")
        if len(arr) < min_each:
            raise ValueError(f"need at least {min_each} {name} (got {len(arr)})")
        if not torch.isfinite(arr).all():
            raise ValueError(f"{name} contain NaN or infinite values")
    return pos, neg


def direction_from_latent_direction(backend: GeneratorBackend, vector: torch.Tensor, n: int = 1024, seed: int = 0) -> FeatureDirection:
    """A discovered direction as the feature: u = vector/|vector|, t = mean projection of prior samples.

    The paper's "mean" threshold with prior samples standing in for the labelled ones: latents on the
    +u side of the average carry the feature.
    """
    vector = torch.as_tensor(vector, dtype=torch.float32).flatten()
    if vector.numel() != backend.latent_dim or not torch.isfinite(vector).all() or vector.norm() < 1e-8:
        raise ValueError(f"a feature direction must be a finite, non-zero vector of length {backend.latent_dim}")
    unit = vector / vector.norm()
    t = float((backend.sample_latents(n, seed).flatten(1) @ unit).mean())
    return FeatureDirection(unit=unit, threshold=t)


def run(
    config: FeatureUnlearningConfig,
    backend: GeneratorBackend,
    positives: Optional[np.ndarray | torch.Tensor] = None,
    negatives: Optional[np.ndarray | torch.Tensor] = None,
    out_dir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    direction: Optional[FeatureDirection] = None,
) -> FeatureUnlearningResult:
    """Fine-tune a copy of ``backend`` so it no longer generates the feature.

    The feature comes from labelled latents (the paper) or, when ``direction`` is given, from a
    direction found elsewhere (e.g. the Directions tab).
    """
    config.validate()
    if direction is None:
        pos, neg = validate_labels(positives, negatives, backend.latent_dim)
        direction = FeatureDirection.from_labels(pos, neg, config.threshold)
        source: dict[str, Any] = {"labels": {"positives": len(pos), "negatives": len(neg)}}
    else:
        source = {"labels": None, "given_direction": True}
    use_all_cores()
    sampler = seed_everything(config.seed)

    accelerator = make_accelerator(config.mixed_precision)
    teacher = backend  # frozen and shared: only read
    student = backend.trainable_copy()
    optimizer = torch.optim.Adam(student.module.parameters(), lr=config.lr, betas=(0.5, 0.999))
    student.module, optimizer = accelerator.prepare(student.module, optimizer)
    teacher.module.to(accelerator.device)

    losses: list[dict[str, float]] = []
    started = time.perf_counter()
    for step in range(config.steps):
        check_cancel(cancel)
        latents = torch.randn((config.batch_size, *backend.latent_shape), generator=sampler).to(accelerator.device)
        with accelerator.autocast():
            loss, parts = unlearning_loss(student, teacher, latents, direction, config.alpha, config.msssim_mode)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        losses.append({"step": step, "loss": float(loss.detach()), **parts})
        if step % 5 == 0 or step == config.steps - 1:
            report_progress(progress, (step + 1) / config.steps, f"step {step + 1}/{config.steps}  loss {float(loss.detach()):.4f}")
    train_seconds = time.perf_counter() - started

    student.module = accelerator.unwrap_model(student.module).cpu()
    teacher.module.cpu()
    student.frozen()
    report: dict[str, Any] = {
        "method": "feature_unlearning",
        "generator": backend.name,
        "settings": asdict(config),
        **source,
        "direction": {"threshold": direction.threshold, "threshold_mode": config.threshold if source["labels"] else "given"},
        "steps": config.steps,
        "train_seconds": round(train_seconds, 2),
        "device": str(accelerator.device),
        "final_loss": losses[-1] if losses else None,
    }
    if config.eval_samples:
        report_progress(progress, 1.0, "evaluating on held-out latents")
        heldout = backend.sample_latents(config.eval_samples, seed=config.seed + 1_000_003)
        report["heldout"] = evaluate(teacher, student, direction, heldout)
    result = FeatureUnlearningResult(student, direction, report, out_dir, losses)
    if out_dir is not None:
        save_result(result, Path(out_dir))
    return result


@torch.no_grad()
def evaluate(
    original: GeneratorBackend, unlearned: GeneratorBackend, direction: FeatureDirection, latents: torch.Tensor
) -> dict[str, Any]:
    """Image-space checks on latents the run never saw, for the method and the latent-shift baseline.

    - ``ssim_kept``: SSIM(g(z), f(z)) where the projection says "no feature" (preservation);
    - ``l1_to_target``: |g(z) - f(z')| where it says "feature" (how well the move was learnt);
    - the same two for the baseline f(latent_shift(z)), whose preservation is exact by construction.
    """
    has = direction.has_feature(latents)
    f_z = original.render(latents)
    g_z = unlearned.render(latents)
    f_target = original.render(direction.move_to_threshold(latents))
    baseline = torch.where(has[:, None, None, None], f_target, f_z)
    ssim_g = ssim_per_image(g_z, f_z)
    out: dict[str, Any] = {
        "n": len(latents),
        "share_with_feature_by_projection": float(has.float().mean()),
        "unlearned": {
            "ssim_kept": float(ssim_g[~has].mean()) if (~has).any() else None,
            "l1_to_target": float((g_z - f_target)[has].abs().mean()) if has.any() else None,
            "ssim_to_target": float(ssim_per_image(g_z[has], f_target[has]).mean()) if has.any() else None,
        },
        "original_ssim_to_target": float(ssim_per_image(f_z[has], f_target[has]).mean()) if has.any() else None,
        "latent_shift_baseline": {
            "ssim_kept": float(ssim_per_image(baseline[~has], f_z[~has]).mean()) if (~has).any() else None,
            "l1_to_target": 0.0,
            "ssim_to_target": 1.0,
        },
    }
    return out


def save_result(result: FeatureUnlearningResult, out_dir: Path) -> None:
    """``generator.safetensors`` + ``config.json`` (loadable by methods.sample), the direction, ``report.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.generator.save(out_dir, provenance={"method": "feature_unlearning", "settings": result.report["settings"]})
    result.direction.save(out_dir / DIRECTION_FILE)
    write_json(out_dir / "report.json", result.report)
    write_json(out_dir / "losses.json", result.losses)
    result.out_dir = out_dir


# ----------------------------------------------------------------------------------------------
# From a labelling to a side-by-side comparison (what the Features tab shows)
# ----------------------------------------------------------------------------------------------
MIN_LABELS_EACH = 4
HELDOUT_SEED = 900_001  # fixed held-out seed: the before/after rows are the same for every run


@dataclass
class Comparison:
    """A finished run plus what a person looks at: held-out rows and a metrics table."""

    result: FeatureUnlearningResult
    rows_with_feature: dict[str, np.ndarray]  # "original" / "unlearned" / "latent shift" -> uint8 (n, H, W, 3)
    rows_without_feature: dict[str, np.ndarray]
    metrics: list[tuple[str, Any, Any, Any]]  # (metric, original, unlearned generator, latent-shift baseline)


def heldout_rows(backend: GeneratorBackend, direction: FeatureDirection, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """n held-out latents the projection says have the feature, and n it says do not (fixed seed)."""
    pool = backend.sample_latents(max(16 * n, 64), HELDOUT_SEED)
    has = direction.has_feature(pool)
    return pool[has][:n], pool[~has][:n]


def unlearn_from_labels(
    backend: GeneratorBackend,
    positives: Optional[torch.Tensor],
    negatives: Optional[torch.Tensor],
    config: FeatureUnlearningConfig,
    probe: bool = True,
    out_dir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    direction: Optional[FeatureDirection] = None,
) -> Comparison:
    """Run feature unlearning (from labels, or from a given direction) and compare it with the latent shift."""
    from .adversarial import adversarial_probe
    from .runtime import to_uint8

    if direction is not None and positives is None:
        # The probe's classifiers need labelled images: label prior samples by the projection.
        pool = backend.sample_latents(256, HELDOUT_SEED + 2)
        has = direction.has_feature(pool)
        positives, negatives = pool[has], pool[~has]
    if len(positives) < MIN_LABELS_EACH or len(negatives) < MIN_LABELS_EACH:
        raise ValueError(
            f"too few labels: need at least {MIN_LABELS_EACH} samples with the feature and {MIN_LABELS_EACH} without "
            f"(have {len(positives)} and {len(negatives)})"
        )
    config.validate()
    train_share = 0.85 if probe else 1.0
    result = run(config, backend, positives, negatives, progress=lambda f, m: report_progress(progress, f * train_share, m),
                 cancel=cancel, direction=direction)
    direction, unlearned = result.direction, result.generator

    rows = {}
    for key, latents in zip(("with", "without"), heldout_rows(backend, direction)):
        rows[key] = {
            "original": to_uint8(backend.render(latents)),
            "unlearned": to_uint8(unlearned.render(latents)),
            "latent shift": to_uint8(backend.render(latent_shift(latents, direction))),
        }
    heldout = result.report.get("heldout", {})
    unl, base = heldout.get("unlearned", {}), heldout.get("latent_shift_baseline", {})
    metrics: list[tuple[str, Any, Any, Any]] = [
        ("held-out latents with the feature (projection)", heldout.get("share_with_feature_by_projection"), "same latents", "same latents"),
        ("SSIM to the original, faces without the feature (1 = unchanged)", 1.0, unl.get("ssim_kept"), base.get("ssim_kept")),
        ("SSIM to the feature-free target f(z'), faces with it (1 = reached)", heldout.get("original_ssim_to_target"), unl.get("ssim_to_target"), 1.0),
        ("extra cost at sampling time", "—", "none (weights changed)", "a projection per latent"),
        ("training time (s)", "—", result.report["train_seconds"], 0.0),
    ]
    if probe:
        check_cancel(cancel)
        report_progress(progress, train_share, "adversarial probe: PGD on z")
        images = backend.render(torch.cat([positives, negatives]))
        labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).bool()
        latents = backend.sample_latents(64, HELDOUT_SEED + 1)
        shifted = ShiftedGenerator(backend, direction)
        try:
            probe_report = adversarial_probe({"original": backend, "unlearned": unlearned, "latent shift": shifted}, images, labels, latents, cancel=cancel)
        except ValueError as exc:
            probe_report = {"skipped": str(exc)}
        result.report["probe"] = {k: v for k, v in probe_report.items() if not k.startswith("_")}
        if "skipped" not in probe_report:
            names = ("original", "unlearned", "latent shift")
            metrics.append(("probe: feature rate before attack (judge classifier)", *(probe_report[n]["judge_rate_before"] for n in names)))
            metrics.append(("probe: feature rate after PGD on z (judge classifier)", *(probe_report[n]["judge_rate_after_attack"] for n in names)))
            accuracy = probe_report["judge_heldout_balanced_accuracy"]
            metrics.append(("probe: judge's held-out balanced accuracy (0.5 = chance; few labels make a weak judge)",
                            accuracy if accuracy is not None else "too few labels to hold out", "", ""))
        else:
            metrics.append(("probe", probe_report["skipped"], "", ""))
    if out_dir is not None:
        save_result(result, Path(out_dir))
    report_progress(progress, 1.0, "done")
    return Comparison(result, rows["with"], rows["without"], metrics)


class ShiftedGenerator(GeneratorBackend):
    """The latent-shift baseline seen as a generator: f(latent_shift(z)). Not registered or saved."""

    def __init__(self, base: GeneratorBackend, direction: FeatureDirection) -> None:
        super().__init__(base.module, base.config)
        self.base, self.direction = base, direction
        self.latent_dim, self.image_size = base.latent_dim, base.image_size  # type: ignore[misc]

    @classmethod
    def build_module(cls, **kwargs: Any):  # pragma: no cover - never built from a config
        raise NotImplementedError

    @classmethod
    def pretrained(cls):  # pragma: no cover
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.base.decode(latent_shift(latents, self.direction), condition)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def main(argv: Optional[list[str]] = None) -> int:
    defaults = FeatureUnlearningConfig()
    p = argparse.ArgumentParser(prog="python -m methods.feature_unlearning", description=__doc__.split("\n\n")[0])
    p.add_argument("--positives", required=True, type=Path, help=".npy latents (n, D) that show the feature")
    p.add_argument("--negatives", required=True, type=Path, help=".npy latents (n, D) that do not")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--generator", default=DEFAULT_FACE_GENERATOR, help="registered name or a saved directory")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--alpha", type=float, default=defaults.alpha)
    p.add_argument("--threshold", choices=THRESHOLDS, default=defaults.threshold)
    p.add_argument("--msssim", choices=MSSSIM_MODES, default=defaults.msssim_mode, help="how MS-SSIM runs at 64 px")
    p.add_argument("--eval-samples", type=int, default=defaults.eval_samples)
    p.add_argument("--seed", type=int, default=defaults.seed)
    args = p.parse_args(argv)
    config = FeatureUnlearningConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, alpha=args.alpha, threshold=args.threshold,
        msssim_mode=args.msssim, seed=args.seed, eval_samples=args.eval_samples,
    )
    try:
        config.validate()
        backend = load_generator(args.generator)
        positives, negatives = np.load(args.positives), np.load(args.negatives)
        started = time.perf_counter()
        from tqdm import tqdm

        with tqdm(total=config.steps, desc="feature unlearning", unit="step") as bar:
            def progress(fraction: float, message: str) -> None:
                bar.n = round(fraction * config.steps)
                bar.set_postfix_str(message)
                bar.refresh()

            result = run(config, backend, positives, negatives, progress=progress)
        result.report["wall_s"] = round(time.perf_counter() - started, 2)
        save_result(result, args.out)
    except (ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    print(f"wrote {args.out / 'generator.safetensors'} and {args.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
