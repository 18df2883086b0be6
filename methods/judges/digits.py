"""scikit-learn's handwritten digits (1797 real 8x8 images, ships offline) and the digits classifier
that judges the Amnesia tab's models (trained on a split, its held-out accuracy reported)."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "digits"
SPLIT_SEED = 0


def load_split() -> dict[str, torch.Tensor]:
    """Stratified 80/20 split: ``x_train``/``y_train`` train the generators and the classifier;
    ``x_test``/``y_test`` only measure the classifier. Pixels in [0, 1], shape (N, 64)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.2, random_state=SPLIT_SEED, stratify=data.target)
    return {"x_train": torch.from_numpy(x_tr), "y_train": torch.from_numpy(y_tr).long(),
            "x_test": torch.from_numpy(x_te), "y_test": torch.from_numpy(y_te).long()}


class DigitsClassifier(nn.Module):
    """A small CNN on 8x8 digits in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, 1, 8, 8))


@functools.lru_cache(maxsize=1)
def classifier() -> DigitsClassifier:
    model = DigitsClassifier()
    model.load_state_dict(load_file(str(ASSETS / "classifier.safetensors")))
    return model.eval().requires_grad_(False)


@torch.no_grad()
def class_probabilities(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N, 1, 8, 8) -> class probabilities (N, 10) under the digits classifier."""
    return torch.softmax(classifier()((images.float() + 1) / 2), dim=1)


class DigitsMLP(nn.Module):
    """The attacker's classifier: another architecture (an MLP) and another recipe (plain cross-entropy, no outlier
    exposure) than the judge, on the same training split. Attacks optimise it; the judge then says what came back."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, 64))


@functools.lru_cache(maxsize=1)
def attacker_classifier() -> DigitsMLP:
    """The shipped attacker classifier (``python scripts/train_digits.py --models attacker``), frozen."""
    model = DigitsMLP()
    model.load_state_dict(load_file(str(ASSETS / "attacker.safetensors")))
    return model.eval().requires_grad_(False)


def attacker_log_probabilities(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N, 1, 8, 8) -> the attacker's log class probabilities (N, 10), differentiable."""
    return torch.log_softmax(attacker_classifier()((images.float() + 1) / 2), dim=1)
