"""Train the face VAE (``digiface-vae``) on samples of the shipped DigiFace DCGAN; write assets/face-vae/.

    .venv/bin/python scripts/train_face_vae.py [--steps 6000] [--batch 64] [--images 50000] [--temperature 0.7] [--seed 0]

The training set is ``--images`` faces drawn once from the GAN (z ~ N(0, I), seeded; drawing them inside every step
would cost more than the step): the VAE is distilled from the GAN (no real-face dataset ships with a package here).

The shipped generator is the decoder with a Gaussian fitted to the encoder's codes of the training faces folded into
its first layer (ex-post density estimation, Ghosh et al., ICLR 2020): z ~ N(0, I) then lands where the training
faces' codes lie, instead of in the gaps between them that N(0, I) itself falls into (a VAE's "prior holes"), at a
temperature (``--temperature``: the fitted spread times 0.7, chosen on a development seed for dlib to find faces in at
least 60% of samples; lower is more typical faces, less variety). The report gives dlib's detection rate both ways. Writes ``vae.safetensors`` and
``report.json`` (command, seed, time, the loss curve, and dlib's face-detection rate on random samples of the VAE and
of the GAN). A checkpoint (``checkpoint.pt``, not shipped) is written every ``--checkpoint-every`` steps and resumed
from if present, so a long training survives an interrupted session.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from methods.backends import load_generator
from methods.backends.face_vae import ASSETS, WEIGHTS, FaceVAE
from methods.runtime import seed_everything, use_all_cores

DETECTION_SAMPLES, DETECTION_SEED = 500, 424_242


def detection_rate(images: torch.Tensor) -> float:
    """Share of images in which dlib's HOG detector finds a face (the judge's own detector, at its analysis size)."""
    from methods.judges.faces import hog_detects

    return float(hog_detects(images).mean())


@torch.no_grad()
def fold_code_gaussian(model: FaceVAE, data: torch.Tensor, temperature: float, n: int = 10_000) -> dict:
    """Fit N(m, C) to the posterior means of ``n`` training faces and fold z -> m + temperature · L z (C = L Lᵀ) into
    the decoder's first layer, so that z ~ N(0, I) draws from the fitted Gaussian. Returns the fit's summary."""
    model.eval()
    codes = torch.cat([model.encode(chunk.float() / 127.5 - 1)[0] for chunk in data[:n].split(500)]).double()
    mean, cov = codes.mean(0), torch.cov(codes.T)
    chol = temperature * torch.linalg.cholesky(cov + 1e-6 * torch.eye(len(mean), dtype=torch.float64))
    weight, bias = model.project.weight.double(), model.project.bias.double()
    model.project.weight.copy_((weight @ chol).float())
    model.project.bias.copy_((weight @ mean + bias).float())
    return {"faces": min(n, len(data)), "temperature": temperature, "code_norm_mean": round(float(codes.norm(dim=1).mean()), 2),
            "code_std_mean": round(float(codes.std(0).mean()), 3)}


@torch.no_grad()
def prior_samples(model: FaceVAE, n: int, seed: int) -> torch.Tensor:
    model.eval()
    z = torch.randn((n, model.latent), generator=torch.Generator().manual_seed(seed))
    out = torch.cat([model.decode(chunk) for chunk in z.split(250)])
    model.train()
    return out


@torch.no_grad()
def faces_from_gan(gan, n: int, seed: int) -> torch.Tensor:
    """``n`` GAN faces as uint8 (n, 3, 64, 64), drawn from their own seeded stream."""
    z = torch.randn((n, gan.latent_dim), generator=torch.Generator().manual_seed(10_000 + seed))
    return torch.cat([((gan.decode(chunk) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8) for chunk in z.split(500)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--images", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--temperature", type=float, default=0.7, help="the fitted Gaussian's spread, scaled (see above)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ASSETS)
    args = ap.parse_args()
    use_all_cores()
    args.out.mkdir(parents=True, exist_ok=True)
    gan = load_generator("digiface-dcgan")
    g = seed_everything(args.seed)
    model = FaceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps, eta_min=args.lr * 0.05)
    curve, start, spent, threads = [], 0, 0.0, torch.get_num_threads()
    checkpoint = args.out / "checkpoint.pt"
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        curve, start, spent = state["curve"], state["step"], state["seconds"]
        threads = state.get("threads", threads)
        print(f"resumed at step {start}", flush=True)
    started = time.perf_counter()
    data = faces_from_gan(gan, args.images, args.seed)  # the same set on a resumed run (its own seed)
    print(f"{len(data)} GAN faces drawn in {time.perf_counter() - started:.0f} s", flush=True)
    model.train()
    window = []
    for step in range(start, args.steps):
        x = data[torch.randint(0, len(data), (args.batch,), generator=g)].float() / 127.5 - 1
        loss, recon, kl = (t.mean() for t in model.negative_elbo(x))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        window.append(tuple(float(t.detach()) for t in (loss, recon, kl)))
        if (step + 1) % 100 == 0:
            mean = np.mean(window, axis=0)
            curve.append({"step": step + 1, "neg_elbo": round(float(mean[0]), 1), "recon": round(float(mean[1]), 1),
                          "kl": round(float(mean[2]), 1)})
            window = []
            print(json.dumps(curve[-1]), flush=True)
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:  # the unfolded decoder, until the end
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                        "generator": g.get_state(), "torch_rng": torch.get_rng_state(), "curve": curve, "step": step + 1,
                        "seconds": spent + time.perf_counter() - started, "threads": torch.get_num_threads()}, checkpoint)
            save_file({k: v.contiguous() for k, v in model.eval().state_dict().items()}, str(args.out / WEIGHTS))
            model.train()
    seconds = spent + time.perf_counter() - started
    model.eval()
    plain_rate = detection_rate(prior_samples(model, DETECTION_SAMPLES, DETECTION_SEED))  # N(0, I) into the trained decoder
    fit = fold_code_gaussian(model, data, args.temperature)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / WEIGHTS))
    vae_rate = detection_rate(prior_samples(model, DETECTION_SAMPLES, DETECTION_SEED))
    with torch.no_grad():
        gan_images = gan.render(torch.randn((DETECTION_SAMPLES, gan.latent_dim),
                                            generator=torch.Generator().manual_seed(DETECTION_SEED)))
    report = {"command": "python scripts/train_face_vae.py " + " ".join(sys.argv[1:]), "seed": args.seed,
              "data": f"{args.images} samples of the shipped DigiFace DCGAN, drawn once (distilled from the GAN)",
              "architecture": "conv encoder/decoder 64 px, width 32, z 100-d, N(0, I) prior, Gaussian decoder with the batch's optimal σ",
              "steps": args.steps, "batch": args.batch, "lr": args.lr, "train_s": round(seconds, 1),
              "threads": threads,
              "code_gaussian": fit,
              "dlib_face_detected": {"vae_random_samples": round(vae_rate, 4),
                                     "vae_random_samples_without_the_fitted_gaussian": round(plain_rate, 4),
                                     "dcgan_random_samples": round(detection_rate(gan_images), 4),
                                     "n": DETECTION_SAMPLES, "seed": DETECTION_SEED},
              "curve": curve}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=2))


if __name__ == "__main__":
    main()
