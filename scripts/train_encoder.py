"""Train the Identity tab's face encoder on the face generator's own samples, and measure its face template.

    .venv/bin/python scripts/train_encoder.py [--steps 1500 --batch-size 64 --seed 0]

Writes assets/identity/encoder.safetensors (64-px face -> z), assets/identity/face_template.json (mean MTCNN
landmarks of 400 generator samples: where the generator puts eyes, nose and mouth) and
assets/identity/report.json (command, seed, time, losses). No photo is used: the encoder only ever sees
generated faces, with colour/brightness jitter and 1-px shifts so it tolerates real photos as an initialiser.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from methods.backends import load_generator
from methods.judges.faces import upsample_uint8
from methods.guide.inversion import FaceEncoder
from methods.runtime import use_all_cores

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "assets" / "identity"


def measure_template(backend, n: int = 400, seed: int = 1) -> dict:
    """Mean 5-point MTCNN landmarks (64-px coordinates) over generator samples MTCNN is sure about."""
    from facenet_pytorch import MTCNN

    images = upsample_uint8(backend.render(backend.sample_latents(n, seed)))
    _, probs, landmarks = MTCNN(keep_all=True, device="cpu").detect(list(images), landmarks=True)
    points = [np.asarray(l, float)[0] for l, p in zip(landmarks, probs) if l is not None and np.asarray(p, float)[0] > 0.95]
    points = np.stack(points) * 64 / images.shape[1]
    return {"landmarks_64px": points.mean(0).round(3).tolist(), "std_px": points.std(0).round(3).tolist(),
            "faces_used": len(points), "samples": n, "order": ["left eye", "right eye", "nose", "left mouth", "right mouth"]}


def jitter(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per-image brightness/contrast/colour changes and a 1-px shift: photos are not generator-perfect."""
    n = len(images)
    gain = 1 + 0.2 * (torch.rand(n, 1, 1, 1, generator=g) - 0.5)
    colour = 0.1 * (torch.rand(n, 3, 1, 1, generator=g) - 0.5)
    out = (images * gain + colour).clamp(-1, 1)
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
    return torch.roll(out, shifts=(dy, dx), dims=(2, 3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    use_all_cores()
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    backend = load_generator("digiface-dcgan")
    started = time.perf_counter()
    template = measure_template(backend)
    encoder = FaceEncoder()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    losses = []
    for step in range(args.steps):
        z = torch.randn(args.batch_size, 100, generator=g)
        with torch.no_grad():
            images = jitter(backend.decode(z), g)
        loss = F.mse_loss(encoder(images), z)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss))
        if step % 100 == 0:
            print(f"step {step}: z-MSE {np.mean(losses[-100:]):.4f}", flush=True)
    encoder.eval()
    with torch.no_grad():
        z = torch.randn(512, 100, generator=torch.Generator().manual_seed(10_000))
        images = backend.decode(z)
        z_hat = encoder(images)
        heldout = float(F.mse_loss(z_hat, z))
        pixel = float(F.mse_loss(backend.decode(z_hat), images))
    wall = time.perf_counter() - started
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(OUT / "encoder.safetensors"))
    (OUT / "face_template.json").write_text(json.dumps(template, indent=2) + "\n")
    report = {"command": "python scripts/train_encoder.py " + " ".join(sys.argv[1:]), "seed": args.seed, "steps": args.steps,
              "batch_size": args.batch_size, "lr": args.lr, "wall_s": round(wall, 1), "cpu": "2 cores",
              "train_z_mse_last100": round(float(np.mean(losses[-100:])), 4), "heldout_z_mse": round(heldout, 4),
              "heldout_pixel_mse_of_G(E(G(z)))": round(pixel, 4), "template_faces_used": template["faces_used"]}
    (OUT / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
