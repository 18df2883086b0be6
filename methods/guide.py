"""GUIDE (Seo et al., CVPR 2024): make a face generator unable to produce one person, from one photo.

1. Invert the photo into W (``methods.inversion``): w_u.
2. UFO target: w_t = w̄ − d·(w_u − w̄)/‖w_u − w̄‖. Official d = 30 in EG3D's w space; here d is given in
   units of R, the median distance of the generator's own w from w̄ (``d = 1``: the target lies on the
   opposite side of the average face, at a typical face's distance from it).
3. Fine-tune the synthesis layers (after W; the z -> W map stays fixed like a mapping network) with
   L = L_local + λ_adj·L_adj + λ_global·L_global, where
   L_local = λ_L2·‖F_u − F_t‖² + λ_per·Per(x̂_u, x̂_t) + λ_id·ID(x̂_u, x̂_t),
   L_adj = L_local over N_a neighbours w + Δ_i, Δ_i = α_i·(w_r,i − w_u)/‖w_r,i − w_u‖, α_i ~ U(0, α_max),
   L_global = Per(G_u(w_r), G_s(w_r)) over N_g random latents kept outside the neighbourhood.
   Per = LPIPS when its backbone weights are available, else 1 − MS-SSIM; ID = facenet's VGGFace2 network
   when its weights are available, else off. The report says which ran.
Baseline (the paper's): w_t = w̄ (the average face), L_local only.

Evaluation uses dlib's face descriptor, which no loss uses or imitates.
CLI: ``python -m methods.guide --image FACE.jpg --out DIR [--baseline --steps --d --seed]``.
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .backends import BackendError, GeneratorBackend, load_generator
from .image_metrics import ms_ssim_similarity, ssim_per_image
from .runtime import CancelFn, ProgressFn, check_cancel, make_accelerator, report_progress, use_all_cores


@dataclass
class GuideConfig:
    """Official weights (λ_L2 1e-2 on EG3D triplanes, λ_per 1, λ_id 0.1, N_a 2, λ_adj 1, N_g 2, λ_global 1,
    α_max = d/2, Adam lr 1e-4 × 1000 steps) rescaled for a 64-px DCGAN on a CPU: λ_L2 applies to the mean
    squared feature difference; lr 1e-3 × 200 steps; N_g 16 and λ_global 2, because one small synthesis
    network (3.5 M parameters) draws every face (``benchmarks/guide_ablations.py`` compares them with the
    official N_g 2 / λ 1 on random-face SSIM)."""

    steps: int = 200
    lr: float = 1e-3
    d: float = 1.0  # in units of R (median ‖w − w̄‖ of the generator's own w)
    alpha_max: float = 0.5  # same units; official 15 with d = 30
    n_adjacent: int = 2
    n_global: int = 16
    lambda_l2: float = 1.0
    lambda_per: float = 1.0
    lambda_id: float = 0.1
    lambda_adj: float = 1.0
    lambda_global: float = 2.0
    perceptual: str = "auto"  # auto (LPIPS if available, else MS-SSIM) | lpips | msssim
    baseline: bool = False
    seed: int = 0

    def validate(self) -> None:
        checks = [
            (1 <= self.steps <= 20_000, "steps must be between 1 and 20000"),
            (1e-6 <= self.lr <= 0.1, "learning rate must be between 1e-6 and 0.1"),
            (0 <= self.d <= 10, "d must be between 0 and 10 (in units of a typical face's distance from the average)"),
            (0 <= self.alpha_max <= 10, "α_max must be between 0 and 10"),
            (0 <= self.n_adjacent <= 64 and 0 <= self.n_global <= 64, "N_a and N_g must be between 0 and 64"),
            (all(0 <= v <= 1000 for v in (self.lambda_l2, self.lambda_per, self.lambda_id, self.lambda_adj, self.lambda_global)),
             "loss weights must be between 0 and 1000"),
            (self.perceptual in ("auto", "lpips", "msssim"), "perceptual must be auto, lpips or msssim"),
            (0 <= self.seed < 2**31, "seed must be in [0, 2^31)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# ------------------------------------------------------------------------------------------------
# Latent geometry: the average face, the UFO target, neighbours
# ------------------------------------------------------------------------------------------------
@dataclass
class LatentStats:
    mean: torch.Tensor  # w̄ (1, *w_shape)
    radius: float  # R: median ‖w − w̄‖ over the generator's own w


@torch.no_grad()
def latent_stats(backend: GeneratorBackend, n: int = 2000, seed: int = 777) -> LatentStats:
    """w̄ and R from the generator's own samples."""
    w = backend.to_w(backend.sample_latents(n, seed).to(backend.device))
    mean = w.mean(0, keepdim=True)
    return LatentStats(mean, float((w - mean).flatten(1).norm(dim=1).median()))


