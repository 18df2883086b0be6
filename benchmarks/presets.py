"""Quick vs full presets of every tab, side by side: the time of each run on this machine and its quality, judged
the same way for both (a judge the method never trained against). Writes benchmarks/results/presets.{json,md}.

    .venv/bin/python benchmarks/presets.py [--only identity|features|amnesia]

- Identity: both example photos. Both presets' GUIDE generators are judged on one reference per photo (a full
  inversion of the photo and all six views, 48 random faces), so the quick run's fewer views do not flatter it.
- Features: the shipped open-mouth labels; dlib's landmarks count open mouths on 400 new faces.
- Amnesia: digits cVAE (forget 0 -> noise, remap 3 -> 8) and DDPM (forget 0 -> noise), judged by the digits
  classifier on 200 samples a class. The caches (Fisher, replay buffer, the original's measure) start empty, so the
  DDPM's first quick run is the cold one a freshly started Space pays once; it is run twice.
Times are the method's entry point in this process (what the worker runs), without the app around it; the
click-to-verdict times through the browser are benchmarks/click_to_verdict.py's.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["UNLEARNING_STUDIO_CACHE"] = tempfile.mkdtemp()  # cold caches: the first run pays what a new Space pays

import numpy as np  # noqa: E402

from methods import feature_unlearning as fu  # noqa: E402
from methods import guide  # noqa: E402
from methods import selective_amnesia as sa  # noqa: E402
from methods.backends import DEFAULT_FACE_GENERATOR, load_generator  # noqa: E402
from methods.feature_unlearning.labels import LabelSet  # noqa: E402
from methods.guide.face_input import align_face, example_photos, other_views  # noqa: E402
from methods.guide.inversion import invert  # noqa: E402
from methods.judges.faces import open_mouth_rate  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
LABELS = ROOT / "assets" / "examples" / "features" / "open-mouths" / "labels.json"
JUDGED_FACES, JUDGE_SEED = 400, 910_000


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - started, 1)


def identity(names: tuple[str, ...] = ("quick", "full")) -> list[dict]:
    backend = load_generator(DEFAULT_FACE_GENERATOR)
    rows = []
    for title, photo in example_photos().items():
        face = align_face(photo)
        views = {"source": face.image, **other_views(face)}
        full_inversion = invert(backend, np.stack(list(views.values())))
        reference = guide.evaluation_reference(
            backend, full_inversion.w[:1], face.image,
            {name: full_inversion.w[i : i + 1] for i, name in enumerate(views) if name != "source"}, n_random=48)
        for name, preset in ((n, p) for n, p in guide.PRESETS.items() if n in names):
            config = guide.GuideConfig(**preset.settings)
            options = {**preset.options, "compare_baseline": False}  # GUIDE alone (the baseline: benchmarks/guide.py)
            result, seconds = _timed(guide.unlearn_identity, backend, photo, config, **options)
            judged = guide.evaluate(result.generator, reference)
            attack = result.report.get("attack")
            rows.append({"tab": "identity", "case": title.split(" (")[0], "preset": name, "seconds": seconds,
                         "settings": preset.settings, "options": {k: v for k, v in preset.options.items()},
                         "verdict": result.verdict, "id_distance": judged["id_source_before_vs_after"],
                         "id_others_forgotten": judged["id_others_forgotten_rate"],
                         "random_faces_kept": judged["preservation_same_person_rate"],
                         "random_faces_ssim": round(judged["preservation_ssim"], 3), **_attack(attack)})
            print(rows[-1], flush=True)
    return rows


def features(names: tuple[str, ...] = ("quick", "full")) -> list[dict]:
    backend = load_generator(DEFAULT_FACE_GENERATOR)
    pos, neg = LabelSet.load(LABELS).latents(backend)
    z = backend.sample_latents(JUDGED_FACES, seed=JUDGE_SEED)
    before = open_mouth_rate(backend.render(z))["open_mouth_rate"]
    rows = []
    for name, preset in ((n, p) for n, p in fu.PRESETS.items() if n in names):
        config = fu.FeatureUnlearningConfig(**preset.settings)
        result, seconds = _timed(fu.unlearn_from_labels, backend, pos, neg, config, feature="open mouths", **preset.options)
        shift = fu.latent_shift(z, result.details["direction"])
        rows.append({"tab": "features", "case": "open mouths (shipped labels)", "preset": name, "seconds": seconds,
                     "settings": preset.settings, "options": preset.options, "verdict": result.verdict,
                     "open_before": round(before, 4),
                     "open_after": round(open_mouth_rate(result.generator.render(z))["open_mouth_rate"], 4),
                     "open_latent_shift": round(open_mouth_rate(backend.render(shift))["open_mouth_rate"], 4),
                     "ssim_feature_free": round(result.report["heldout"]["unlearned"]["ssim_kept"], 3),
                     "probe": result.report.get("probe")})
        print(rows[-1], flush=True)
    return rows


def amnesia(names: tuple[str, ...] = ("quick", "full")) -> list[dict]:
    rows = []
    cases = [("digits-cvae", "0", "noise"), ("digits-cvae", "3", "8"), ("digits-ddpm", "0", "noise")]
    for model, forget, surrogate in cases:
        backend = load_generator(model)
        presets = sa.presets_for(model)
        runs = [("quick", "cold caches"), ("quick", ""), ("full", "")] if model == "digits-ddpm" else [("quick", ""), ("full", "")]
        for name, note in ((n, note) for n, note in runs if n in names):
            preset = presets[name]
            config = sa.AmnesiaConfig.for_model(model, preset, forget=forget, surrogate=surrogate)
            result, seconds = _timed(sa.forget, backend, config, **preset.options)
            judged = sa.evaluate(result.generator, forget, n_per_class=200)
            baseline = result.report.get("baseline", {}).get("after")
            rows.append({"tab": "amnesia", "case": f"{model}: {forget} -> {surrogate}", "preset": name, "note": note,
                         "seconds": seconds, "settings": {"steps": config.steps, "lr": config.lr}, "options": preset.options,
                         "verdict": result.verdict, "p_forgotten": round(judged["forgotten_probability"], 3),
                         "others_recognised": round(judged["remembered_accuracy"], 3),
                         "lowest_other": round(min(judged["per_class_accuracy"].values()), 3), "leakage": judged["leakage"],
                         **({"baseline_p_forgotten": round(baseline["forgotten_probability"], 3),
                             "baseline_others_recognised": round(baseline["remembered_accuracy"], 3),
                             "baseline_lowest_other": round(min(baseline["per_class_accuracy"].values()), 3),
                             "baseline_leakage": baseline["leakage"]} if baseline else {}),
                         **_attack(result.report.get("attack"))})
            print(rows[-1], flush=True)
    return rows


def _attack(report: dict | None) -> dict:
    """The recovery attack's figures in a row (none when it did not run)."""
    if not report:
        return {}
    return {"attack_recovered_original": report["recovered_original"], "attack_recovered_unlearned": report["recovered_unlearned"],
            "attack_seconds": report["seconds"], "attack_budget": report["budget"], "attack_judge": report["judge"]}


