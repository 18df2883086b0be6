"""Benchmark of Selective Amnesia's Stable Diffusion path: writes benchmarks/results/amnesia_stable_diffusion.{json,md}.

    .venv/bin/python benchmarks/amnesia_stable_diffusion.py

Offline there are no SD weights, so this measures what can be measured here:
1. the whole CLI path on a tiny pipeline built from configs (SD v1's layout at toy width, random weights, the real
   CLIP tokenizer): median step time and the process's peak memory for each train_method, with and without
   gradient checkpointing — each in its own process, so the peak memory is that run's;
2. the real SD v1.x UNet's parameter counts per train_method, from its architecture built on the meta device
   (no weights), and the memory that training state needs at fp32 (arithmetic, stated as such).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from methods.selective_amnesia.adapters import StableDiffusionAdapter
from methods.backends.stable_diffusion import StableDiffusionBackend, tiny_pipeline

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results"
STEPS = 40
# CompVis/stable-diffusion-v1-4's unet/config.json (the values that shape its parameters)
SD_V1_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
                  down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                  cross_attention_dim=768, attention_head_dim=8)
RECIPE = """accelerate launch -m methods.selective_amnesia --model CompVis/stable-diffusion-v1-4 \\
    --forget "Brad Pitt" --surrogate "a middle-aged man" --train-method full \\
    --mixed-precision fp16 --gradient-checkpointing --steps 1000 --samples-per-concept 64 --out runs/forget-brad-pitt"""


def tiny_runs(tiny_dir: Path) -> list[dict]:
    rows = []
    for method, checkpointing in [("full", False), ("full", True), ("xattn", False), ("noxattn", False)]:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "methods.selective_amnesia", "--model", str(tiny_dir), "--forget", "Brad Pitt",
                   "--steps", str(STEPS), "--fisher-samples", "8", "--samples-per-concept", "4", "--sample-steps", "4",
                   "--train-method", method, "--out", out] + (["--gradient-checkpointing"] if checkpointing else [])
            env = {**os.environ, "UNLEARNING_STUDIO_CACHE": out}  # count the Fisher's time in every run
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=900, env=env)
            report = json.loads((Path(out) / "report.json").read_text())
        rows.append({"train_method": method, "gradient_checkpointing": checkpointing, "step_s": report["step_s"],
                     "fisher_s": report["fisher_s"], "wall_s": report["wall_s"], "peak_memory_mb": report["peak_memory_mb"],
                     "memory_kind": report["memory_kind"], "trainable_parameters": report["trainable_parameters"],
                     "batch_size": report["settings"]["batch_size"]})
        print(rows[-1])
    return rows


def sd_v1_sizes() -> dict:
    """Parameter counts of the real SD v1 UNet per train_method (meta device: no memory, no weights)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD_V1_UNET)
    sizes = dict(unet.named_parameters())
    adapter = StableDiffusionAdapter.__new__(StableDiffusionAdapter)  # only its name filter is needed here
    out = {}
    for method in ("full", "xattn", "noxattn"):
        adapter.train_method = method
        n = sum(sizes[k].numel() for k in adapter.trainable_names(unet))
        # fp32 bytes for: trainable weight + grad + Adam's two moments + EWC anchor + Fisher; plus the frozen UNet copy
        state_gb = (n * 4 * 6 + sum(p.numel() for p in sizes.values()) * 4) / 2**30
        out[method] = {"trainable_parameters": n, "training_state_gb_fp32": round(state_gb, 1)}
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tiny_dir = Path(tmp) / "tiny-sd"
        StableDiffusionBackend.from_pipeline(tiny_pipeline(), "tiny").save(tiny_dir)
        rows = tiny_runs(tiny_dir)
    sizes = sd_v1_sizes()
    res = {"tiny_pipeline": rows, "steps": STEPS, "sd_v1_unet": sizes, "gpu_recipe": RECIPE,
           "cpu": "2 cores, no GPU", "note": "tiny pipeline: 32 px, random weights; plumbing and cost, not image quality"}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "amnesia_stable_diffusion.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["| tiny pipeline (32 px, 0.8 M-parameter UNet), batch 4 | median step | Fisher (8 samples) | peak memory (process RSS) |",
             "|---|---|---|---|"]
    for r in rows:
        name = r["train_method"] + (" + gradient checkpointing" if r["gradient_checkpointing"] else "")
        lines.append(f"| {name} ({r['trainable_parameters']:,} trainable) | {r['step_s'] * 1000:.0f} ms | {r['fisher_s']} s | {r['peak_memory_mb']:.0f} MB |")
    lines += ["", "| SD v1.x UNet (architecture only, no weights) | trainable parameters | fp32 training state (weights, grads, Adam, anchor, Fisher, frozen copy) |",
              "|---|---|---|"]
    for method, s in sizes.items():
        lines.append(f"| {method} | {s['trainable_parameters'] / 1e6:.0f} M | {s['training_state_gb_fp32']} GB |")
    lines += ["", "GPU recipe (not run here: this machine has no GPU and no Hub access):", "", "```", RECIPE, "```"]
    md = "\n".join(lines) + "\n"
    (OUT / "amnesia_stable_diffusion.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
