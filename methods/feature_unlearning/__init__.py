"""Feature Unlearning for pre-trained GANs and VAEs (Moon, Cho & Kim, AAAI 2024).

The user labels generated samples as having a visual feature or not. The difference of the
labelled latents' means is the feature's target vector z_e; latents whose projection on z_e
exceeds a threshold t "have" the feature. A copy g of the generator f is fine-tuned so that
    g(z) = f(z)                     where proj(z) <  t     (L_recon, L1)
    g(z) = f(z - (proj(z) - t) u)   where proj(z) >= t     (L_unlearn, L1 + L_percep, 1 - MS-SSIM)
with u = z_e / |z_e|. The free alternative, shifting latents at sampling time (``latent_shift``), is reported
beside it everywhere.

Files: ``config.py`` (settings and bounds), ``direction.py`` (z_e, projection, threshold, the move, the latent
shift), ``loss.py`` (the objective), ``train.py`` (the loop, saving), ``evaluate.py`` (held-out image checks),
``probe.py`` (PGD on z), ``labels.py`` (labelling files), ``compare.py`` (the tab's run: a RunResult),
``__main__.py`` (CLI: ``python -m methods.feature_unlearning --positives P.npy --negatives N.npy --out DIR``).
"""
from .compare import unlearn_from_labels
from .config import HELDOUT_SEED, MIN_LABELS_EACH, PRESETS, THRESHOLDS, FeatureUnlearningConfig
from .direction import DIRECTION_FILE, FeatureDirection, ShiftedGenerator, latent_shift, projection, target_vector, threshold
from .evaluate import evaluate, heldout_rows
from .loss import unlearning_loss
from .train import FeatureUnlearningResult, run, save_result, validate_labels

__all__ = [
    "DIRECTION_FILE", "HELDOUT_SEED", "MIN_LABELS_EACH", "THRESHOLDS", "FeatureDirection", "FeatureUnlearningConfig",
    "FeatureUnlearningResult", "PRESETS", "ShiftedGenerator", "evaluate", "heldout_rows", "latent_shift", "projection", "run",
    "save_result", "target_vector", "threshold", "unlearn_from_labels", "unlearning_loss", "validate_labels",
]
