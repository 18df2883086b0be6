"""Stable Diffusion v1.5's real architecture, end to end on a CPU: two Selective Amnesia steps.

Builds SD v1.5's UNet (860 M parameters), CLIP ViT-L/14 text encoder and VAE from their configs with random
weights (no download: this machine has no Hub access), wraps them as the suite's Stable Diffusion back-end, and
runs the whole method — the original's sample buffer, the Fisher, two training steps (train_method xattn, 256 px),
the before/after galleries and the saved pipeline — recording the time and this process's peak memory. It shows
that the real architecture runs through every part of the code; it says nothing about image quality.

    python benchmarks/sd_v15_cpu.py    # writes benchmarks/results/sd_v15_cpu.json
"""
from __future__ import annotations

import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from methods import selective_amnesia as sa
from methods.backends.stable_diffusion import CLIP_MAX_TOKENS, StableDiffusionBackend, offline_clip_tokenizer

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "sd_v15_cpu.json"
# runwayml/stable-diffusion-v1-5: unet/, vae/ and text_encoder/ config.json (the values that shape the parameters)
UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512)
TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            max_position_embeddings=CLIP_MAX_TOKENS, hidden_act="quick_gelu", projection_dim=768)
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1)


def sd_v15_from_configs(seed: int = 0):
    """SD v1.5's pipeline with random weights (no safety checker: training only)."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    return StableDiffusionPipeline(vae=AutoencoderKL(**VAE), text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT)),
                                   tokenizer=offline_clip_tokenizer(), unet=UNet2DConditionModel(**UNET),
                                   scheduler=PNDMScheduler(**SCHEDULER), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def main() -> None:
    started = time.perf_counter()
    backend = StableDiffusionBackend.from_pipeline(sd_v15_from_configs(), "sd-v1.5-architecture (random weights)")
    build_s = time.perf_counter() - started
    config = sa.AmnesiaConfig.for_model("runwayml/stable-diffusion-v1-5", forget="Brad Pitt", surrogate="a middle-aged man",
                                        replay_prompts=("a photo of a woman",), train_method="xattn", resolution=256,
                                        steps=2, batch_size=2, fisher_samples=2, samples_per_concept=1, sample_steps=2)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = sa.forget(backend, config, out_dir=Path(out),
                           progress=lambda f, m: print(f"{time.perf_counter() - started:7.1f} s  {f:4.0%}  {m}", flush=True))
        run_s = time.perf_counter() - started
        saved_mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20
    report = result.report
    res = {
        "what": "SD v1.5 architecture from its configs, random weights; Selective Amnesia, train_method xattn, 256 px, "
                "2 steps, batch 2, Fisher from 2 samples, 1 buffer sample per prompt, 2 sampler steps",
        "unet_parameters": sum(p.numel() for p in backend.module.parameters()),
        "trainable_parameters": report["trainable_parameters"],
        "build_s": round(build_s, 1), "run_s": round(run_s, 1), "fisher_s": report["fisher_s"], "step_s": report["step_s"],
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "saved_mb": round(saved_mb, 1), "device": report["device"],
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, no GPU",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
