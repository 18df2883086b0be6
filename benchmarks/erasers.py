"""Selective Amnesia, ESD and UCE side by side on emoji-sd: writes benchmarks/results/erasers*.{json,md,png}.

    .venv/bin/python benchmarks/erasers.py --part dev      # ESD's learning rate and UCE's scales on the development pair
    .venv/bin/python benchmarks/erasers.py --part held-out # the three (full presets, attack on) on held-out pairs, Compare

Development: 'a frog' -> 'a fish' (ESD has no surrogate); held-out: 'a cat' -> 'a dog' (one concept) and 'a cat, a
rocket' (two at once, ESD and UCE). One judge (the emoji judge) and one attack (the seed search over every rewording)
for all; every run goes through the entry the tab calls (``methods.erasers.ERASERS``). Fresh caches per process.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("UNLEARNING_STUDIO_CACHE", tempfile.mkdtemp(prefix="erasers-bench-"))

import numpy as np

from methods import esd, uce
from methods.backends import load_generator
from methods.erasers import ERASERS, compare_erasers
from methods.runtime import use_all_cores
from methods.selective_amnesia.train import warm_cache

OUT = ROOT / "benchmarks" / "results"
DEV_PAIR = ("a frog", "a fish")
HELD_OUT = ("a cat", "a dog")
SEVERAL = ("a cat", "a rocket")


def run(method: str, forget: tuple[str, ...], surrogate: str, preset: str = "full", **overrides) -> dict:
    backend = load_generator("emoji-sd")
    eraser = ERASERS[method]
    chosen = eraser.presets[preset]
    config = eraser.make_config("emoji-sd", chosen, forget, surrogate, 0)
    for k, v in overrides.items():
        setattr(config, k, v)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = eraser.entry(backend, config, out_dir=Path(tmp), **chosen.options)
        files = sorted(str(f.relative_to(tmp)) for f in result.files)
    return {"label": eraser.label, "seconds": round(time.perf_counter() - started, 1), "verdict": result.verdict,
            "judged": result.report["judged"], "attack": result.report.get("attack"), "files": files,
            "method_s": result.report["wall_s"], "trainable_parameters": result.report["trainable_parameters"],
            "result": result}


def _summary(r: dict) -> dict:
    j = r["judged"]
    return {"forgotten_after": float(np.mean([v["after"] for v in j["forgotten"].values()])),
            "neighbours_after": float(np.mean([v["after"] for v in j["neighbours"].values()])),
            "neighbours_before": float(np.mean([v["before"] for v in j["neighbours"].values()])),
            "others_after": j["others_mean"]["after"], "others_before": j["others_mean"]["before"], "seconds": r["seconds"]}


def part_dev() -> dict:
    res = {"esd": [], "uce": []}
    for lr in (1e-4, 5e-4, 2e-3):
        r = run("esd", DEV_PAIR[:1], "", preset="quick", lr=lr)
        res["esd"].append({"lr": lr, **_summary(r)})
        print("esd", res["esd"][-1], flush=True)
    for erase_scale, preserve_scale in ((1.0, 0.1), (1.0, 1.0), (3.0, 0.1)):
        r = run("uce", DEV_PAIR[:1], DEV_PAIR[1], preset="quick", erase_scale=erase_scale, preserve_scale=preserve_scale)
        res["uce"].append({"erase_scale": erase_scale, "preserve_scale": preserve_scale, **_summary(r)})
        print("uce", res["uce"][-1], flush=True)
    fmt = lambda s: (f"{s['forgotten_after']:.0%} | {s['neighbours_after']:.0%} ({s['neighbours_before']:.0%}) | "  # noqa: E731
                     f"{s['others_after']:.0%} ({s['others_before']:.0%}) | {s['seconds']} s |")
    md = "\n".join(["# ESD and UCE on emoji-sd: settings on the development pair 'a frog' (-> 'a fish'), quick presets", "",
                    "| method | setting | frog recognised after | neighbours after (before) | others after (before) | time |",
                    "|---|---|---|---|---|---|"]
                   + [f"| ESD-x | lr {r['lr']:g} | " + fmt(r) for r in res["esd"]]
                   + [f"| UCE | erase {r['erase_scale']:g}, preserve {r['preserve_scale']:g} | " + fmt(r) for r in res["uce"]]) + "\n"
    return {"json": res, "md": md}


def part_held_out() -> dict:
    # the caches a Space's stand-by worker fills before the first visitor (Selective Amnesia's buffers and Fisher, the
    # original's judged rates at the default request): times below are a click's after it
    started = time.perf_counter()
    warm_cache(("emoji-sd",))
    warm_s = round(time.perf_counter() - started, 1)
    runs = {}
    for method in ERASERS:
        r = run(method, HELD_OUT[:1], HELD_OUT[1])
        r.pop("result")
        runs[method] = r
        print(method, r["seconds"], r["verdict"], flush=True)
    several = {}
    for method in ("esd", "uce"):
        r = run(method, SEVERAL, HELD_OUT[1])
        r.pop("result")
        several[method] = r
        print(method, SEVERAL, r["seconds"], r["verdict"], flush=True)
    backend = load_generator("emoji-sd")
    started = time.perf_counter()
    compared = compare_erasers(backend, HELD_OUT[:1], HELD_OUT[1], preset="quick", attack=True)
    compare_s = round(time.perf_counter() - started, 1)
    from ui.common import labelled_rows

    rows = {**compared.galleries["before"], **compared.galleries["after"]}
    labelled_rows(rows, tile=48, label_width=260).save(OUT / "erasers_compare.png")
    uce_times = []
    for k in range(3):
        started = time.perf_counter()
        uce.uce_edit(backend.with_conditions([]), uce.UCEConfig.for_model("emoji-sd", forget=HELD_OUT[:1], surrogate=HELD_OUT[1]),
                     list(HELD_OUT[:1]))
        uce_times.append(time.perf_counter() - started)
    res = {"pair": list(HELD_OUT), "warm_s": warm_s, "runs": runs, "several": {"forget": list(SEVERAL), "runs": several},
           "compare_quick": {"seconds": compare_s, "verdict": compared.verdict, "table": compared.table()},
           "uce_edit_s_median": round(float(np.median(uce_times)), 3),
           "esd_defaults": {k: v for k, v in vars(esd.ESDConfig.for_model("emoji-sd")).items() if k != "forget"}}

    def line(r: dict, several_concepts: bool = False) -> str:
        j, atk = r["judged"], r["attack"]
        forgotten = ", ".join(f"{c} {v['before']:.0%} → **{v['after']:.0%}**" for c, v in j["forgotten"].items())
        nb = [v["before"] for v in j["neighbours"].values()]
        na = [v["after"] for v in j["neighbours"].values()]
        atk_txt = f"{atk['recovered_unlearned']:.0%} ({atk['recovered_original']:.0%})" if atk else "—"
        return (f"| {r['label']} | {forgotten} | {len(j['neighbours_kept'])}/{len(j['neighbours'])} | {np.mean(nb):.0%} → "
                f"{np.mean(na):.0%} | {j['others_mean']['before']:.0%} → {j['others_mean']['after']:.0%} | {atk_txt} | "
                f"{r['trainable_parameters']:,} | {r['seconds']} s |")

    head = ["| method | erased concept: recognised before → after | neighbours kept (≥ 90% of before) | neighbours mean | "
            "others mean | attack: recovered (original) | parameters changed | time |", "|---|---|---|---|---|---|---|---|"]
    md = "\n".join([f"# Erasers side by side on emoji-sd: '{HELD_OUT[0]}' (surrogate '{HELD_OUT[1]}' for Selective Amnesia "
                    "and UCE), full presets, held-out seeds", "",
                    f"Times are a click's on 2 cores after the stand-by worker's cache warm-up ({warm_s} s, once per Space).", "",
                    *head, *(line(r) for r in runs.values()), "",
                    f"## Several at once: {', '.join(repr(p) for p in SEVERAL)}", "", *head,
                    *(line(r) for r in several.values()), "",
                    f"Selective Amnesia forgets one prompt per run here. Compare (quick presets, attack on, one after another "
                    f"in one process): **{compare_s} s**. UCE's closed-form edit alone: {res['uce_edit_s_median']} s "
                    "(median of 3). Picture: `erasers_compare.png`.", "", "Verdicts:", ""]
                   + [f"- {r['label']}: {r['verdict']}" for r in runs.values()]
                   + [f"- {r['label']} ({', '.join(SEVERAL)}): {r['verdict']}" for r in several.values()]
                   + [f"- Compare (quick): {compared.verdict}"]) + "\n"
    return {"json": res, "md": md}


PARTS = {"dev": part_dev, "held-out": part_held_out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=list(PARTS), required=True)
    args = p.parse_args()
    use_all_cores()
    out = PARTS[args.part]()
    OUT.mkdir(parents=True, exist_ok=True)
    name = "erasers" if args.part == "held-out" else "erasers_dev"
    (OUT / f"{name}.json").write_text(json.dumps(out["json"], indent=2, default=str) + "\n")
    (OUT / f"{name}.md").write_text(out["md"])
    print(out["md"])


if __name__ == "__main__":
    main()
