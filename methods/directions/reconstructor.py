"""The reconstructor R: from the pair (G(z), G(z + A eps e_k)) predict k and eps.

Sized for 64-px images on a CPU: four stride-2 convolutions (about 0.8 M parameters) instead of
the official ResNet18 (11 M), which costs most of each CPU step and learns slowly there.
"""
from __future__ import annotations

import torch
from torch import nn


class Reconstructor(nn.Module):
    def __init__(self, k: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(6, w, 4, 2, 1), nn.LeakyReLU(0.2),                          # 32x32
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),  # 16x16
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),  # 8x8
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),  # 4x4
            nn.Flatten(), nn.Linear(4 * w * 16, 256), nn.LeakyReLU(0.2),
        )
        self.classify = nn.Linear(256, k)
        self.regress = nn.Linear(256, 1)

    def forward(self, original: torch.Tensor, shifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(torch.cat([original, shifted], dim=1))
        return self.classify(h), self.regress(h).squeeze(1)
