"""Which Stable Diffusion models a visitor of the public Space may pick: names from a list, never a path.

The operator sets the list:
- ``STUDIO_SD_MODELS``: comma-separated Hugging Face Hub ids (default: ``CompVis/stable-diffusion-v1-4``);
- ``STUDIO_MODELS_DIR``: a folder; each direct subfolder that holds a diffusers pipeline (``model_index.json``)
  is offered under its folder name.
- ``STUDIO_CLIP_JUDGE``: the CLIP model (Hub id or local folder) that judges the Stable Diffusion recovery attack
  (default: ``openai/clip-vit-base-patch32``); visitors cannot choose it.
Run folders and uploads live elsewhere (the temp directory) and are never offered. Anything not on the list gets
one message that says nothing about the server. The command line (a trusted local user) takes any id or folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from methods.backends.stable_diffusion import DEFAULT_MODEL, HUB_ID
from methods.judges.clip import DEFAULT_CLIP
from methods.errors import InputError

IDS_VARIABLE, DIR_VARIABLE, JUDGE_VARIABLE = "STUDIO_SD_MODELS", "STUDIO_MODELS_DIR", "STUDIO_CLIP_JUDGE"
NOT_OFFERED = "this model is not offered here: pick one from the list (the Space's operator chooses the list)"
_FOLDER = re.compile(r"^[\w.-]{1,96}$")


def offered_models() -> dict[str, str]:
    """Label -> Hub id or local folder, read now (the operator may add folders while the Space runs)."""
    offered = {}
    for model_id in os.environ.get(IDS_VARIABLE, DEFAULT_MODEL).split(","):
        model_id = model_id.strip()
        if HUB_ID.match(model_id):
            offered[model_id] = model_id
    folder = os.environ.get(DIR_VARIABLE, "").strip()
    if folder and Path(folder).is_dir():
        root = Path(folder).resolve()
        for sub in sorted(root.iterdir()):
            # a direct subfolder only (no link out of the models folder), holding a diffusers pipeline
            if _FOLDER.match(sub.name) and sub.resolve().parent == root and (sub / "model_index.json").is_file():
                offered[f"{sub.name} (local)"] = str(sub.resolve())
    return offered


def resolve_model(choice: object) -> str:
    """The Hub id or folder behind a visitor's choice; ValueError (one plain message) for anything else."""
    offered = offered_models()
    if not isinstance(choice, str) or choice not in offered:
        raise InputError(NOT_OFFERED)
    return offered[choice]


def clip_judge_model() -> str:
    """The operator's CLIP judge for the Stable Diffusion recovery attack."""
    return os.environ.get(JUDGE_VARIABLE, "").strip() or DEFAULT_CLIP
