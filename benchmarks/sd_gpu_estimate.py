"""Peak GPU memory and time of Selective Amnesia on Stable Diffusion v1.4 at 512 px, estimated on this CPU from the real
architecture: writes benchmarks/results/sd_gpu_estimate.{json,md}.

SD v1.4 and v1.5 share one architecture (benchmarks/sd_v15_cpu.py builds it from its configs). The UNet is built on
PyTorch's meta device (shapes only, no memory, no arithmetic), and one training step of the suite's loop runs on it:
two forwards (the surrogate's half and the replay's half of the batch) and one backward. What is counted, not
guessed: the parameters and the trainable share (``train_method``), the activations autograd saves (a hook on every
saved tensor), with and without gradient checkpointing, and the floating-point operations of the forward and backward
(``torch.utils.flop_counter``). What is assumed, and said: the bytes per number (fp32 weights, Adam's two fp32
moments, an fp32 Fisher; activations in fp16 under mixed precision, half their fp32 size), that a GPU's attention
kernel (flash or memory-efficient) does not keep the attention matrices, and a sustained throughput for the time.
Nothing here ran on a GPU.

    .venv/bin/python benchmarks/sd_gpu_estimate.py
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from methods.selective_amnesia.config import AmnesiaConfig
from sd_v15_cpu import TEXT, UNET, VAE  # the architecture's configs, beside this script

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results" / "sd_gpu_estimate.json"
GB = 2**30
LATENT = 64  # 512 px / the VAE's factor 8
TOKENS = 77
SUSTAINED_TFLOPS = (20.0, 50.0, 100.0)  # assumed sustained fp16 throughputs (T4-class to A100-class); not measured


def unet_on_meta():
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        return UNet2DConditionModel(**UNET)


def other_parameters() -> int:
    """The VAE's and the CLIP text encoder's parameters (built on meta)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        return sum(p.numel() for m in (AutoencoderKL(**VAE), CLIPTextModel(CLIPTextConfig(**TEXT))) for p in m.parameters())


def trainable(unet, train_method: str) -> list[str]:
    from methods.selective_amnesia.adapters import StableDiffusionAdapter

    return StableDiffusionAdapter.trainable_names(type("_", (), {"train_method": train_method})(), unet)


