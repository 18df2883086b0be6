"""Selective Amnesia (Heng & Soh, NeurIPS 2023): a conditional generator forgets a concept c_f.

Maximise  E_{q(x|c_f)}[ELBO(x|θ,c_f)] − λ Σ_i F_i (θ_i − θ*_i)² + γ E_{p(x|c_r)}[ELBO(x|θ,c_r)]
- q: the surrogate distribution for the forgotten concept (uniform noise, or another concept's samples);
- F: the diagonal Fisher of the ELBO at θ*, estimated from the model's OWN samples (no training data),
  with batched per-sample gradients (torch.func) and cached on disk, keyed by the weights;
- replay: samples of the remembered concepts from the frozen original model.

Files: ``config.py`` (settings, bounds, per-model defaults, prompt rules), ``adapters.py`` (the objective's
terms per kind of generator: cVAE, DDPM, Stable Diffusion), ``fisher.py`` (Fisher + EWC penalty), ``train.py``
(the loop), ``evaluate.py`` (digits judge; offline prompt measures), ``compare.py`` (the tab's run: a RunResult),
``__main__.py`` (CLI: ``python -m methods.selective_amnesia --model digits-cvae --forget 0 --out DIR``; on Stable
Diffusion ``accelerate launch -m methods.selective_amnesia --model CompVis/stable-diffusion-v1-4 --forget "Brad Pitt"
--surrogate "a middle-aged man" --mixed-precision fp16 --gradient-checkpointing --out DIR``).
"""
from .adapters import ADAPTERS, AmnesiaAdapter, CVAEAdapter, DDPMAdapter, StableDiffusionAdapter, adapter_for
from ..runtime.cache import weights_key
from .compare import forget, forget_and_compare, forget_prompt_and_compare
from ..runtime.gallery import concept_grid, original_concept_grid
from .config import MODEL_DEFAULTS, MODEL_PRESETS, SD_REPLAY_PROMPTS, TRAIN_METHODS, AmnesiaConfig, model_kind, presets_for
from .evaluate import evaluate, surrogate_fit
from .fisher import accumulate_squared_grads, ewc_penalty, fisher_diagonal
from .train import AmnesiaResult, run

__all__ = [
    "ADAPTERS", "MODEL_DEFAULTS", "SD_REPLAY_PROMPTS", "TRAIN_METHODS", "AmnesiaAdapter", "AmnesiaConfig",
    "AmnesiaResult", "CVAEAdapter", "DDPMAdapter", "StableDiffusionAdapter", "accumulate_squared_grads", "adapter_for", "concept_grid",
    "evaluate", "ewc_penalty", "fisher_diagonal", "forget", "forget_and_compare", "forget_prompt_and_compare",
    "original_concept_grid", "MODEL_PRESETS", "model_kind", "presets_for", "run", "surrogate_fit", "weights_key",
]
