"""Train ``emoji-sd``: a small text-to-image model in Stable Diffusion's own layout, on captioned emoji renders.

    bash scripts/setup.sh --train                      # the font and the Twemoji package the renders need
    .venv/bin/python scripts/train_emoji_sd.py --minutes 65 --seed 0

Writes ``assets/emoji-sd/``: a diffusers ``StableDiffusionPipeline`` folder (safetensors only, ``model_index.json``)
with ``concepts.json`` (names, groups, prompt templates) and ``training.json`` (command, seed, times, loss curves).
The parts are SD v1's: an ``AutoencoderKL`` (here two blocks: a factor-2 VAE at 32 px), a ``UNet2DConditionModel``
with cross-attention at 8x8, 4x4 and in the mid block, a ``CLIPTextModel`` trained jointly with the UNet, a
``CLIPTokenizer`` over the captions' closed vocabulary, DDPM training and DDIM sampling with classifier-free guidance
(10% of captions empty). The run checkpoints to ``runs/emoji-sd-train/`` and resumes from there; ``--export-every``
writes the EMA weights to the asset folder as it goes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

from methods.backends.stable_diffusion import EMOJI_SD_DIR, PROVENANCE_FILE
from methods.datasets import emoji
from methods.runtime import seed_everything, use_all_cores

RESOLUTION = 32
SAMPLER = {"sample_steps": 20, "guidance_scale": 3.0}
CHECKPOINTS = ROOT / "runs" / "emoji-sd-train"


# ------------------------------------------------------------------------------------------------
# tokenizer: CLIP's BPE over the closed vocabulary of the captions
# ------------------------------------------------------------------------------------------------
def learn_bpe(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-pair merges learnt on ``words`` until every word is one token (CLIP's end-of-word marker
    ``</w>``), and the vocabulary: characters, their end-of-word forms, the merges, CLIP's two special tokens."""
    segs = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in words}
    chars = sorted({c for w in words for c in w})
    vocab = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    while any(len(s) > 1 for s in segs.values()):
        counts: dict[tuple[str, str], int] = {}
        for s in segs.values():
            for pair in zip(s, s[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent; ties in a fixed order
        merges.append(best)
        vocab.append(best[0] + best[1])
        for w, s in segs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            segs[w] = tuple(out)
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(dict.fromkeys(vocab))}, merges


def build_tokenizer(folder: Path):
    """Write vocab.json + merges.txt for the captions' words into ``folder`` and load them as a CLIPTokenizer."""
    from transformers import CLIPTokenizer

    vocab, merges = learn_bpe(emoji.vocabulary_words())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, indent=1) + "\n")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77,
                        bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                        pad_token="<|endoftext|>")
    for word in emoji.vocabulary_words():  # the closed vocabulary's promise: one token per known word
        ids = tok(word, add_special_tokens=False).input_ids
        assert len(ids) == 1, (word, ids)
    return tok


# ------------------------------------------------------------------------------------------------
# the parts
# ------------------------------------------------------------------------------------------------
def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(32, 64), layers_per_block=1,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         latent_channels=4, norm_num_groups=32, sample_size=RESOLUTION)


def build_unet(text_width: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=RESOLUTION // 2, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(64, 128, 128),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=text_width, attention_head_dim=8, norm_num_groups=32)


def build_text_encoder(tokenizer, width: int = 128):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=4 * width,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                        pad_token_id=tokenizer.pad_token_id))


def schedulers():
    from diffusers import DDIMScheduler, DDPMScheduler

    kw = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False)
    return DDPMScheduler(**kw), DDIMScheduler(**kw, set_alpha_to_one=False, steps_offset=1)


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------
def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def train_vae(images: torch.Tensor, steps: int, g: torch.Generator, log: list) -> nn.Module:
    vae = build_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    for step in range(steps):
        x = images[torch.randint(0, len(images), (32,), generator=g)]
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample(generator=g)).sample
        loss = (rec - x).abs().mean() + (rec - x).pow(2).mean() + 1e-6 * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log.append({"step": step, "loss": round(float(loss), 5)})
            print(f"vae {step}/{steps} loss {float(loss):.4f}", flush=True)
    return vae.eval().requires_grad_(False)