def ufo_target(source: torch.Tensor, mean: torch.Tensor, distance: float) -> torch.Tensor:
    """w_t = w̄ − distance · (w_u − w̄)/‖w_u − w̄‖ (per row)."""
    identity = (source - mean).flatten(1)
    unit = identity / identity.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return mean - distance * unit.reshape(source.shape)


def neighbour_offsets(source: torch.Tensor, random_w: torch.Tensor, alpha_max: float, g: torch.Generator) -> torch.Tensor:
    """Δ_i = α_i (w_r,i − w_u)/‖w_r,i − w_u‖ with α_i ~ U(0, alpha_max): steps from w_u towards random faces."""
    direction = (random_w - source).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alpha = torch.rand(len(random_w), 1, generator=g) * alpha_max
    return (alpha * direction).reshape(random_w.shape)


def far_random_w(backend: GeneratorBackend, source: torch.Tensor, n: int, min_distance: float, g: torch.Generator) -> torch.Tensor:
    """N_g random latents, each redrawn while it falls inside the neighbourhood of w_u."""
    out = []
    while len(out) < n:
        z = torch.randn((4 * n, backend.latent_dim), generator=g).to(backend.device)
        with torch.no_grad():
            w = backend.to_w(z)
        keep = (w - source).flatten(1).norm(dim=1) >= min_distance
        out.extend(w[keep])
    return torch.stack(out[:n])


# ------------------------------------------------------------------------------------------------
# Loss terms (perceptual: LPIPS or MS-SSIM; identity: facenet when its weights exist)
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def lpips_model():
    """LPIPS (AlexNet) if torchvision's AlexNet weights can be had (cached or downloadable), else None."""
    try:
        import lpips

        return lpips.LPIPS(net="alex", verbose=False).eval().requires_grad_(False)
    except Exception:  # offline: the backbone download fails (URLError/OSError/RuntimeError)
        return None


@functools.lru_cache(maxsize=1)
def identity_model():
    """facenet-pytorch's InceptionResnetV1 (VGGFace2) if its weights can be had, else None (offline)."""
    try:
        from facenet_pytorch import InceptionResnetV1

        return InceptionResnetV1(pretrained="vggface2").eval().requires_grad_(False)
    except Exception:
        return None


def perceptual_name(config: GuideConfig) -> str:
    if config.perceptual == "msssim":
        return "MS-SSIM"
    if lpips_model() is not None:
        return "LPIPS (AlexNet)"
    if config.perceptual == "lpips":
        raise BackendError("LPIPS was asked for, but its AlexNet backbone weights are not available here (no network)")
    return "MS-SSIM"


