"""The paper's robustness probe: PGD on the latent that tries to bring a forgotten feature back.

A small CNN ``h`` is trained on labelled images to recognise the feature. PGD then searches, for
each starting latent z, a perturbation d with |d|_2 <= radius that maximises h(G(z + d)). The
probe's rate is the share of attacked samples h calls "feature": lower on the unlearned
generator than on the original means the feature is harder to recover.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..backends import GeneratorBackend
from ..runtime import CancelFn, check_cancel, seed_everything
from ..errors import InputError


class FeatureClassifier(nn.Module):
    """A ~25k-parameter CNN for 64-px images in [-1, 1] -> one logit (feature present)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != 64:
            images = nn.functional.interpolate(images, size=64, mode="bilinear", align_corners=False)
        return self.net(images).squeeze(1)


@dataclass
class ClassifierFit:
    model: FeatureClassifier
    heldout_balanced_accuracy: Optional[float]  # None when too few labels to hold any out
    n_train: int


def train_feature_classifier(
    images: torch.Tensor, labels: torch.Tensor, epochs: int = 30, seed: int = 0, holdout: float = 0.2
) -> ClassifierFit:
    """Fit :class:`FeatureClassifier` (class-balanced BCE, flips as augmentation); report held-out accuracy."""
    seed_everything(seed)
    labels = labels.float()
    order = torch.randperm(len(images))
    n_hold = int(len(images) * holdout) if len(images) >= 40 else 0
    hold, train = order[:n_hold], order[n_hold:]
    model = FeatureClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    pos_frac = labels[train].mean().clamp(0.05, 0.95)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=(1 - pos_frac) / pos_frac)
    model.train()
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train))].split(64):
            x = images[idx]
            flip = torch.rand(len(x)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            opt.zero_grad()
            loss_fn(model(x), labels[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    acc = None
    if n_hold:
        with torch.no_grad():
            pred = model(images[hold]) > 0
        truth = labels[hold].bool()
        per_class = [float((pred[truth == c] == c).float().mean()) for c in (True, False) if (truth == c).any()]
        acc = float(np.mean(per_class))
    return ClassifierFit(model, acc, len(train))


@dataclass
class ProbeResult:
    rate_before_attack: float
    rate_after_attack: float
    attacked_latents: torch.Tensor
    attacked_images: torch.Tensor


def pgd_probe(
    generator: GeneratorBackend,
    classifier: nn.Module,
    latents: torch.Tensor,
    radius: float = 3.0,
    steps: int = 10,
    cancel: Optional[CancelFn] = None,
) -> ProbeResult:
    """L2-ball PGD on z maximising the classifier's feature logit through the (frozen) generator."""
    step_size = 2.5 * radius / steps
    start = latents.detach().flatten(1)
    delta = torch.zeros_like(start, requires_grad=True)
    with torch.no_grad():
        before = float((classifier(generator.decode(latents)) > 0).float().mean())
    for _ in range(steps):
        check_cancel(cancel)
        logit = classifier(generator.decode((start + delta).reshape(latents.shape)))
        (grad,) = torch.autograd.grad(logit.sum(), delta)
        with torch.no_grad():
            delta += step_size * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            norms = delta.norm(dim=1, keepdim=True)
            delta *= (radius / norms).clamp(max=1.0)
    attacked = (start + delta.detach()).reshape(latents.shape)
    with torch.no_grad():
        images = generator.decode(attacked)
        after = float((classifier(images) > 0).float().mean())
    return ProbeResult(before, after, attacked, images)


def adversarial_probe(
    generators: dict[str, GeneratorBackend],
    images: torch.Tensor,
    labels: torch.Tensor,
    latents: torch.Tensor,
    radius: float = 1.5,
    steps: int = 10,
    epochs: int = 30,
    seed: int = 0,
    cancel: Optional[CancelFn] = None,
) -> dict[str, object]:
    """Attack each generator with a classifier fit on one half of the labels; judge with the other half's.

    A PGD attack always fools the classifier it attacks, so the attacker's own verdict says little;
    the judge never saw the attack's gradients. Returns per-generator rates, before and after.
    """
    labels = labels.bool()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    half = len(order) // 2
    if min(labels[order[:half]].sum(), (~labels[order[:half]]).sum(), labels[order[half:]].sum(), (~labels[order[half:]]).sum()) < 2:
        raise InputError("the probe needs at least 4 positives and 4 negatives (2 of each per half)")
    attacker = train_feature_classifier(images[order[:half]], labels[order[:half]], epochs=epochs, seed=seed)
    judge = train_feature_classifier(images[order[half:]], labels[order[half:]], epochs=epochs, seed=seed + 1)
    report: dict[str, object] = {
        "radius": radius, "steps": steps, "n_latents": len(latents),
        "attacker_heldout_balanced_accuracy": attacker.heldout_balanced_accuracy,
        "judge_heldout_balanced_accuracy": judge.heldout_balanced_accuracy,
    }
    for name, generator in generators.items():
        result = pgd_probe(generator, attacker.model, latents, radius, steps, cancel)
        with torch.no_grad():
            judge_before = float((judge.model(generator.render(latents)) > 0).float().mean())
            judge_after = float((judge.model(result.attacked_images) > 0).float().mean())
        report[name] = {
            "judge_rate_before": judge_before,
            "judge_rate_after_attack": judge_after,
            "attacker_rate_after_attack": result.rate_after_attack,
        }
        report[f"_{name}_images"] = result.attacked_images
    return report
