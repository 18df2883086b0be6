"""Which Stable Diffusion models a visitor of the public Space may pick: names from a list, never a path.

The operator sets the list:
- ``STUDIO_SD_MODELS``: comma-separated Hugging Face Hub ids (default: ``CompVis/stable-diffusion-v1-4``), offered
  only if they can load here (in the local Hub cache, or the Hub answers for them: checked once per process);
- ``STUDIO_MODELS_DIR``: a folder; each direct subfolder that holds a diffusers pipeline (``model_index.json``)
  is offered under its folder name.
- ``STUDIO_CLIP_JUDGE``: the CLIP model (Hub id or local folder) that judges the Stable Diffusion recovery attack
  (default: ``openai/clip-vit-base-patch32``); visitors cannot choose it.
With nothing else to offer (no Hub, no folder), the list holds emoji-sd, the prompt model trained here.
Run folders and uploads live elsewhere (the temp directory) and are never offered. Anything not on the list gets
one message that says nothing about the server. The command line (a trusted local user) takes any id or folder.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from methods.backends.stable_diffusion import DEFAULT_MODEL, EMOJI_SD_DIR, HUB_ID
from methods.judges.clip import DEFAULT_CLIP
from methods.errors import InputError

IDS_VARIABLE, DIR_VARIABLE, JUDGE_VARIABLE = "STUDIO_SD_MODELS", "STUDIO_MODELS_DIR", "STUDIO_CLIP_JUDGE"
NOT_OFFERED = "this model is not offered here: pick one from the list (the Space's operator chooses the list)"
UNREACHABLE = ("this model's weights are not available here: the Space cannot reach the Hugging Face Hub. Pick one "
               "from the list.")
HUB_TIMEOUT_S = 3.0
_FOLDER = re.compile(r"^[\w.-]{1,96}$")


def listed_hub_ids() -> list[str]:
    """The operator's Hub ids (well-formed ones only)."""
    return [m.strip() for m in os.environ.get(IDS_VARIABLE, DEFAULT_MODEL).split(",") if HUB_ID.match(m.strip())]


@functools.lru_cache(maxsize=None)
def hub_model_reachable(model_id: str) -> bool:
    """Can ``model_id`` load here: its pipeline in the local Hub cache, or the Hub answering for it within
    :data:`HUB_TIMEOUT_S`? Asked once per process (the answer is kept), so an offline Space pays one short look-up at
    start, not one per visitor."""
    from huggingface_hub import model_info, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(model_id, "model_index.json"), str):
            return True
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            return False
        model_info(model_id, timeout=HUB_TIMEOUT_S)
        return True
    except Exception:  # no network, no such model, a gated one: it cannot load here either way
        return False


def offered_models() -> dict[str, str]:
    """Label -> Hub id or local folder, read now (the operator may add folders while the Space runs)."""
    offered = {m: m for m in listed_hub_ids() if hub_model_reachable(m)}
    folder = os.environ.get(DIR_VARIABLE, "").strip()
    if folder and Path(folder).is_dir():
        root = Path(folder).resolve()
        for sub in sorted(root.iterdir()):
            # a direct subfolder only (no link out of the models folder), holding a diffusers pipeline
            if _FOLDER.match(sub.name) and sub.resolve().parent == root and (sub / "model_index.json").is_file():
                offered[f"{sub.name} (local)"] = str(sub.resolve())
    if not offered:
        offered["emoji-sd (trained here)"] = str(EMOJI_SD_DIR)
    return offered


def resolve_model(choice: object) -> str:
    """The Hub id or folder behind a visitor's choice; ValueError (one plain message) for anything else."""
    offered = offered_models()
    if isinstance(choice, str) and choice in offered:
        return offered[choice]
    if isinstance(choice, str) and choice in listed_hub_ids():  # listed, but it cannot load here: said at once
        raise InputError(UNREACHABLE)
    raise InputError(NOT_OFFERED)


def clip_judge_model() -> str:
    """The operator's CLIP judge for the Stable Diffusion recovery attack."""
    return os.environ.get(JUDGE_VARIABLE, "").strip() or DEFAULT_CLIP
