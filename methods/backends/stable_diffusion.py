"""Stable Diffusion through diffusers: a text-conditional generator whose concepts are prompts.

``module`` is the UNet (the part methods fine-tune); the VAE, text encoder, tokenizer and scheduler are
shared read-only. Loads any model id or local pipeline folder (default ``CompVis/stable-diffusion-v1-4``);
offline the Hub is unreachable and loading says so in a :class:`BackendError` users can read.
A fine-tuned result is saved as a complete diffusers pipeline: ``StableDiffusionPipeline.from_pretrained(DIR)``.
"""
from __future__ import annotations

import copy
import functools
import gzip
import importlib.util
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..datasets.emoji import concept_in, prompt_for
from .base import BackendError, GeneratorBackend, register
from ..errors import InputError

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"
EMOJI_SD_DIR = Path(__file__).resolve().parents[2] / "assets" / "emoji-sd"  # trained by scripts/train_emoji_sd.py
# Pipelines shipped in the repository, loadable by name offline (the same loading as any local diffusers folder).
LOCAL_MODELS: dict[str, Path] = {"emoji-sd": EMOJI_SD_DIR}
CONCEPTS_FILE = "concepts.json"  # a closed-vocabulary model's concepts, groups and prompt templates
MAX_PROMPT_CHARS = 300
PROVENANCE_FILE = "unlearning_studio.json"
HUB_ID = re.compile(r"^[\w.-]{1,96}/[\w.-]{1,96}$")  # owner/name, as the Hub allows them
CLIP_MAX_TOKENS = 77  # including the start and end tokens


