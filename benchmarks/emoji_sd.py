"""emoji-sd and Selective Amnesia on it: writes benchmarks/results/emoji_sd*.{json,md,png}.

    .venv/bin/python benchmarks/emoji_sd.py --part model      # training record, the judge's ceiling, per-concept rates
    .venv/bin/python benchmarks/emoji_sd.py --part guidance   # guidance scale chosen on development seeds
    .venv/bin/python benchmarks/emoji_sd.py --part dev        # Selective Amnesia settings on a development pair
    .venv/bin/python benchmarks/emoji_sd.py --part amnesia    # quick and full presets on held-out pairs, as the tab runs them
    .venv/bin/python benchmarks/emoji_sd.py --part picture    # the README's picture, from the shipped example

Development: the pair 'a frog' -> 'a fish' and seeds 9000+; held-out: 'a cat' -> 'a dog' on the judge's own seeds (methods/judges/emoji.py EVAL_SEED). Every Selective Amnesia figure comes from ``sa.forget``, the
entry the tab and the CLI call. Caches are fresh per run (every time counts the Fisher and the replay buffer).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("UNLEARNING_STUDIO_CACHE", tempfile.mkdtemp(prefix="emoji-bench-"))

import numpy as np
from PIL import Image, ImageDraw

from methods import selective_amnesia as sa
from methods.selective_amnesia.train import warm_cache
from methods.backends import load_generator
from methods.backends.stable_diffusion import EMOJI_SD_DIR
from methods.judges.emoji import EVAL_SEED, JUDGE_DIR, RECOGNISED_AT, emoji_judge, judged_probabilities
from methods.runtime import use_all_cores

OUT = ROOT / "benchmarks" / "results"
DEV_SEED = 9000
HELD_OUT_PAIRS = [("a cat", "a dog")]
DEV_PAIR = ("a frog", "a fish")


def concept_rates(backend, judge, seed_base: int, n: int) -> dict[str, float]:
    names = list(backend.concepts.names)
    prompts = [backend.concepts.prompts[c] for c in names]
    seeds = [seed_base + 1000 * i for i in range(len(names))]
    p = judged_probabilities(backend, judge, prompts, seeds, n)
    return {c: float((p[i, :, judge.names.index(c)] >= RECOGNISED_AT).float().mean()) for i, c in enumerate(names)}


def loss_plot(curve: list[dict], path: Path) -> None:
    """The training loss (per 100 steps) as a small PNG."""
    w, h, pad = 640, 240, 36
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    steps = [c["step"] for c in curve]
    losses = [c["loss"] for c in curve]
    lo, hi = min(losses), max(losses)
    pts = [(pad + (w - 2 * pad) * s / max(steps), h - pad - (h - 2 * pad) * (l - lo) / (hi - lo + 1e-9))
           for s, l in zip(steps, losses)]
    d.line(pts, fill=(40, 90, 200), width=2)
    d.rectangle([pad, pad, w - pad, h - pad], outline=(120, 120, 120))
    d.text((pad, 8), f"UNet + text encoder: noise-prediction loss per 100 steps ({hi:.3f} -> {losses[-1]:.3f})", fill="black")
    d.text((pad, h - pad + 8), f"step 0 ... {max(steps)}", fill="black")
    im.save(path)


def part_model() -> dict:
    training = json.loads((EMOJI_SD_DIR / "training.json").read_text())
    judge_report = json.loads((JUDGE_DIR / "report.json").read_text())
    backend = load_generator("emoji-sd")
    judge = emoji_judge()
    started = time.perf_counter()
    rates = concept_rates(backend, judge, EVAL_SEED, 32)
    seconds = time.perf_counter() - started
    loss_plot(training["unet"]["loss"], OUT / "emoji_sd_loss.png")
    res = {"training": {k: v for k, v in training.items() if k not in ("unet", "vae")},
           "unet": {k: v for k, v in training["unet"].items() if k != "loss"},
           "vae": {k: v for k, v in training["vae"].items() if k != "loss"},
           "judge": {k: judge_report[k] for k in ("heldout_accuracy", "outliers_max_probability_mean", "steps", "wall_s")},
           "original_rates": rates, "mean_rate": float(np.mean(list(rates.values()))),
           "lowest": min(rates, key=rates.get), "sampler": {k: backend.config[k] for k in ("sample_steps", "guidance_scale")},
           "judging_s": round(seconds, 1), "n_per_concept": 32}
    rows = "\n".join(f"| {c} | {backend.concepts.groups[c]} | {r:.0%} |" for c, r in rates.items())
    md = "\n".join([
        "# emoji-sd: the model and its judge", "",
        f"Trained by `{training['command']}` (seed {training['seed']}): VAE {res['vae']['steps']} steps "
        f"({res['vae']['train_s']} s, {res['vae']['psnr_heldout_db']} dB PSNR on held-out renders), UNet + text encoder "
        f"{res['unet']['steps']} steps of batch {res['unet']['batch']} in {res['unet']['train_min']} min on 2 CPU cores; "
        f"UNet {res['unet']['parameters'] / 1e6:.1f} M parameters, text encoder {training['text_encoder_parameters'] / 1e6:.2f} M. "
        "Loss curve: `emoji_sd_loss.png`.", "",
        "Judge (a CNN trained on Twemoji and on Noto under held-out augmentations): accuracy on held-out renders "
        + ", ".join(f"{k} {v:.1%}" for k, v in judge_report["heldout_accuracy"].items()) + " (its ceiling).", "",
        f"The original model's samples, 32 per concept on held-out seeds ({res['sampler']['sample_steps']} DDIM steps, "
        f"guidance {res['sampler']['guidance_scale']}): the judge recognises the prompted concept in "
        f"**{res['mean_rate']:.1%}** on average (goal 80%), lowest '{res['lowest']}' {rates[res['lowest']]:.0%} "
        f"(goal above 50%; chance {1 / len(rates):.1%}).", "",
        "| concept | group | recognised |", "|---|---|---|", rows, ""])
    return {"json": res, "md": md}


def part_guidance() -> dict:
    """Recognised rate on development seeds per guidance scale (the model's default is chosen from this)."""
    backend = load_generator("emoji-sd")
    judge = emoji_judge()
    res = {}
    for scale in (1.5, 2.5, 4.0, 6.0, 8.0):
        rates = concept_rates(backend.with_conditions([], guidance_scale=scale), judge, DEV_SEED, 16)
        res[str(scale)] = {"mean": float(np.mean(list(rates.values()))), "lowest": float(min(rates.values()))}
        print(scale, res[str(scale)], flush=True)
    md = "\n".join(["# emoji-sd: guidance scale on development seeds (16 per concept)", "",
                    "| guidance | mean recognised | lowest concept |", "|---|---|---|"]
                   + [f"| {k} | {v['mean']:.1%} | {v['lowest']:.0%} |" for k, v in res.items()]) + "\n"
    return {"json": res, "md": md}


def run_preset(pair: tuple[str, str], preset_name: str, options: dict | None = None, **overrides) -> dict:
    backend = load_generator("emoji-sd")
    preset = sa.presets_for("emoji-sd")[preset_name]
    config = sa.AmnesiaConfig.for_model("emoji-sd", preset, forget=pair[0], surrogate=pair[1], **overrides)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = sa.forget(backend, config, out_dir=Path(tmp), **{**preset.options, **(options or {})})
    seconds = time.perf_counter() - started
    return {"pair": list(pair), "preset": preset_name, "seconds": round(seconds, 1), "verdict": result.verdict,
            "settings": result.report["settings"], "judged": result.report["judged"], "method_s": result.report["wall_s"],
            "baseline": result.report.get("baseline"), "attack": result.report.get("attack"), "result": result}


DEV_GRID = [  # (batch, steps, lr) around the quick preset (cross-attention only, 6 sampler steps)
    (16, 40, 5e-4), (16, 40, 1e-3), (8, 40, 1e-3), (8, 60, 5e-4), (8, 80, 4e-4), (16, 100, 2e-4)]


# the full preset's candidates: (train_method, batch, steps, lr); judged on every concept, no attack
FULL_DEV_GRID = [("full", 16, 200, 2e-4), ("xattn", 16, 200, 2e-4), ("xattn", 16, 150, 3e-4)]


def part_dev(preset: str = "quick") -> dict:
    """Batch, steps and learning rate of a preset on the development pair (the rest of the preset as shipped)."""
    res = []
    if preset != "quick":
        warm_cache(("emoji-sd",))  # as a Space's stand-by does: every concept's buffer, so no row pays them
    grid = DEV_GRID if preset == "quick" else FULL_DEV_GRID
    for point in grid:
        train_method, (batch, steps, lr) = (None, point) if preset == "quick" else (point[0], point[1:])
        r = run_preset(DEV_PAIR, preset, {"attack": False}, batch_size=batch, lr=lr, steps=steps, train_method=train_method)
        j = r["judged"]
        res.append({"train_method": r["settings"]["train_method"], "batch": batch, "lr": lr, "steps": steps,
                    "seconds": r["seconds"], "method_s": r["method_s"],
                    "forgotten_after": j["forgotten"]["frog"]["after"],
                    "neighbours_kept": f"{len(j['neighbours_kept'])}/{len(j['neighbours'])}",
                    "neighbours_after": float(np.mean([v["after"] for v in j["neighbours"].values()])),
                    "neighbours_before": float(np.mean([v["before"] for v in j["neighbours"].values()])),
                    "others_after": j["others_mean"]["after"], "others_before": j["others_mean"]["before"]})
        print(res[-1], flush=True)
    md = "\n".join([f"# Selective Amnesia on emoji-sd: the {preset} preset on the development pair 'a frog' -> 'a fish'", "",
                    f"The rest of the {preset} preset as shipped (no attack); time is the whole run"
                    + (" (the first run pays the caches)." if preset == "quick" else ", after the stand-by's cache warm-up."), "",
                    "| trained | batch | steps | lr | frog recognised after | neighbours kept | neighbours after (before) | "
                    "others after (before) | forgetting time | whole run |", "|---|---|---|---|---|---|---|---|---|---|"]
                   + [f"| {r['train_method']} | {r['batch']} | {r['steps']} | {r['lr']:g} | {r['forgotten_after']:.0%} | "
                      f"{r['neighbours_kept']} | "
                      f"{r['neighbours_after']:.0%} ({r['neighbours_before']:.0%}) | {r['others_after']:.0%} ({r['others_before']:.0%}) "
                      f"| {r['method_s']} s | {r['seconds']} s |" for r in res]) + "\n"
    return {"json": res, "md": md}


def grid_picture(result, path: Path) -> None:
    from ui.common import labelled_rows

    rows = {}
    for key in ("before", "after"):
        for label, images in result.galleries[key].items():
            rows[f"{key}: {label}"] = images
    labelled_rows(rows, tile=48, label_width=220).save(path)


QUICK_ONLY_PAIRS = [("a car", "a bus"), ("a banana", "a lemon")]  # held-out pairs outside the animals, quick preset


def part_amnesia() -> dict:
    # the on-disk caches a Space's stand-by worker fills before the first visitor (ui/worker.py: WARM_CALLS);
    # the Fisher it warms is the default request's, so the quick-only pairs pay their own
    started = time.perf_counter()
    warm_cache(("emoji-sd",))
    warm_s = round(time.perf_counter() - started, 1)
    runs = []
    plan = [(pair, preset, options) for pair in HELD_OUT_PAIRS
            # the full preset as the tab runs it, then with the surrogate-only baseline beside it (over the tab's budget)
            for preset, options in (("quick", {}), ("full", {}), ("full", {"compare_baseline": True}))]
    plan += [(pair, "quick", {}) for pair in QUICK_ONLY_PAIRS]
    for pair, preset, options in plan:
            r = run_preset(pair, preset, options)
            if options:
                r["preset"] = "full + baseline"
            if pair == HELD_OUT_PAIRS[0] and preset == "full" and not options:
                grid_picture(r["result"], OUT / "emoji_sd_amnesia.png")
            r.pop("result")
            runs.append(r)
            print(pair, preset, r["seconds"], r["verdict"], flush=True)
    lines = ["# Selective Amnesia on emoji-sd, held-out pairs and seeds (the tab's presets, `sa.forget`)", "",
             f"Times are a click's on 2 cores after the stand-by worker's cache warm-up ({warm_s} s, once per Space).", "",
             "| forget → surrogate | preset | forgotten recognised before → after | surrogate drawn | neighbours kept (≥ 90% of before) "
             "| neighbours mean before → after | others mean before → after | surrogate only: forgotten / others | attack: recovered "
             "(original) | time |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        j = r["judged"]
        f = next(iter(j["forgotten"].values()))
        nb = [v["before"] for v in j["neighbours"].values()]
        na = [v["after"] for v in j["neighbours"].values()]
        base = r["baseline"]["judged"] if r["baseline"] else None
        base_txt = (f"{next(iter(base['forgotten'].values()))['after']:.0%} / {base['others_mean']['after']:.0%}" if base else "—")
        atk = r["attack"]
        atk_txt = f"{atk['recovered_unlearned']:.0%} ({atk['recovered_original']:.0%})" if atk else "—"
        lines.append(f"| {r['pair'][0]} → {r['pair'][1]} | {r['preset']} | {f['before']:.0%} → **{f['after']:.0%}** | "
                     f"{j['surrogate']['after']:.0%} | {len(j['neighbours_kept'])}/{len(j['neighbours'])} | "
                     f"{np.mean(nb):.0%} → {np.mean(na):.0%} | {j['others_mean']['before']:.0%} → {j['others_mean']['after']:.0%} | "
                     f"{base_txt} | {atk_txt} | {r['seconds']} s |")
    lines += ["", "Verdicts:", ""] + [f"- {r['pair'][0]} ({r['preset']}): {r['verdict']}" for r in runs] + [
        "", "Picture: `emoji_sd_amnesia.png` (full preset, 'a cat' → 'a dog', fixed seeds)."]
    return {"json": {"warm_s": warm_s, "runs": runs}, "md": "\n".join(lines) + "\n"}


def part_picture() -> dict:
    """The README's picture: the shipped example's before/after rows (the Amnesia tab's example, full preset)."""
    from methods.runtime import load_display

    result, extra = load_display(ROOT / "assets" / "examples" / "amnesia" / "emoji-cat-to-dog")
    grid_picture(result, OUT / "emoji_sd_amnesia.png")
    return {"json": {"example": extra["title"], "verdict": result.verdict, "seconds": extra["seconds"]},
            "md": f"`emoji_sd_amnesia.png`: {extra['title']} ({extra['seconds']} s, `{extra['command']}`). {result.verdict}\n"}


PARTS = {"model": part_model, "guidance": part_guidance, "dev": part_dev, "dev-full": lambda: part_dev("full"),
         "amnesia": part_amnesia, "picture": part_picture}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=list(PARTS), required=True)
    args = p.parse_args()
    use_all_cores()
    out = PARTS[args.part]()
    OUT.mkdir(parents=True, exist_ok=True)
    name = "emoji_sd" if args.part == "model" else f"emoji_sd_{args.part.replace('-', '_')}"
    (OUT / f"{name}.json").write_text(json.dumps(out["json"], indent=2, default=str) + "\n")
    (OUT / f"{name}.md").write_text(out["md"])
    print(out["md"])


if __name__ == "__main__":
    main()
