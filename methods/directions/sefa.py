"""SeFa (Shen & Zhou, CVPR 2021): closed-form directions from the generator's first layer."""
from __future__ import annotations

import torch

from ..backends import GeneratorBackend


def sefa(backend: GeneratorBackend, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k eigenvectors of A^T A (rows, unit length) and their eigenvalues, largest first."""
    a = backend.first_layer_matrix().double()
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(eigenvalues, descending=True)
    k = k or len(order)
    return eigenvectors[:, order[:k]].T.float().contiguous(), eigenvalues[order[:k]].float()
