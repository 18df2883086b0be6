"""SeFa (Shen & Zhou, CVPR 2021): closed-form directions from the generator's first layer."""
from __future__ import annotations

import torch

from ..backends import GeneratorBackend


def first_layer_matrix(backend: GeneratorBackend) -> torch.Tensor:
    """The first layer as a matrix A (out_features, latent_dim) acting on the latent.

    For the DCGAN's ConvTranspose2d(100, 512, 4) on a 1x1 input the output is sum_i z_i W[i], so
    A = W.reshape(100, 512*4*4).T. Back-ends with another first layer provide ``first_layer_matrix``.
    """
    custom = getattr(backend, "first_layer_matrix", None)
    if callable(custom):
        return custom()
    for module in backend.module.modules():
        if isinstance(module, torch.nn.ConvTranspose2d):
            return module.weight.detach().reshape(module.weight.shape[0], -1).T
        if isinstance(module, torch.nn.Linear):
            return module.weight.detach()
    raise ValueError(f"'{backend.name}' has no linear first layer for SeFa")


def sefa(backend: GeneratorBackend, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k eigenvectors of A^T A (rows, unit length) and their eigenvalues, largest first."""
    a = first_layer_matrix(backend).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(eigenvalues, descending=True)
    k = k or len(order)
    return eigenvectors[:, order[:k]].T.float().contiguous(), eigenvalues[order[:k]].float()
