"""Stable Diffusion through diffusers: a text-conditional generator whose concepts are prompts.

``module`` is the UNet (the part methods fine-tune); the VAE, text encoder, tokenizer and scheduler are
shared read-only. Loads any model id or local pipeline folder (default ``CompVis/stable-diffusion-v1-4``);
offline the Hub is unreachable and loading says so in a :class:`BackendError` users can read.
A fine-tuned result is saved as a complete diffusers pipeline: ``StableDiffusionPipeline.from_pretrained(DIR)``.
"""
from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .base import BackendError, GeneratorBackend, register

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"
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
                 conditions: Optional[list[str]] = None) -> None:
        super().__init__(module, config)
        self.pipeline = pipeline
        self.conditions = list(conditions or [])
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
        path = Path(name_or_dir)
        if path.is_dir():
            return (path / "model_index.json").is_file()
        return bool(HUB_ID.match(str(name_or_dir))) and not path.exists()

    @classmethod
    def load(cls, model: str | Path = DEFAULT_MODEL, dtype: Optional[torch.dtype] = None,
             device: Optional[str | torch.device] = None, **config: Any) -> "StableDiffusionBackend":
        """Load a pipeline by Hub id or local folder; frozen; the safety checker is not loaded (training only)."""
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()  # progress bars and the safety-checker notice (see the README)
        diffusers_logging.disable_progress_bar()
        try:
            pipeline = StableDiffusionPipeline.from_pretrained(str(model), torch_dtype=dtype, safety_checker=None,
                                                               requires_safety_checker=False, use_safetensors=True)
        except Exception as exc:  # OSError offline, ValueError/EnvironmentError for a wrong folder
            raise _unavailable(model, exc) from exc
        if device is not None:
            pipeline.to(device)
        provenance = Path(model) / PROVENANCE_FILE
        if provenance.is_file():
            config = {**json.loads(provenance.read_text()).get("config", {}), **config}
        return cls.from_pipeline(pipeline, str(model), **config)

    @classmethod
    def unet_parameters(cls, model: str | Path) -> int:
        """The UNet's parameter count from its config alone (a few KB; no weights are read or downloaded):
        what a size and device check needs before a download."""
        from diffusers import UNet2DConditionModel

        try:
            config = UNet2DConditionModel.load_config(str(model), subfolder="unet")
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
        return type(self)(self.module, {**self.config, **config}, self.pipeline, prompts)

    def trainable_copy(self) -> "StableDiffusionBackend":
        clone = copy.deepcopy(self.module)
        clone.requires_grad_(True)
        components = {**self.pipeline.components, "unet": clone}
        pipeline = type(self.pipeline)(**components)
        pipeline.set_progress_bar_config(disable=True)
        return type(self)(clone, self.config, pipeline, self.conditions)

    def copy_to(self, device: torch.device | str) -> "StableDiffusionBackend":
        """A pipeline is loaded for each run (never cached and shared), so the run may move its own."""
        return self.to(device)

    def enable_gradient_checkpointing(self) -> None:
        self.module.enable_gradient_checkpointing()

    def to(self, device: torch.device | str) -> "StableDiffusionBackend":
        self.pipeline.to(device)
        return self

    # --- text ---------------------------------------------------------------------------
    def count_tokens(self, prompt: str) -> int:
        """Tokens of ``prompt`` including start/end; CLIP reads at most 77."""
        return len(self.pipeline.tokenizer(prompt, truncation=False).input_ids)

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
            raise ValueError("Stable Diffusion needs a prompt for every latent")
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


def _unavailable(model: str | Path, exc: Exception) -> BackendError:
    """The one message for weights (or a config) that cannot be had: offline, or no such model."""
    reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].split(". ")[0][:160]
    return BackendError(
        f"Stable Diffusion weights for '{model}' are not available here ({reason}). They download from the "
        "Hugging Face Hub on a machine with a network (several GB; a GPU is needed to fine-tune them), "
        "or give the path of a local diffusers pipeline folder."
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
