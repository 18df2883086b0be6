"""Feature Unlearning's image-space evaluation on latents the run never saw, for the method and the
latent-shift baseline."""
from __future__ import annotations

from typing import Any, Optional

import torch

from ..backends import GeneratorBackend
from ..image_metrics import ssim_per_image
from .config import HELDOUT_SEED
from .direction import FeatureDirection

WEAK_JUDGE = 0.7  # balanced accuracy on held-out labels below which the judge is called weak


@torch.no_grad()
def evaluate(
    original: GeneratorBackend, unlearned: GeneratorBackend, direction: FeatureDirection, latents: torch.Tensor
) -> dict[str, Any]:
    """- ``ssim_kept``: SSIM(g(z), f(z)) where the projection says "no feature" (preservation);
    - ``l1_to_target``: |g(z) - f(z')| where it says "feature" (how well the move was learnt);
    - the same two for the baseline f(latent_shift(z)), whose preservation is exact by construction.
    """
    has = direction.has_feature(latents)
    f_z = original.render(latents)
    g_z = unlearned.render(latents)
    f_target = original.render(direction.move_to_threshold(latents))
    baseline = torch.where(has[:, None, None, None], f_target, f_z)
    ssim_g = ssim_per_image(g_z, f_z)
    return {
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


def heldout_rows(backend: GeneratorBackend, direction: FeatureDirection, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """n held-out latents that carry the feature most strongly (the highest projections: the feature shows clearly
    in their faces), and n the projection says do not have it (fixed seed)."""
    pool = backend.sample_latents(max(16 * n, 64), HELDOUT_SEED)
    has = direction.has_feature(pool)
    strongest = torch.argsort(direction.project(pool), descending=True)[:n]
    return pool[strongest[has[strongest]]], pool[~has][:n]


def verdict(feature: str, heldout: dict[str, Any], probe: Optional[dict[str, Any]]) -> str:
    """One plain sentence, with its numbers, on what a run did: the tab's headline. The judge is the probe's
    classifier, trained on half the labels and never used by the training; when it is weak (or off) only the
    training fit is left, and the sentence says so."""
    unlearned = heldout.get("unlearned", {})
    kept = unlearned.get("ssim_kept")
    tail = f"; faces without it are unchanged (similarity {kept:.2f}, 1 = identical)." if kept is not None else "."
    name = feature[:1].upper() + feature[1:]
    accuracy = probe.get("judge_heldout_balanced_accuracy") if probe else None
    if probe and "skipped" not in probe and accuracy is not None and accuracy >= WEAK_JUDGE:
        before, after = probe["original"]["judge_rate_before"], probe["unlearned"]["judge_rate_before"]
        return judged_verdict(name, before, after, "a classifier trained on half your labels that the training never "
                              f"used (balanced accuracy {accuracy:.0%} on held-out labels; 50% is chance)", kept)
    fit = unlearned.get("ssim_to_target")
    fit_text = f"{fit:.2f}" if fit is not None else "—"
    why = ("turn the probe on for an independent judge" if not probe or "skipped" in probe else
           f"no independent judge is reliable with these labels (the probe's classifier has a balanced accuracy "
           f"of {accuracy:.0%} on held-out labels; 50% is chance): label more faces for one" if accuracy is not None else
           "too few labels to train an independent judge")
    return (f"{name}: the faces that had it now match their feature-free versions at similarity {fit_text} — a training "
            f"fit, not an independent judgement ({why})" + tail)


def judged_verdict(name: str, rate_before: float, rate_after: float, judge: str, kept: Optional[float]) -> str:
    """The headline when an independent judge measured the feature on new faces before and after."""
    tail = f"; faces without it are unchanged (similarity {kept:.2f}, 1 = identical)." if kept is not None else "."
    return f"{name}: {rate_before:.1%} → {rate_after:.1%} of new faces, as judged by {judge}" + tail
