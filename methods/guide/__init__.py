"""GUIDE (Seo et al., CVPR 2024): make a face generator unable to produce one person, from one photo.

1. Invert the photo into W (``inversion.py``): w_u.
2. Target (``target.py``): by default a random face of nobody — the generator's own face nearest to w_u that dlib
   detects, of typical brightness, recognised as someone else. The paper's UFO target (``target="ufo"``):
   w_t = w̄ − d·(w_u − w̄)/‖w_u − w̄‖. Official d = 30 in EG3D's w space; here d is given in units of R, the median
   distance of the generator's own w from w̄ (``d = 1``: the target lies on the opposite side of the average face,
   at a typical face's distance from it).
3. Fine-tune the synthesis layers (after W; the z -> W map stays fixed like a mapping network) with
   L = L_local + λ_adj·L_adj + λ_global·L_global, where
   L_local = λ_L2·‖F_u − F_t‖² + λ_per·Per(x̂_u, x̂_t) + λ_id·ID(x̂_u, x̂_t),
   L_adj = L_local over N_a neighbours w + Δ_i, Δ_i = α_i·(w_r,i − w_u)/‖w_r,i − w_u‖, α_i ~ U(0, α_max),
   L_global = Per(G_u(w_r), G_s(w_r)) over N_g random latents kept outside the neighbourhood.
   Per = LPIPS when its backbone weights are available, else 1 − MS-SSIM; ID = facenet's VGGFace2 network
   when its weights are available, else off. The report says which ran.
Baseline (the paper's): w_t = w̄ (the average face), L_local only.
Robust mode (``robust_rounds``): the fine-tuning alternated with a re-inversion attack on the current model; the latents
that still draw the person join the forget set (``train.py``). The verdict's attack is a held-out one (``attack.py``).

Files: ``config.py`` (settings, bounds), ``face_input.py`` (photo reading, alignment, other views),
``inversion.py`` (encoder + W inversion; ``python -m methods.invert``), ``geometry.py`` (w̄, R, UFO target,
neighbours), ``target.py`` (the nobody target), ``losses.py`` (L_local and its terms), ``train.py`` (the loop and its
robust rounds), ``attack.py`` (recovery attacks), ``evaluate.py`` (dlib: ID, ID_others, preservation), ``pipeline.py``
(photo to RunResult, for the tab and the CLI), ``__main__.py`` (CLI: ``python -m methods.guide --image FACE.jpg
--out DIR [--baseline --robust --attack --target --steps --d --seed]``).
"""
from .config import PRESETS, ROBUST_ROUNDS, GuideConfig
from .evaluate import EvaluationReference, evaluate, evaluation_reference
from .geometry import LatentStats, far_random_w, latent_stats, neighbour_offsets, ufo_target
from .losses import identity_model, local_loss, lpips_model, perceptual_distance, perceptual_name
from .pipeline import metric_rows, save_result, unlearn_identity
from .train import GuideResult, run

__all__ = [
    "EvaluationReference", "GuideConfig", "PRESETS", "ROBUST_ROUNDS", "GuideResult", "LatentStats", "evaluate", "evaluation_reference",
    "far_random_w", "identity_model", "latent_stats", "local_loss", "lpips_model", "metric_rows", "neighbour_offsets",
    "perceptual_distance", "perceptual_name", "run", "save_result", "ufo_target", "unlearn_identity",
]
