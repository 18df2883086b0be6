"""CLIP as a zero-shot judge of prompt-conditioned generators (Stable Diffusion): is an image closer to the forgotten
prompt or to its surrogate? No method in this suite trains against CLIP's image tower, so it can judge them.

Any ``transformers`` CLIPModel works: a Hub id (downloads once) or a local folder with the model and its tokenizer.
Offline, with no such folder, :func:`clip_judge` raises :class:`JudgeUnavailable` with a plain message.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..backends import BackendError

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
# CLIP's own image normalisation (the same for every OpenAI and open_clip ViT checkpoint)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class JudgeUnavailable(BackendError):
    """The judge's weights cannot be had here (offline, or no such model)."""


@dataclass
class ClipJudge:
    """A loaded CLIP: :meth:`probability` of the first of two prompts, per image, by zero-shot softmax."""

    name: str
    model: Any  # transformers.CLIPModel
    tokenizer: Any

    def describe(self, prompt: str, alternative: str) -> str:
        """What the judge's call is, for a report."""
        return f"CLIP zero-shot ({self.name}): '{prompt}' against '{alternative}', P >= 0.5"

    @torch.no_grad()
    def probability(self, images: torch.Tensor, prompt: str, alternative: str) -> np.ndarray:
        """P(``prompt``) against ``alternative`` for images (N, 3, H, W) in [-1, 1]: CLIP's softmax over the two."""
        device = next(self.model.parameters()).device
        side = self.model.config.vision_config.image_size
        x = F.interpolate((images.float().to(device) + 1) / 2, size=(side, side), mode="bicubic", align_corners=False)
        mean, std = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in (CLIP_MEAN, CLIP_STD))
        # truncated to CLIP's 77 tokens, as the pipeline's own text encoder reads a prompt
        tokens = self.tokenizer([prompt, alternative], padding=True, truncation=True,
                                max_length=self.model.config.text_config.max_position_embeddings, return_tensors="pt").to(device)
        out = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                         pixel_values=((x.clamp(0, 1) - mean) / std))
        return out.logits_per_image.softmax(dim=1)[:, 0].cpu().numpy()


@functools.lru_cache(maxsize=2)
def clip_judge(model: str = DEFAULT_CLIP) -> ClipJudge:
    """Load CLIP from a Hub id or a local folder (cached per process); JudgeUnavailable when it cannot be had."""
    from transformers import AutoTokenizer, CLIPModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    try:
        clip = CLIPModel.from_pretrained(str(model)).eval().requires_grad_(False)
        tokenizer = AutoTokenizer.from_pretrained(str(model))
    except Exception as exc:  # OSError offline or for a wrong folder, ValueError for a model that is not CLIP
        reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].split(". ")[0][:160]
        where = "this folder" if Path(str(model)).is_dir() else "the Hugging Face Hub (no network here?)"
        raise JudgeUnavailable(f"The CLIP judge '{model}' cannot be loaded from {where}: {reason}. Without a judge, "
                               "whether the prompt comes back cannot be measured.") from exc
    return ClipJudge(str(model), clip, tokenizer)