def attack_markdown(rows: list[dict]) -> str:
    """The recovery attacks of the full presets: recovered on the original, the unlearned and (Amnesia) the baseline."""
    lines = ["| tab, case | attack (budget) | judge | recovered: original | unlearned | time |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "attack_recovered_original" in r:
            budget = ", ".join(f"{k} {v}" for k, v in r["attack_budget"].items())
            lines.append(f"| {r['tab']}: {r['case']} | {budget} | {r['attack_judge']} | {r['attack_recovered_original']:.0%} | "
                         f"{r['attack_recovered_unlearned']:.0%} | {r['attack_seconds']} s of {r['seconds']} s |")
        if r["tab"] == "features" and r.get("probe") and "original" in r["probe"]:
            p = r["probe"]
            lines.append(f"| features: {r['case']} | PGD on z, radius {p['radius']}, {p['steps']} steps | a classifier on half the "
                         f"labels (balanced accuracy {p['judge_heldout_balanced_accuracy']:.0%}) | "
                         f"{p['original']['judge_rate_after_attack']:.0%} | {p['unlearned']['judge_rate_after_attack']:.0%} "
                         f"(latent shift {p['latent shift']['judge_rate_after_attack']:.0%}) | in {r['seconds']} s |")
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def markdown(rows: list[dict]) -> str:
    by_tab = {tab: [r for r in rows if r["tab"] == tab] for tab in ("identity", "features", "amnesia")}
    lines = []
    if by_tab["identity"]:
        lines += _table(["Identity (GUIDE), photo", "preset", "run time", "ID distance (> 0.6 = forgotten)", "other views forgotten",
                         "random faces kept (dlib)", "random faces SSIM"],
                        [[r["case"], r["preset"], f"{r['seconds']} s", r["id_distance"], f"{r['id_others_forgotten']:.0%}",
                          f"{r['random_faces_kept']:.0%}", r["random_faces_ssim"]] for r in by_tab["identity"]])
    if by_tab["features"]:
        lines += _table(["Features, open mouths", "preset", "run time", "open mouths, 400 new faces (dlib): before → after "
                         "(latent shift)", "feature-free faces unchanged (SSIM)"],
                        [["shipped labels", r["preset"], f"{r['seconds']} s", f"{r['open_before']:.1%} → {r['open_after']:.1%} "
                          f"({r['open_latent_shift']:.1%})", r["ssim_feature_free"]] for r in by_tab["features"]])
    amn = by_tab["amnesia"]
    if amn:
        lines += _table(["Amnesia, model: forget → surrogate", "preset", "run time", "judge's P(forgotten class) on it (chance 0.1)",
                         "other digits recognised (lowest)"],
                        [[r["case"], r["preset"] + (f" ({r['note']})" if r["note"] else ""), f"{r['seconds']} s", r["p_forgotten"],
                          f"{r['others_recognised']:.1%} ({r['lowest_other']:.0%})"] for r in amn])
        cells = []
        for r in (r for r in amn if "baseline_p_forgotten" in r):
            cells.append([f"{r['case']}: Selective Amnesia", r["p_forgotten"], f"{r['others_recognised']:.1%} ({r['lowest_other']:.0%})",
                          f"{r['leakage']:.1%}"])
            cells.append([f"{r['case']}: surrogate only (no EWC, no replay)", r["baseline_p_forgotten"],
                          f"{r['baseline_others_recognised']:.1%} ({r['baseline_lowest_other']:.0%})", f"{r['baseline_leakage']:.1%}"])
        if cells:
            lines += _table(["Amnesia, full preset", "judge's P(forgotten class)", "other digits recognised (lowest)",
                             "other digits drawn as the forgotten one (leakage)"], cells)
    return "\n".join(lines + [attack_markdown(rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["identity", "features", "amnesia"])
    parser.add_argument("--preset", choices=["quick", "full"], help="run only this preset (the other's rows are kept)")
    args = parser.parse_args()
    names = (args.preset,) if args.preset else ("quick", "full")
    path = OUT / "presets.json"
    kept = [r for r in (json.loads(path.read_text()) if path.exists() else [])
            if not (args.only in (None, r["tab"]) and r["preset"] in names)]
    rows = []
    for name, fn in (("amnesia", amnesia), ("features", features), ("identity", identity)):
        if args.only in (None, name):
            rows += fn(names)
    order = {"identity": 0, "features": 1, "amnesia": 2}
    rows = sorted(kept + rows, key=lambda r: (order[r["tab"]], r["case"], r["preset"] != "quick", r.get("note", "") == ""))
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")
    (OUT / "presets.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
