"""Does the person stay forgotten? Plain GUIDE (the paper's UFO target, then the nobody target) against the robust
mode, on the same photos, each judged by the held-out re-inversion attack (never used inside a training) and by dlib.
Writes benchmarks/results/guide_robust.{json,md} (held-out photos) or guide_robust_dev.{json,md} (--dev).

    .venv/bin/python benchmarks/guide_robust.py [--dev] [--only VARIANT] [--summarise]

- Held-out photos: the two example photos (astronaut, cameraman). Development photos (--dev: where settings are
  chosen; no reported table uses them): faces #2, #3, #5 and #6 of scikit-image's LFW subset.
- Each run: the full preset (inversion of the photo and its six views, 48 random faces), no baseline, then the held-out
  attack on the photo and its views, in the original (calibration) and in the result.
- Other photos of the person: no second photo of these people ships offline, so each run also gets a re-processed copy
  of the photo (rotated 8 degrees, cropped wider, blurred, darker) as an extra photo. It is held out of every training
  (the robust rounds attack the photo and its generated views only) and judged like the views (ID_others).
- The target: whether dlib's detector finds a face where the person was drawn, and its brightness against the random
  faces' 10th-90th percentile.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from methods import guide
from methods.backends import DEFAULT_FACE_GENERATOR, load_generator
from methods.guide.face_input import example_photos, lfw_photos, load_photo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
DEV_FACES = (2, 3, 5, 6)
VARIANTS = {
    "GUIDE, UFO target (the paper's)": {"target": "ufo"},
    "GUIDE, nobody target": {"target": "nobody"},
    f"GUIDE robust ({guide.ROBUST_ROUNDS} rounds), nobody target": {"target": "nobody", "robust_rounds": guide.ROBUST_ROUNDS},
}


def second_photo(photo, folder: Path) -> Path:
    """A re-processed copy of ``photo`` standing in for a second photo of the person (held out of training)."""
    image = Image.fromarray(load_photo(photo)) if not isinstance(photo, np.ndarray) else Image.fromarray(photo)
    w, h = image.size
    image = image.rotate(8, resample=Image.BICUBIC, expand=False, fillcolor=(128, 128, 128))
    pad = Image.new("RGB", (int(w * 1.2), int(h * 1.2)), (128, 128, 128))
    pad.paste(image, (int(w * 0.1), int(h * 0.1)))
    image = ImageEnhance.Brightness(pad.filter(ImageFilter.GaussianBlur(1.5))).enhance(0.85)
    path = folder / f"second-{hashlib.sha1(image.tobytes()).hexdigest()[:10]}.png"
    image.save(path)
    return path


def photos(dev: bool) -> dict:
    return lfw_photos(DEV_FACES) if dev else dict(example_photos())


def run_one(backend, title: str, photo, variant: str, folder: Path) -> dict:
    full = guide.PRESETS["full"]
    config = guide.GuideConfig(**{**full.settings, **VARIANTS[variant]})
    source = photo
    if isinstance(photo, np.ndarray):  # the pipeline reads files or arrays; the second photo is written as a file
        source = folder / f"{hashlib.sha1(title.encode()).hexdigest()[:10]}.png"
        Image.fromarray(photo).save(source)
    started = time.perf_counter()
    result = guide.unlearn_identity(backend, source, config, extra_photos=[second_photo(source, folder)],
                                    **{**full.options, "compare_baseline": False, "attack_views": None})
    seconds = time.perf_counter() - started
    e, a = result.report["evaluation"], result.report["attack"]
    return {"photo": title, "variant": variant, "seconds": round(seconds, 1), "train_s": result.report["train_s"],
            "attack_s": a["seconds"], "id_distance": e["id_source_before_vs_after"],
            "views_forgotten": e["id_others_forgotten_rate"], "second_photo_forgotten": e.get("extra_photos_forgotten_rate"),
            "random_kept": e["preservation_same_person_rate"], "random_n": e["preservation_faces_compared"],
            "random_ssim": round(e["preservation_ssim"], 3), "target_detected": e["unlearned_source_hog_detected"],
            "target_brightness": e["unlearned_source_brightness"], "random_brightness_p10_p90": e["random_brightness_p10_p90"],
            "attack_recovered_original": a["recovered_original"], "attack_recovered_unlearned": a["recovered_unlearned"],
            "attack_n": a["n"], "attack_budget": a["budget"],
            "in_loop_rounds": [r["recovered"] for r in result.report.get("robust", {}).get("rounds", [])],
            "target": result.report["target"]}


def main() -> None:
    dev = "--dev" in sys.argv
    stem = "guide_robust_dev" if dev else "guide_robust"
    path = OUT / f"{stem}.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    if "--summarise" not in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
        backend = load_generator(DEFAULT_FACE_GENERATOR)
        with tempfile.TemporaryDirectory() as tmp:
            for title, photo in photos(dev).items():
                for variant in VARIANTS:
                    if only and only not in variant:
                        continue
                    row = run_one(backend, title, photo, variant, Path(tmp))
                    rows = [r for r in rows if (r["photo"], r["variant"]) != (title, variant)] + [row]
                    print(json.dumps(row), flush=True)
                    write(rows, stem)
    write(rows, stem)


def write(rows: list[dict], stem: str) -> None:
    """``OUT/<stem>.json`` (every run) and ``OUT/<stem>.md`` (one line per photo and variant, then the means)."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    pct = lambda x: "—" if x is None else f"{x:.0%}"  # noqa: E731
    head = ("| photo | variant | held-out attack: recovered in the result (original) | in-loop attack by round (training fit) "
            "| ID distance | views forgotten | second photo forgotten | random faces kept | random SSIM | target: a face "
            "| target brightness (random p10–p90) | run (fine-tuning, attack) |\n" + "|---" * 12 + "|\n")
    body = "".join(
        f"| {r['photo']} | {r['variant']} | **{pct(r['attack_recovered_unlearned'])}** of {r['attack_n']} "
        f"({pct(r['attack_recovered_original'])}) | {', '.join(pct(x) for x in r['in_loop_rounds']) or '—'} | "
        f"{r['id_distance']} | {pct(r['views_forgotten'])} | {pct(r['second_photo_forgotten'])} | {pct(r['random_kept'])} "
        f"of {r['random_n']} | {r['random_ssim']:.3f} | {'yes' if r['target_detected'] else 'no'} | "
        f"{r['target_brightness']:.2f} ({r['random_brightness_p10_p90'][0]:.2f}–{r['random_brightness_p10_p90'][1]:.2f}) | "
        f"{r['seconds']:.0f} s ({r['train_s']:.0f} s, {r['attack_s']:.0f} s) |\n" for r in rows)
    means = "\n| variant | held-out attack recovered | random faces kept | random SSIM | target a face | target brightness in range | mean run |\n|---|---|---|---|---|---|---|\n"
    for variant in VARIANTS:
        rs = [r for r in rows if r["variant"] == variant]
        if not rs:
            continue
        in_range = [lo <= r["target_brightness"] <= hi for r in rs for lo, hi in [r["random_brightness_p10_p90"]]]
        means += (f"| {variant} | {np.mean([r['attack_recovered_unlearned'] for r in rs]):.0%} "
                  f"(original {np.mean([r['attack_recovered_original'] for r in rs]):.0%}) | "
                  f"{np.mean([r['random_kept'] for r in rs]):.0%} | {np.mean([r['random_ssim'] for r in rs]):.3f} | "
                  f"{np.mean([r['target_detected'] for r in rs]):.0%} of {len(rs)} | {np.mean(in_range):.0%} | "
                  f"{np.mean([r['seconds'] for r in rs]):.0f} s |\n")
    (OUT / f"{stem}.md").write_text(head + body + means)
    print(head + body + means)


if __name__ == "__main__":
    main()