@register("stable-diffusion")
class StableDiffusionBackend(GeneratorBackend):
    """A ``StableDiffusionPipeline``; ``conditions`` are the prompts of the current run (open vocabulary)."""

    open_vocabulary = True
    latent_dim = 0  # latents are (4, H/8, W/8): see latent_shape
    image_size = 512

    def __init__(self, module: nn.Module, config: Optional[dict[str, Any]] = None, pipeline: Any = None,
                 conditions: Optional[list[str]] = None, concepts: Optional["ConceptList"] = None) -> None:
        super().__init__(module, config)
        self.pipeline = pipeline
        self.conditions = list(conditions or [])
        self.concepts = concepts  # a closed-vocabulary model's known concepts (None: any prompt CLIP reads)
        self.config.setdefault("resolution", self.default_resolution)
        self.config.setdefault("sample_steps", 50)
        self.config.setdefault("guidance_scale", 7.5)
        self.image_size = int(self.config["resolution"])

    # --- construction -------------------------------------------------------------------
    @classmethod
    def build_module(cls, **kwargs: Any) -> nn.Module:
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel(**kwargs)

    @classmethod
    def pretrained(cls) -> "StableDiffusionBackend":
        return cls.load(DEFAULT_MODEL)

    @classmethod
    def claims(cls, name_or_dir: str | Path) -> bool:
        """A diffusers pipeline folder, or a Hub id such as ``CompVis/stable-diffusion-v1-4``."""
        if str(name_or_dir) in LOCAL_MODELS:
            return True
        path = Path(name_or_dir)
        if path.is_dir():
            return (path / "model_index.json").is_file()
        return bool(HUB_ID.match(str(name_or_dir))) and not path.exists()

    @classmethod
    def load(cls, model: str | Path = DEFAULT_MODEL, dtype: Optional[torch.dtype] = None,
             device: Optional[str | torch.device] = None, **config: Any) -> "StableDiffusionBackend":
        """Load a pipeline by Hub id or local folder; frozen; the safety checker is not loaded (training only). A
        pipeline shipped in the repository, loaded by its name with no options, is loaded once per process and shared
        read-only (as the other back-ends' pretrained models are)."""
        if str(model) in LOCAL_MODELS and dtype is None and device is None and not config:
            return _shipped(str(model))
        return cls._load(model, dtype, device, **config)

    @classmethod
    def _load(cls, model: str | Path, dtype: Optional[torch.dtype] = None, device: Optional[str | torch.device] = None,
              **config: Any) -> "StableDiffusionBackend":
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()  # progress bars and the safety-checker notice (see the README)
        diffusers_logging.disable_progress_bar()
        source = model_source(model)
        try:
            pipeline = StableDiffusionPipeline.from_pretrained(str(source), torch_dtype=dtype, safety_checker=None,
                                                               requires_safety_checker=False, use_safetensors=True,
                                                               local_files_only=Path(source).is_dir())
        except Exception as exc:  # OSError offline, ValueError/EnvironmentError for a wrong folder
            raise _unavailable(model, exc) from exc
        if device is not None:
            pipeline.to(device)
        provenance = Path(source) / PROVENANCE_FILE
        if provenance.is_file():
            config = {**json.loads(provenance.read_text()).get("config", {}), **config}
        backend = cls.from_pipeline(pipeline, str(model), **config)
        backend.concepts = ConceptList.read(Path(source) / CONCEPTS_FILE)
        return backend

    @classmethod
    def unet_parameters(cls, model: str | Path) -> int:
        """The UNet's parameter count from its config alone (a few KB; no weights are read or downloaded):
        what a size and device check needs before a download."""
        from diffusers import UNet2DConditionModel

        source = model_source(model)
        try:
            config = UNet2DConditionModel.load_config(str(source), subfolder="unet", local_files_only=Path(source).is_dir())
        except Exception as exc:  # offline, a missing repository or folder
            raise _unavailable(model, exc) from exc
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(config)
        return sum(p.numel() for p in unet.parameters())

    @classmethod
    def from_pipeline(cls, pipeline: Any, model: str = "in-memory", **config: Any) -> "StableDiffusionBackend":
        """Wrap an already built pipeline (frozen)."""
        pipeline.set_progress_bar_config(disable=True)
        for part in (pipeline.unet, pipeline.vae, pipeline.text_encoder):
            part.requires_grad_(False)
        return cls(pipeline.unet, {"model": model, **config}, pipeline).frozen()

    @classmethod
    def from_directory(cls, directory: Path) -> "StableDiffusionBackend":
        return cls.load(directory)

    @property
    def default_resolution(self) -> int:
        if self.pipeline is None:
            return 512
        return int(self.module.config.sample_size) * int(self.pipeline.vae_scale_factor)

    def with_conditions(self, prompts: list[str], **config: Any) -> "StableDiffusionBackend":
        """The same weights with ``prompts`` as the concepts (condition ``i`` = ``prompts[i]``) and ``config``
        (``resolution``, ``sample_steps``, ``guidance_scale``) overriding this one's."""
        return type(self)(self.module, {**self.config, **config}, self.pipeline, prompts, self.concepts)

    def trainable_copy(self) -> "StableDiffusionBackend":
        clone = copy.deepcopy(self.module)
        clone.requires_grad_(True)
        components = {**self.pipeline.components, "unet": clone}
        pipeline = type(self.pipeline)(**components)
        pipeline.set_progress_bar_config(disable=True)
        return type(self)(clone, self.config, pipeline, self.conditions, self.concepts)

    def copy_to(self, device: torch.device | str) -> "StableDiffusionBackend":
        """A frozen copy of the whole pipeline on ``device``; this one (perhaps shared) stays where it is."""
        pipeline = copy.deepcopy(self.pipeline).to(device)
        return type(self)(pipeline.unet, self.config, pipeline, self.conditions, self.concepts).frozen()

    @property
    def render_batch(self) -> int:
        """Images per sampler batch: 8 at 512 px (16 through the UNet with guidance), more for smaller images."""
        return max(1, min(64, 8 * (512 // max(1, self.image_size)) ** 2))

    def render(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None,
               batch_size: Optional[int] = None) -> torch.Tensor:
        return super().render(latents, condition, batch_size or self.render_batch)

    def enable_gradient_checkpointing(self) -> None:
        self.module.enable_gradient_checkpointing()

    def to(self, device: torch.device | str) -> "StableDiffusionBackend":
        self.pipeline.to(device)
        return self

    # --- text ---------------------------------------------------------------------------
    def count_tokens(self, prompt: str) -> int:
        """Tokens of ``prompt`` including start/end; CLIP reads at most 77."""
        return len(self.pipeline.tokenizer(prompt, truncation=False).input_ids)

    def check_prompt(self, prompt: Any, what: str = "") -> str:
        """``prompt`` tidied, or ValueError in plain words (see :func:`check_prompt`); then the text encoder's length."""
        prompt = check_prompt(prompt, what, self.concepts)
        if self.count_tokens(prompt) > int(self.pipeline.tokenizer.model_max_length):
            raise InputError(f"the {what} prompt is too long: the text encoder reads at most 75 tokens (about 50 words)")
        return prompt

    @classmethod
    def concepts_of(cls, model: str | Path) -> Optional["ConceptList"]:
        """A model's known concepts from its folder (no weights are read); None for an open-vocabulary model."""
        source = model_source(model)
        return ConceptList.read(Path(source) / CONCEPTS_FILE) if Path(source).is_dir() else None

    @torch.no_grad()
    def embed(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings (N, 77, D) the UNet is conditioned on."""
        tok = self.pipeline.tokenizer(prompts, padding="max_length", max_length=self.pipeline.tokenizer.model_max_length,
                                      truncation=True, return_tensors="pt")
        encoder = self.pipeline.text_encoder
        return encoder(tok.input_ids.to(encoder.device))[0]

    # --- sampling -----------------------------------------------------------------------
    @property
    def latent_shape(self) -> tuple[int, ...]:
        side = self.image_size // int(self.pipeline.vae_scale_factor)
        return (int(self.module.config.in_channels), side, side)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, condition: Optional[torch.Tensor] = None, output_type: str = "pt") -> torch.Tensor:
        """Initial noise latents + prompt indices -> images in [-1, 1] (``output_type="latent"``: VAE latents).
        Runs the sampler (``sample_steps`` DDIM/PNDM steps with classifier-free guidance): not differentiable."""
        if condition is None:
            raise InputError("Stable Diffusion needs a prompt for every latent")
        prompts = [self.conditions[int(i)] for i in condition]
        out = self.pipeline(prompt=prompts, latents=latents.to(self.device, self.pipeline.unet.dtype),
                            num_inference_steps=int(self.config["sample_steps"]), guidance_scale=float(self.config["guidance_scale"]),
                            height=self.image_size, width=self.image_size, output_type=output_type).images
        return out if output_type == "latent" else out * 2 - 1

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> scaled VAE latents (the space the UNet denoises)."""
        vae = self.pipeline.vae
        latents = vae.encode(images.to(vae.device, vae.dtype)).latent_dist.mean
        return latents * vae.config.scaling_factor

    # --- persistence --------------------------------------------------------------------
    def save(self, directory: Path, provenance: Optional[dict[str, Any]] = None) -> list[Path]:
        """A complete diffusers pipeline (safetensors) with this UNet, plus the suite's provenance file.
        Returns the files a person downloads: the provenance file and the UNet's (the rest is the base model's)."""
        directory = Path(directory)
        pipeline = type(self.pipeline)(**{**self.pipeline.components, "unet": self.module})
        pipeline.save_pretrained(directory, safe_serialization=True)
        record = {"backend": self.name, "config": {k: v for k, v in self.config.items() if k != "model"},
                  "base_model": self.config.get("model"), "provenance": provenance or {}}
        (directory / PROVENANCE_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
        return [directory / PROVENANCE_FILE] + sorted(f for f in (directory / "unet").glob("*") if f.is_file())


@functools.lru_cache(maxsize=None)
def _shipped(name: str) -> StableDiffusionBackend:
    return StableDiffusionBackend._load(name)


def check_prompt(prompt: Any, what: str = "", concepts: Optional["ConceptList"] = None) -> str:
    """``prompt`` with its spaces tidied, or ValueError in plain words: empty, too long, control or formatting
    characters, or (``concepts``: a closed-vocabulary model) a word the model never learnt, with what it knows.
    Needs no model: a tab checks a visitor's prompt before a run queues."""
    label = f"the {what} prompt" if what else "the prompt"
    known = f" {concepts.known()}" if concepts else ""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f"{label} is empty.{known}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"{label} is too long: at most {MAX_PROMPT_CHARS} characters.{known}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in prompt):
        raise InputError(f"{label} has control or formatting characters: type plain words.{known}")
    prompt = " ".join(prompt.split())
    if concepts is not None:
        unknown = [w for w in prompt.lower().split() if w not in concepts.vocabulary]
        if unknown:
            shown = ", ".join(f"'{_echo(w)}'" for w in unknown[:3])
            raise InputError(f"{label} has words this model never learnt ({shown}).{known}")
    return prompt


def _echo(word: str, limit: int = 20) -> str:
    """A visitor's word shown back: at most ``limit`` characters, anything but letters, digits and - replaced (no
    Markdown or HTML reaches the page)."""
    return re.sub(r"[^\w-]", "?", word[:limit]) + ("…" if len(word) > limit else "")


def model_source(model: str | Path) -> str | Path:
    """Where a model's files are: a shipped pipeline's folder for its registered name, else the id or folder itself."""
    return LOCAL_MODELS.get(str(model), model)


@dataclass(frozen=True)
class ConceptList:
    """A closed-vocabulary model's concepts (``concepts.json`` beside its pipeline): names, neighbour groups, the
    canonical prompt of each and the caption templates it learnt; ``vocabulary``: every word those captions use."""

    names: tuple[str, ...]
    groups: dict[str, str]
    prompts: dict[str, str]
    templates: tuple[str, ...]
    vocabulary: frozenset[str]
    judge: Optional[str] = None  # the independent judge that ships with the model (a folder name under assets/)

    @classmethod
    def read(cls, path: Path) -> Optional["ConceptList"]:
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        items = record["concepts"]
        templates = tuple(record.get("templates", ())) + tuple(record.get("held_out_templates", ()))
        words = {w for c in items for t in templates for w in prompt_for(c["name"], t).split()}
        words |= {w for c in items for w in c["prompt"].split()}
        return cls(tuple(c["name"] for c in items), {c["name"]: c["group"] for c in items},
                   {c["name"]: c["prompt"] for c in items}, templates, frozenset(words), record.get("judge"))

    def concept_of(self, prompt: str) -> Optional[str]:
        """The one known concept a prompt names ("a picture of a cat" -> "cat"); None for none or several."""
        return concept_in(prompt, self.names)

    def neighbours(self, name: str) -> list[str]:
        """The other concepts of ``name``'s group (what forgetting it is most likely to damage)."""
        return [n for n in self.names if n != name and self.groups[n] == self.groups[name]]

    def rewordings(self, name: str) -> list[str]:
        """Every caption template's prompt for ``name`` (the recovery attack's rewordings)."""
        return list(dict.fromkeys(prompt_for(name, t) for t in self.templates))

    def known(self) -> str:
        return "This model knows: " + ", ".join(self.names) + " (e.g. 'a cat')."


def _unavailable(model: str | Path, exc: Exception) -> BackendError:
    """The one message for weights (or a config) that cannot be had: offline, or no such model."""
    reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].split(". ")[0][:160]
    return BackendError(
        f"Stable Diffusion weights for '{model}' are not available here ({reason}). They download from the "
        "Hugging Face Hub on a machine with a network (several GB; a GPU is needed to fine-tune them)."
    )


# ------------------------------------------------------------------------------------------------
# CLIP's tokenizer from the vocabulary open_clip_torch ships (offline tests and tiny pipelines)
# ------------------------------------------------------------------------------------------------
def _bytes_to_unicode() -> list[str]:
    """CLIP's byte -> printable character table (the order defines the first 256 token ids)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def offline_clip_tokenizer():
    """The real CLIP ViT-L/14 BPE tokenizer (vocab 49408, 77 tokens) built from open_clip's
    ``bpe_simple_vocab_16e6.txt.gz``: same ids as ``openai/clip-vit-large-patch14``'s tokenizer."""
    from transformers import CLIPTokenizer

    spec = importlib.util.find_spec("open_clip")  # locate the file without importing open_clip (slow)
    if spec is None or spec.origin is None:
        raise BackendError("open_clip_torch is not installed: it ships the CLIP vocabulary (pip install open_clip_torch)")
    lines = gzip.open(Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz").read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = _bytes_to_unicode()
    vocab = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, merges=merges, model_max_length=CLIP_MAX_TOKENS,
                         bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                         pad_token="<|endoftext|>")


def tiny_pipeline(seed: int = 0, resolution: int = 32):
    """A StableDiffusionPipeline with SD v1's layout at toy width (random weights, ~1 M parameters).

    For tests and the step-time benchmark only: it checks plumbing, it does not draw anything.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=resolution // 2,  # the 2-block VAE halves the side once
                                block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                num_attention_heads=4, max_position_embeddings=CLIP_MAX_TOKENS))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=offline_clip_tokenizer(), unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