def perceptual_distance(x: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """Per-image perceptual distance for images in [-1, 1]."""
    if name.startswith("LPIPS"):
        return lpips_model().to(x.device)(x, y).flatten()
    return 1 - ms_ssim_similarity(x, y, mode="native")


def identity_distance_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 − cosine similarity of facenet embeddings (per image)."""
    model = identity_model().to(x.device)
    size = lambda t: F.interpolate(t, size=160, mode="bilinear", align_corners=False)  # noqa: E731
    return 1 - F.cosine_similarity(model(size(x)), model(size(y)), dim=1)


def local_loss(x_u: torch.Tensor, feats_u: list[torch.Tensor], x_t: torch.Tensor, feats_t: list[torch.Tensor],
               config: GuideConfig, perceptual: str, use_id: bool) -> torch.Tensor:
    """Per-pair L_local = λ_L2 ‖F_u − F_t‖² + λ_per Per(x_u, x_t) [+ λ_id ID(x_u, x_t)]; shape (N,)."""
    l2 = sum((fu - ft).pow(2).flatten(1).mean(1) for fu, ft in zip(feats_u, feats_t)) / len(feats_u)
    loss = config.lambda_l2 * l2 + config.lambda_per * perceptual_distance(x_u, x_t, perceptual)
    if use_id:
        loss = loss + config.lambda_id * identity_distance_loss(x_u, x_t)
    return loss


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------
@dataclass
class GuideResult:
    generator: GeneratorBackend
    source_w: torch.Tensor
    target_w: torch.Tensor
    report: dict[str, Any]


def run(config: GuideConfig, backend: GeneratorBackend, source_w: torch.Tensor, progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None) -> GuideResult:
    """Fine-tune a copy of ``backend`` so that ``source_w`` (1, *w_shape) no longer renders its person."""
    config.validate()
    if backend.w_shape is None:
        raise ValueError(f"GUIDE needs a back-end with a W latent space; '{backend.name}' has none")
    use_all_cores()
    started = time.perf_counter()
    g = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    stats = latent_stats(backend)
    source_w = source_w.reshape(1, *backend.w_shape).to(backend.device)
    if config.baseline:
        target_w = stats.mean.clone()
    else:  # the formula can leave the valid set (negative activations): project back onto it
        target_w = backend.project_w(ufo_target(source_w, stats.mean, config.d * stats.radius))
    alpha_max = config.alpha_max * stats.radius
    n_adjacent, n_global = (0, 0) if config.baseline else (config.n_adjacent, config.n_global)
    perceptual = perceptual_name(config)
    use_id = config.lambda_id > 0 and identity_model() is not None

    accelerator = make_accelerator()
    student = backend.trainable_copy()
    trainable = set(backend.synthesis_parameter_names())
    for name, p in student.module.named_parameters():
        p.requires_grad_(name in trainable)
    optimizer = torch.optim.Adam([p for p in student.module.parameters() if p.requires_grad], lr=config.lr)
    student.module, optimizer = accelerator.prepare(student.module, optimizer)
    module = accelerator.unwrap_model(student.module)
    history = []
    for step in range(config.steps):
        check_cancel(cancel)
        source = source_w.to(accelerator.device)
        target = target_w.to(accelerator.device)
        if n_adjacent:
            random_w = far_random_w(backend, source, n_adjacent, 0.0, g)
            offsets = neighbour_offsets(source, random_w, alpha_max, g)
            source = torch.cat([source, source + offsets])
            target = torch.cat([target, backend.project_w(target + offsets)])
        with torch.no_grad():
            x_t, feats_t = backend.synthesize(target, return_features=True)
        x_u, feats_u = backend.synthesize(source, return_features=True, module=module)
        per_pair = local_loss(x_u, feats_u, x_t, feats_t, config, perceptual, use_id)
        loss_local = per_pair[0]
        loss_adj = per_pair[1:].mean() if n_adjacent else torch.zeros(())
        loss = loss_local + config.lambda_adj * loss_adj
        loss_global = torch.zeros(())
        if n_global:
            global_w = far_random_w(backend, source_w, n_global, alpha_max, g)
            with torch.no_grad():
                x_s = backend.synthesize(global_w)
            loss_global = perceptual_distance(backend.synthesize(global_w, module=module), x_s, perceptual).mean()
            loss = loss + config.lambda_global * loss_global
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        history.append({"step": step, "local": float(loss_local.detach()), "adjacent": float(loss_adj.detach()),
                        "global": float(loss_global.detach())})
        if step % 10 == 0 or step == config.steps - 1:
            report_progress(progress, (step + 1) / config.steps, f"unlearning: step {step + 1}/{config.steps}")
    student.module = module.cpu()
    student.frozen()
    report = {"method": "guide-baseline" if config.baseline else "guide", "settings": asdict(config),
              "perceptual_loss": perceptual, "identity_loss": "facenet VGGFace2" if use_id else
              "off (facenet's VGGFace2 weights are not available here)" if config.lambda_id > 0 else "off",
              "latent_space": f"W = {tuple(backend.w_shape)} ({int(np.prod(backend.w_shape))}-d)",
              "radius_R": round(stats.radius, 3), "d_absolute": round(config.d * stats.radius, 3),
              "alpha_max_absolute": round(alpha_max, 3), "fine_tuned_parameters": int(sum(
                  p.numel() for n, p in student.module.named_parameters() if n in trainable)),
              "train_s": round(time.perf_counter() - started, 1), "final": history[-1] if history else None}
    return GuideResult(student, source_w.cpu(), target_w.cpu(), report)


# ------------------------------------------------------------------------------------------------
# Evaluation with dlib (independent of every loss above)
# ------------------------------------------------------------------------------------------------
@dataclass
class EvaluationReference:
    """What every evaluation against one original compares with, computed once (dlib costs ~0.1 s a face):
    the latents and the original's descriptors of the photo, the source, the other images and random faces."""

    source_w: torch.Tensor
    photo: np.ndarray  # descriptor (1, 128)
    source: np.ndarray
    other_names: list[str]
    other_w: Optional[torch.Tensor]
    others: Optional[np.ndarray]
    random_w: torch.Tensor
    random_images: torch.Tensor
    random: np.ndarray


@torch.no_grad()
def evaluation_reference(original: GeneratorBackend, source_w: torch.Tensor, photo: np.ndarray,
                         other_w: Optional[dict[str, torch.Tensor]] = None, n_random: int = 100,
                         seed: int = 4321) -> EvaluationReference:
    """The original's side of :func:`evaluate`, for one photo (``other_w``: other images' latents)."""
    from .faces import face_descriptors

    names = list(other_w or {})
    stacked = torch.cat([other_w[k].reshape(1, *original.w_shape) for k in names]) if names else None
    random_w = original.to_w(original.sample_latents(n_random, seed).to(original.device))
    random_images = original.render_w(random_w)
    return EvaluationReference(
        source_w=source_w, photo=face_descriptors(photo[None]), source=face_descriptors(original.render_w(source_w)),
        other_names=names, other_w=stacked, others=face_descriptors(original.render_w(stacked)) if names else None,
        random_w=random_w, random_images=random_images, random=face_descriptors(random_images))


@torch.no_grad()
def evaluate(unlearned: GeneratorBackend, reference: EvaluationReference) -> dict[str, Any]:
    """ID (source before vs after), ID_others (other images' latents), preservation on random latents."""
    from .faces import SAME_PERSON, face_descriptors, identity_distance

    after = face_descriptors(unlearned.render_w(reference.source_w))
    out: dict[str, Any] = {
        "photo_vs_reconstruction": _num(identity_distance(reference.photo, reference.source)[0]),
        "id_source_before_vs_after": _num(identity_distance(reference.source, after)[0]),
        "photo_vs_unlearned": _num(identity_distance(reference.photo, after)[0]),
        "unlearned_source_is_a_face": bool(np.isfinite(after).all()),
        "same_person_threshold": SAME_PERSON,
    }
    if reference.other_names:
        dist = identity_distance(reference.others, face_descriptors(unlearned.render_w(reference.other_w)))
        found = np.isfinite(dist)
        out["id_others"] = {k: _num(v) for k, v in zip(reference.other_names, dist)}
        out["id_others_forgotten_rate"] = float((dist[found] > SAME_PERSON).mean()) if found.any() else None
        out["id_others_mean"] = float(dist[found].mean()) if found.any() else None
    random_after = unlearned.render_w(reference.random_w)
    dist = identity_distance(reference.random, face_descriptors(random_after))
    found = np.isfinite(dist)
    out["preservation_same_person_rate"] = float((dist[found] < SAME_PERSON).mean()) if found.any() else None
    out["preservation_faces_compared"] = int(found.sum())
    out["preservation_ssim"] = float(ssim_per_image(random_after, reference.random_images).mean())
    out["n_random"] = len(reference.random_w)
    return out


def _num(x: float) -> Optional[float]:
    return None if not np.isfinite(x) else round(float(x), 4)


def main(argv: Optional[list[str]] = None) -> int:
    from .face_input import FaceInputError
    from .identity import unlearn_identity

    d = GuideConfig()
    p = argparse.ArgumentParser(prog="python -m methods.guide", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, required=True, help="one photo of the person (JPEG/PNG)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--baseline", action="store_true", help="the paper's baseline: target = average face, L_local only")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--d", type=float, default=d.d, help="UFO distance in units of R (a typical face's distance from w̄)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--other-image", type=Path, action="append", default=[], help="other photos of the person (ID_others)")
    p.add_argument("--generator", default="digiface-dcgan")
    p.add_argument("--n-random", type=int, default=100, help="random latents for the preservation metrics")
    args = p.parse_args(argv)
    try:
        backend = load_generator(args.generator)
        config = GuideConfig(steps=args.steps, d=args.d, seed=args.seed, baseline=args.baseline)
        comparison = unlearn_identity(backend, args.image, config, extra_photos=args.other_image, compare_baseline=False,
                                      out_dir=args.out, n_random=args.n_random)
    except (BackendError, FaceInputError, ValueError, OSError) as exc:
        p.exit(2, f"error: {exc}\n")
    e = next(iter(comparison.reports.values()))["evaluation"]
    print(f"wrote {args.out}: ID distance before/after {e['id_source_before_vs_after']}, ID_others forgotten "
          f"{e.get('id_others_forgotten_rate')}, preservation {e['preservation_same_person_rate']} (SSIM {e['preservation_ssim']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