@torch.no_grad()
def psnr(vae, images: torch.Tensor) -> float:
    rec = vae.decode(vae.encode(images).latent_dist.mean).sample.clamp(-1, 1)
    mse = ((rec - images) / 2).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / mse)).mean())


def captions_for(labels: torch.Tensor, g: torch.Generator) -> list[str]:
    names = emoji.concept_names()
    out = []
    for lab in labels.tolist():
        if torch.rand((), generator=g) < emoji.EMPTY_CAPTION_RATE:
            out.append("")
        else:
            template = emoji.TEMPLATES[int(torch.randint(0, len(emoji.TEMPLATES), (), generator=g))]
            out.append(emoji.prompt_for(names[lab], template))
    return out


def save_pipeline(folder: Path, vae, unet, text_encoder, tokenizer, record: dict) -> None:
    from diffusers import StableDiffusionPipeline

    _, ddim = schedulers()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=ddim,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    tokenizer_dir = tmp / "tokenizer"  # the slow tokenizer's files too: loadable by every transformers version
    shutil.copy(CHECKPOINTS / "tokenizer" / "vocab.json", tokenizer_dir / "vocab.json")
    shutil.copy(CHECKPOINTS / "tokenizer" / "merges.txt", tokenizer_dir / "merges.txt")
    emoji.write_concepts(tmp / "concepts.json")
    # the sampler it is judged with (StableDiffusionBackend.load reads it): 20 DDIM steps, guidance 3
    (tmp / PROVENANCE_FILE).write_text(json.dumps({"backend": "stable-diffusion", "config": SAMPLER}, indent=2) + "\n")
    (tmp / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=65.0, help="UNet + text encoder training time budget")
    p.add_argument("--max-steps", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--per-concept", type=int, default=320, help="rendered images per concept")
    p.add_argument("--vae-steps", type=int, default=800)
    p.add_argument("--export-every", type=int, default=2000, help="write the EMA pipeline to the assets every N steps")
    p.add_argument("--out", type=Path, default=EMOJI_SD_DIR)
    args = p.parse_args(argv)
    use_all_cores()
    g = seed_everything(args.seed)
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(CHECKPOINTS / "tokenizer")
    state_file = CHECKPOINTS / "state.pt"
    record = {"command": "python scripts/train_emoji_sd.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "seed": args.seed, "resolution": RESOLUTION, "concepts": len(emoji.CONCEPTS),
              "data": f"{args.per_concept} Noto Color Emoji renders per concept (random scale, shift, light background)",
              "vae": {}, "unet": {"loss": []}}
    t0 = time.time()

    data_file = CHECKPOINTS / "data.pt"
    if data_file.is_file():
        data = torch.load(data_file)
    else:
        images, labels = emoji.render_set(args.per_concept, RESOLUTION, seed=args.seed)
        data = {"images": to_tensor(images), "labels": torch.from_numpy(labels)}
        torch.save(data, data_file)
    images, labels = data["images"], data["labels"]
    held_images, _ = emoji.render_set(4, RESOLUTION, seed=args.seed + 1000)
    held = to_tensor(held_images)

    vae_file = CHECKPOINTS / "vae"
    if (vae_file / "config.json").is_file():
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(vae_file).eval().requires_grad_(False)
        record["vae"] = json.loads((CHECKPOINTS / "vae_record.json").read_text())
    else:
        tv = time.time()
        vae_log: list = []
        vae = train_vae(images, args.vae_steps, g, vae_log)
        with torch.no_grad():
            lat = torch.cat([vae.encode(c).latent_dist.mean for c in images[:2048].split(256)])
        vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
        record["vae"] = {"steps": args.vae_steps, "train_s": round(time.time() - tv, 1), "loss": vae_log,
                         "psnr_heldout_db": round(psnr(vae, held), 2), "scaling_factor": vae.config.scaling_factor}
        vae.save_pretrained(vae_file, safe_serialization=True)
        (CHECKPOINTS / "vae_record.json").write_text(json.dumps(record["vae"]))
        print(f"vae: {record['vae']['psnr_heldout_db']} dB on held-out renders", flush=True)
    with torch.no_grad():
        latents = torch.cat([vae.encode(c).latent_dist.mean for c in images.split(256)]) * vae.config.scaling_factor

    text_encoder = build_text_encoder(tokenizer)
    unet = build_unet(text_encoder.config.hidden_size)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=1e-2)
    ema = [p.detach().clone() for p in params]
    step, spent = 0, 0.0
    if state_file.is_file():
        state = torch.load(state_file)
        unet.load_state_dict(state["unet"])
        text_encoder.load_state_dict(state["text_encoder"])
        opt.load_state_dict(state["opt"])
        ema = state["ema"]
        step, spent = state["step"], state["spent"]
        record["unet"]["loss"] = state["loss"]
        g.set_state(state["rng"])
        print(f"resumed at step {step} ({spent / 60:.1f} min spent)", flush=True)
    ddpm, _ = schedulers()
    record["unet"]["parameters"] = sum(p.numel() for p in unet.parameters())
    record["text_encoder_parameters"] = sum(p.numel() for p in text_encoder.parameters())
    unet.train()
    text_encoder.train()
    budget = args.minutes * 60
    running, t_last = 0.0, time.time()

    def ema_models():
        u, te = build_unet(text_encoder.config.hidden_size), build_text_encoder(tokenizer)
        names = [("u", k) for k, _ in unet.named_parameters()] + [("t", k) for k, _ in text_encoder.named_parameters()]
        us, ts = dict(unet.state_dict()), dict(text_encoder.state_dict())
        for (which, k), v in zip(names, ema):
            (us if which == "u" else ts)[k] = v.clone()
        u.load_state_dict(us)
        te.load_state_dict(ts)
        return u.eval(), te.eval()

    def checkpoint():
        torch.save({"unet": unet.state_dict(), "text_encoder": text_encoder.state_dict(), "opt": opt.state_dict(),
                    "ema": ema, "step": step, "spent": spent, "loss": record["unet"]["loss"], "rng": g.get_state()},
                   str(state_file) + ".tmp")
        Path(str(state_file) + ".tmp").replace(state_file)

    def export():
        u, te = ema_models()
        record["unet"].update({"steps": step, "train_min": round(spent / 60, 1), "batch": args.batch,
                               "lr": 3e-4, "ema_decay": 0.999})
        record["wall_min"] = round((time.time() - t0) / 60, 1)
        save_pipeline(args.out, vae, u, te, tokenizer, record)
        print(f"exported step {step} to {args.out}", flush=True)

    while step < args.max_steps and spent < budget:
        idx = torch.randint(0, len(latents), (args.batch,), generator=g)
        x0 = latents[idx]
        ids = tokenizer(captions_for(labels[idx], g), padding="max_length", max_length=77, truncation=True,
                        return_tensors="pt").input_ids
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, 1000, (args.batch,), generator=g)
        pred = unet(ddpm.add_noise(x0, noise, t), t, encoder_hidden_states=text_encoder(ids)[0]).sample
        loss = (pred - noise).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        lr = 3e-4 * min(1.0, (step + 1) / 500)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p_ in zip(ema, params):
                e.mul_(decay).add_(p_.detach(), alpha=1 - decay)
        step += 1
        running += float(loss)
        now = time.time()
        spent += now - t_last
        t_last = now
        if step % 100 == 0:
            record["unet"]["loss"].append({"step": step, "loss": round(running / 100, 5), "min": round(spent / 60, 2)})
            print(f"unet {step} loss {running / 100:.4f} {spent / step:.3f} s/step {spent / 60:.1f} min", flush=True)
            running = 0.0
        if step % 500 == 0:
            checkpoint()
        if step % args.export_every == 0:
            export()
    checkpoint()
    export()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
