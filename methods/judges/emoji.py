"""The judge of ``emoji-sd``: a small CNN that names the concept in a 32-px image.

It is trained (``scripts/train_emoji_judge.py``) on another artist's drawings (Twemoji) and on the generator's
style under augmentations the generator never saw (rotation, gradients, dark backgrounds, noise, blur, colour
changes), plus outlier exposure (backgrounds alone and pixel noise get a flat target, so "nothing" is not called a
cat). No forgetting method and no generator training ever uses it: it can judge them.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..datasets.emoji import concept_in
from ..errors import InputError, shown

if TYPE_CHECKING:
    from ..backends import GeneratorBackend

ASSETS = Path(__file__).resolve().parents[2] / "assets"
JUDGE_DIR = ASSETS / "emoji-judge"
EVAL_SEED = 4242  # the judged samples' seeds: not the galleries' (2024), the replay buffers' (7919 + c) nor an attack's
JUDGE_SIDE = 32
RECOGNISED_AT = 0.5  # the judge's probability of the concept for "recognised" (chance is 1/K)


class EmojiClassifier(nn.Module):
    """Four conv blocks (BatchNorm, ReLU, pooling) and a linear head: 32 px RGB in [-1, 1] -> K logits. Small on
    purpose: it trains in minutes on 2 CPU cores and judges thousands of images in seconds."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 4, 256), nn.ReLU(), nn.Linear(256, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != JUDGE_SIDE:
            x = F.interpolate(x, size=(JUDGE_SIDE, JUDGE_SIDE), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.features(x))


class EmojiJudge:
    """The loaded judge: its concept names and the calls the metrics and the attack make."""

    def __init__(self, model: EmojiClassifier, names: list[str], name: str = "emoji judge") -> None:
        self.model, self.names, self.name = model, names, name

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] -> concept probabilities (N, K)."""
        return torch.cat([torch.softmax(self.model(chunk.float()), dim=1) for chunk in images.split(256)]) \
            if len(images) else torch.empty(0, len(self.names))

    def recognised(self, images: torch.Tensor, concept: str) -> np.ndarray:
        """Per image: does the judge call it ``concept`` (probability >= RECOGNISED_AT)?"""
        return self.probabilities(images)[:, self.names.index(concept)].numpy() >= RECOGNISED_AT

    def describe(self, prompt: str, alternative: str = "") -> str:
        """What the judge's call is, for a report."""
        return (f"the emoji judge (a CNN trained on other drawings, never used by any method): "
                f"P('{concept_in(prompt, self.names)}') >= {RECOGNISED_AT}")

    def probability(self, images: torch.Tensor, prompt: str, alternative: str = "") -> np.ndarray:
        """P(the prompt's concept) per image (the recovery attack's call; ``alternative`` is not needed: the judge
        knows every concept)."""
        concept = concept_in(prompt, self.names)
        if concept is None:
            raise InputError(f"the judge knows no single concept in '{shown(prompt)}'")
        return self.probabilities(images)[:, self.names.index(concept)].numpy()


@functools.lru_cache(maxsize=2)
def emoji_judge(folder: str = str(JUDGE_DIR)) -> EmojiJudge:
    """The shipped judge (frozen, cached per process); ``folder``: a judge's folder, or its name under ``assets/``."""
    folder_path = Path(folder) if Path(folder).is_dir() else ASSETS / folder
    names = json.loads((folder_path / "report.json").read_text())["concepts"]
    model = EmojiClassifier(len(names))
    model.load_state_dict(load_file(str(folder_path / "judge.safetensors")))
    return EmojiJudge(model.eval().requires_grad_(False), names)


def accuracy(judge: EmojiJudge, images: torch.Tensor, labels: Sequence[int]) -> float:
    """Top-1 accuracy of the judge on labelled images."""
    pred = judge.probabilities(images).argmax(1).numpy()
    return float((pred == np.asarray(labels)).mean())


@torch.no_grad()
def judged_probabilities(backend: "GeneratorBackend", judge: EmojiJudge, prompts: Sequence[str], seeds: Sequence[int],
                         n: int) -> torch.Tensor:
    """The judge's probabilities on ``n`` samples of each prompt, prompt ``i`` drawn from seed ``seeds[i]``:
    (prompts, n, K). One render for all prompts (the sampler's per-step cost is paid once)."""
    bound = backend.with_conditions(list(prompts))
    z = torch.cat([bound.sample_latents(n, int(s)) for s in seeds])
    images = bound.render(z, torch.arange(len(prompts)).repeat_interleave(n))
    return judge.probabilities(images).reshape(len(prompts), n, -1)


def original_probabilities(backend: "GeneratorBackend", judge: EmojiJudge, prompts: Sequence[str], seeds: Sequence[int],
                           n: int) -> torch.Tensor:
    """:func:`judged_probabilities` of a model every run starts from, cached on disk one entry per prompt and seed,
    keyed by the model's weights, the judge's, ``n`` and the sampler settings: a run judging other neighbours or fewer
    concepts reuses what any earlier run drew. Missing entries are drawn in one render."""
    from safetensors.torch import load_file

    from ..runtime.cache import CACHE_ROOT, computing, weights_key, write_tensors

    if not prompts:
        return torch.empty(0, n, len(judge.names))
    settings = f"{backend.config.get('sample_steps')}-{backend.config.get('guidance_scale')}-{backend.image_size}"
    model = f"{backend.name}-{weights_key(backend.module)}-judge-{weights_key(judge.model)}"
    folder = CACHE_ROOT / "evaluations"
    paths = [folder / f"{model}-{hashlib.sha256(json.dumps([p, int(s), n, settings]).encode()).hexdigest()[:16]}.safetensors"
             for p, s in zip(prompts, seeds)]
    if not all(p.is_file() for p in paths):
        with computing(folder / model):  # one model's evaluation at a time: a second process waits, then reads
            missing = [i for i, p in enumerate(paths) if not p.is_file()]
            if missing:
                drawn = judged_probabilities(backend, judge, [prompts[i] for i in missing], [seeds[i] for i in missing], n)
                for row, i in enumerate(missing):
                    write_tensors(paths[i], {"p": drawn[row]})
    return torch.stack([load_file(str(p))["p"] for p in paths])