def one_step(unet, names: set[str], half: int, checkpointing: bool) -> dict[str, float]:
    """Saved activations (GB, fp32, without attention matrices; and those alone) and TFLOPs of one training step: two
    forwards of ``half`` images and one backward."""
    for name, p in unet.named_parameters():
        p.requires_grad_(name in names)
    unet.train()
    unet.enable_gradient_checkpointing() if checkpointing else unet.disable_gradient_checkpointing()
    params = {id(p) for p in unet.parameters()}
    saved = {"activations": 0, "attention": 0}
    spatial = {(LATENT // s) ** 2 for s in (1, 2, 4, 8)}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) in params or id(t) in params:
            return t  # a weight saved for the backward is the weight itself: counted with the parameters
        size = t.numel() * t.element_size()
        is_attention = t.dim() >= 3 and t.shape[-2] in spatial and t.shape[-1] in spatial | {TOKENS}
        saved["attention" if is_attention else "activations"] += size
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), FlopCounterMode(display=False) as flops:
        losses = []
        for _ in range(2):
            x = torch.randn(half, 4, LATENT, LATENT, device="meta")
            t = torch.randint(0, 1000, (half,), device="meta")
            c = torch.randn(half, TOKENS, 768, device="meta")
            losses.append(unet(x, t, encoder_hidden_states=c).sample.float().pow(2).mean())
        forward = flops.get_total_flops()
        sum(losses).backward()
        total = flops.get_total_flops()
    for p in unet.parameters():
        p.grad = None
    return {"activations_fp32_gb": saved["activations"] / GB, "attention_matrices_fp32_gb": saved["attention"] / GB,
            "forward_tflop": forward / 1e12, "step_tflop": total / 1e12}


def sampling_tflop(unet) -> float:
    """One guided sampler step for one image: the UNet on a batch of two (unconditional and conditional)."""
    with FlopCounterMode(display=False) as flops, torch.no_grad():
        unet(torch.randn(2, 4, LATENT, LATENT, device="meta"), torch.zeros(2, device="meta", dtype=torch.long),
             encoder_hidden_states=torch.randn(2, TOKENS, 768, device="meta"))
    return flops.get_total_flops() / 1e12


def main() -> None:
    config = AmnesiaConfig.for_model("CompVis/stable-diffusion-v1-4")
    half = config.batch_size // 2
    unet = unet_on_meta()
    n_unet = sum(p.numel() for p in unet.parameters())
    n_other = other_parameters()
    guided = sampling_tflop(unet)
    concepts = 1 + len(config.replay_prompts)  # the surrogate's buffer and each replay prompt's
    buffer_tflop = concepts * config.samples_per_concept * config.sample_steps * guided
    rows = {}
    for method in ("xattn", "full"):
        names = set(trainable(unet, method))
        n_train = sum(p.numel() for n, p in unet.named_parameters() if n in names)
        fisher_tflop = config.fisher_samples * one_step(unet, names, 1, False)["step_tflop"] / 2  # one sample, one pass
        for checkpointing in (False, True):
            step = one_step(unet, names, half, checkpointing)
            weights = {  # GB: the frozen original pipeline (fp32), the trained UNet (fp32), its gradients, Adam, the Fisher
                "original pipeline (fp32)": 4 * (n_unet + n_other) / GB, "trained UNet copy (fp32)": 4 * n_unet / GB,
                "gradients (fp32)": 4 * n_train / GB, "Adam moments (2 × fp32)": 8 * n_train / GB, "Fisher (fp32)": 4 * n_train / GB}
            activations_fp16 = step["activations_fp32_gb"] / 2
            total_tflop = config.steps * step["step_tflop"] + fisher_tflop + buffer_tflop
            rows[f"{method}, gradient checkpointing {'on' if checkpointing else 'off'}"] = {
                "train_method": method, "gradient_checkpointing": checkpointing, "trainable_parameters": n_train,
                "weights_gb": {k: round(v, 2) for k, v in weights.items()},
                "activations_fp16_gb": round(activations_fp16, 2),
                "attention_matrices_fp16_gb_if_kept": round(step["attention_matrices_fp32_gb"] / 2, 2),
                "peak_gb": round(sum(weights.values()) + activations_fp16, 1),
                "step_tflop": round(step["step_tflop"], 2), "run_tflop": round(total_tflop, 0),
                "run_minutes_at": {f"{s:g} TFLOP/s": round(total_tflop / s / 60, 1) for s in SUSTAINED_TFLOPS}}
    result = {"model": "Stable Diffusion v1.4 / v1.5 architecture (meta device: shapes only)", "resolution": 512,
              "unet_parameters": n_unet, "vae_and_text_encoder_parameters": n_other,
              "settings": {k: getattr(config, k) for k in ("steps", "batch_size", "fisher_samples", "samples_per_concept",
                                                           "sample_steps", "mixed_precision")} | {"mixed_precision": "fp16"},
              "guided_sampler_step_tflop": round(guided, 3), "replay_buffer_tflop": round(buffer_tflop, 0),
              "assumed": {"sustained_tflops": SUSTAINED_TFLOPS, "activations": "fp16 under mixed precision (half of fp32)",
                          "attention": "flash / memory-efficient attention keeps no attention matrices"},
              "runs": rows}
    OUT.write_text(json.dumps(result, indent=2))
    lines = ["# Selective Amnesia on Stable Diffusion v1.4 at 512 px: estimated peak GPU memory and time", "",
             "Estimated on a CPU from the real architecture (PyTorch's meta device: shapes only); nothing ran on a GPU. "
             f"Settings: the CLI's defaults ({config.steps} steps, batch {config.batch_size}, {config.fisher_samples} Fisher "
             f"samples, {config.samples_per_concept} buffer images × {concepts} prompts at {config.sample_steps} guided "
             "steps) with `--mixed-precision fp16`. Weights, gradients, Adam and the Fisher in fp32; activations counted "
             "by autograd's saved-tensor hook, halved for fp16. Written by `benchmarks/sd_gpu_estimate.py`.", "",
             "| train_method, checkpointing | trainable | peak memory (GB) | of it activations | step (TFLOP) | "
             + " | ".join(f"run at {s:g} TFLOP/s (min)" for s in SUSTAINED_TFLOPS) + " |",
             "|---|---|---|---|---|" + "---|" * len(SUSTAINED_TFLOPS)]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['trainable_parameters'] / 1e6:.0f} M | {r['peak_gb']} | {r['activations_fp16_gb']} | "
                     f"{r['step_tflop']} | " + " | ".join(str(v) for v in r["run_minutes_at"].values()) + " |")
    lines += ["", f"A kernel that keeps the attention matrices (PyTorch's math attention) adds "
              f"{rows['full, gradient checkpointing off']['attention_matrices_fp16_gb_if_kept']} GB at 512 px without "
              "checkpointing. The replay buffer costs "
              f"{buffer_tflop:.0f} TFLOP whatever the train_method; sampling runs in batches of `render_batch` images.", ""]
    OUT.with_suffix(".md").write_text("\n".join(lines))
    print(OUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
