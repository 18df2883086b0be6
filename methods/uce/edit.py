"""UCE's closed-form edit of the cross-attention key and value projections.

For every projection W (text embedding -> key or value) of every cross-attention layer:

    W' = ( λ W + s_e Σ_i v*_i c_iᵀ + s_p Σ_j (W c_j) c_jᵀ ) ( λ I + s_e Σ_i c_i c_iᵀ + s_p Σ_j c_j c_jᵀ )⁻¹

c_i: the token embeddings of an erased prompt from its last word on (its end and padding tokens, which carry the
prompt in a causal text encoder), v*_i = W c*_i: the surrogate's at the same positions (aligned from the end);
c_j: every token of a preserved prompt, kept where it maps now. Summed over tokens, as the official code does.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..backends import GeneratorBackend
from .config import UCEConfig


def cross_attention_projections(unet: torch.nn.Module, keys: bool = True) -> dict[str, torch.nn.Linear]:
    """The text-side projections of every cross-attention layer (``attn2``): to_v, and to_k if ``keys``."""
    wanted = ("attn2.to_v", "attn2.to_k") if keys else ("attn2.to_v",)
    return {name: m for name, m in unet.named_modules() if name.endswith(wanted) and isinstance(m, torch.nn.Linear)}


@torch.no_grad()
def token_embeddings(backend: GeneratorBackend, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings (N, 77, D), real-token counts (N,)) from the pipeline's own tokenizer and text encoder."""
    tok = backend.pipeline.tokenizer(prompts, padding="max_length", max_length=backend.pipeline.tokenizer.model_max_length,
                                     truncation=True, return_tensors="pt")
    encoder = backend.pipeline.text_encoder
    return encoder(tok.input_ids.to(encoder.device))[0].float(), tok.attention_mask.sum(1)


def _aligned(old: torch.Tensor, new: torch.Tensor, n_old: int, n_new: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two prompts' tokens from their last word on, cut to the same length (the official alignment)."""
    f_old, f_new = n_old - 2, n_new - 2  # the last word's position (after the start token)
    far = max(f_old, f_new)
    return old[f_old:len(old) - max(0, far - f_old)], new[f_new:len(new) - max(0, far - f_new)]


@torch.no_grad()
def uce_edit(backend: GeneratorBackend, config: UCEConfig, erase: list[str]) -> tuple[GeneratorBackend, dict[str, Any]]:
    """A copy of ``backend`` with every cross-attention key/value projection replaced by the closed form; the shared
    original is untouched. ``erase``: the prompts to erase (with rewordings when the config asks for them).
    Returns the edited generator and a report (time, the parameters changed, the edited tensors' names)."""
    started = time.perf_counter()
    edited = backend.trainable_copy()
    edited.module.requires_grad_(False)
    surrogate = config.surrogate or " "  # the official code's unconditional target
    old, n_old = token_embeddings(backend, erase)
    new, n_new = token_embeddings(backend, [surrogate] * len(erase))
    pairs = [_aligned(old[i], new[i], int(n_old[i]), int(n_new[i])) for i in range(len(erase))]
    kept = token_embeddings(backend, list(config.preserve))[0] if config.preserve else None
    changed = {}
    for name, layer in cross_attention_projections(edited.module, config.edit_keys).items():
        weight = layer.weight.float()
        d = weight.shape[1]
        lhs = config.lamb * weight  # λ W + Σ v cᵀ
        rhs = config.lamb * torch.eye(d, device=weight.device)  # λ I + Σ c cᵀ
        for c, c_new in pairs:
            lhs += config.erase_scale * (c_new @ weight.T).T @ c
            rhs += config.erase_scale * c.T @ c
        if kept is not None:
            for c in kept:
                lhs += config.preserve_scale * (c @ weight.T).T @ c
                rhs += config.preserve_scale * c.T @ c
        layer.weight.copy_((lhs @ torch.linalg.inv(rhs)).to(layer.weight.dtype))
        changed[f"{name}.weight"] = layer.weight.detach().cpu().clone()
    edited.frozen()
    report = {"method": "uce", "edit_s": round(time.perf_counter() - started, 3), "erased_prompts": erase,
              "surrogate": config.surrogate or "(unconditional)", "preserved_prompts": len(config.preserve),
              "edited_tensors": sorted(changed), "trainable_parameters": int(sum(t.numel() for t in changed.values()))}
    return edited, {**report, "_changed": changed}
