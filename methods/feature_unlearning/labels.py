"""Labels of generated samples: which seeds were shown, which samples have the feature.

A labelling is stored by page seed, not by latent, so a file is small, readable and shareable in
a workshop (everyone regenerates the same latents from the seeds):
``{"format": "unlearning-studio-labels", "version": 1, "generator": "digiface-dcgan",
   "page_size": 64, "pages": {"<seed>": [indices with the feature]}}``
Every sample on a listed page that is not marked is a negative.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..backends import GeneratorBackend
from ..errors import InputError

FORMAT = "unlearning-studio-labels"
MAX_PAGES = 2000
MAX_SEED = 2**31 - 1


class LabelFileError(InputError):
    """A labels file that is not one (message is shown to users)."""


@dataclass
class LabelSet:
    generator: str
    page_size: int = 64
    pages: dict[int, set[int]] = field(default_factory=dict)

    def mark_page(self, seed: int, marked: list[bool] | list[int]) -> None:
        """Record one page: ``marked`` is a bool per sample (or the list of marked indices)."""
        if marked and isinstance(marked[0], bool):
            marked_idx = {i for i, m in enumerate(marked) if m}
        else:
            marked_idx = {int(i) for i in marked}
        self.pages[int(seed)] = {i for i in marked_idx if 0 <= i < self.page_size}

    def counts(self) -> tuple[int, int]:
        """(positives, negatives) over every page seen."""
        pos = sum(len(v) for v in self.pages.values())
        return pos, len(self.pages) * self.page_size - pos

    def latents(self, backend: GeneratorBackend) -> tuple[torch.Tensor, torch.Tensor]:
        """(positive latents, negative latents) regenerated from the page seeds."""
        pos, neg = [], []
        for seed, marked in sorted(self.pages.items()):
            z = backend.sample_latents(self.page_size, seed)
            mask = torch.zeros(self.page_size, dtype=torch.bool)
            mask[list(marked)] = True
            pos.append(z[mask])
            neg.append(z[~mask])
        empty = torch.empty(0, *backend.latent_shape)
        return (torch.cat(pos) if pos else empty), (torch.cat(neg) if neg else empty)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": 1,
                "generator": self.generator,
                "page_size": self.page_size,
                "pages": {str(s): sorted(m) for s, m in sorted(self.pages.items())},
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> "LabelSet":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise LabelFileError("this is not a labels file (not JSON, or nested too deeply)") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LabelFileError(f"this is not a labels file (expected \"format\": \"{FORMAT}\")")
        try:
            page_size = int(data["page_size"])
            pages_in = data["pages"]
            if not (1 <= page_size <= 1024) or not isinstance(pages_in, dict) or len(pages_in) > MAX_PAGES:
                raise ValueError
            pages = {}
            for seed, marked in pages_in.items():
                s = int(seed)
                if not (0 <= s <= MAX_SEED) or not isinstance(marked, list):
                    raise ValueError
                idx = {int(i) for i in marked}
                if any(i < 0 or i >= page_size for i in idx):
                    raise ValueError
                pages[s] = idx
            return cls(generator=str(data["generator"]), page_size=page_size, pages=pages)
        except (KeyError, TypeError, ValueError) as exc:
            raise LabelFileError("the labels file is damaged: pages must map seeds to lists of sample indices") from exc

    @classmethod
    def load(cls, path: Path) -> "LabelSet":
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise LabelFileError(f"cannot read {Path(path).name}") from exc
        if len(raw) > 5_000_000:
            raise LabelFileError("the labels file is larger than 5 MB: not a labels file")
        return cls.from_json(raw.decode("utf-8", errors="replace"))
