"""The README's results table, made from the benchmark scripts' own results files (so its figures cannot drift).

    .venv/bin/python benchmarks/summary.py          # rewrites the table between the README's markers
    .venv/bin/python benchmarks/summary.py --check  # exit 1 if the README's table is not what the results say

Every figure comes from ``benchmarks/results/*.json``; each row links to the page with the whole benchmark.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- results: written by benchmarks/summary.py -->", "<!-- /results -->"


def _load(name: str):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def rows() -> list[str]:
    out = ["| tab · method · model | what is judged, and by whom | before → after | kept | time (2 CPU cores) | details |",
           "|---|---|---|---|---|---|"]
    fu = _load("feature_unlearning")
    if fu:
        f = fu["fresh"]
        out.append(f"| Features · Feature Unlearning · DigiFace DCGAN | open mouths on {f['n']} new faces (dlib landmarks) | "
                   f"{f['original']['open_mouth_rate']:.1%} → **{f['unlearned']['open_mouth_rate']:.1%}** (latent shift "
                   f"{f['latent shift']['open_mouth_rate']:.1%}) | faces without it: SSIM {f['unlearned']['ssim_kept_vs_original']:.3f} | "
                   f"{fu['default_run']['wall_s']} s | [feature_unlearning](benchmarks/results/feature_unlearning.md) |")
    both = _load("features_gan_vae")
    for r in (both or {}).get("rows", []):
        if r["generator"] == "digiface-vae" and r["feature"] == "open mouth":
            out.append(f"| Features · Feature Unlearning · face VAE (distilled from the GAN) | open mouths on 1000 new faces "
                       f"(dlib landmarks, held-out protocol) | {r['rate']['original']:.1%} → **{r['rate']['unlearned']:.1%}** "
                       f"(latent shift {r['rate']['latent shift']:.1%}) | faces without it: SSIM {r['feature_free_ssim']:.3f} | "
                       f"{r['train_s']:.0f} s training | [features_gan_vae](benchmarks/results/features_gan_vae.md) |")
    guide = _load("guide")
    if guide:
        name, g = next(iter(guide.items()))
        out.append(f"| Identity · GUIDE · DigiFace DCGAN | {name.split(' (')[0]}: same person? (dlib distance, > 0.6 = no) | "
                   f"distance **{g['guide']['id_source_before_vs_after']:.2f}**; other views forgotten "
                   f"{g['guide']['id_others_forgotten_rate']:.0%} | random faces the same person "
                   f"{g['guide']['preservation_same_person_rate']:.0%}, SSIM {g['guide']['preservation_ssim']:.2f} | "
                   f"{g['default_run_s']} s | [guide](benchmarks/results/guide.md) |")
    robust = _load("guide_robust")
    for variant, label in (("GUIDE, nobody target", "GUIDE"), ("GUIDE robust (2 rounds), nobody target", "GUIDE robust")):
        runs = [r for r in (robust or {}).get("rows", []) if r["variant"] == variant]
        if not runs:
            continue
        mean = lambda key: sum(r[key] for r in runs) / len(runs)  # noqa: E731
        out.append(f"| Identity · {label} · DigiFace DCGAN | the photo and its views found again by a held-out re-inversion "
                   f"attack ({len(runs)} photos; dlib distance < 0.6) | recovered **{mean('attack_recovered_unlearned'):.0%}** "
                   f"(original {mean('attack_recovered_original'):.0%}) | random faces the same person "
                   f"{mean('random_kept'):.0%}, SSIM {mean('random_ssim'):.2f} | {mean('seconds'):.0f} s, attacks included | "
                   f"[guide_robust](benchmarks/results/guide_robust.md) |")
    sa = _load("selective_amnesia")
    if sa:
        for model in ("digits-cvae", "digits-ddpm"):
            m = sa[model]
            out.append(f"| Amnesia · Selective Amnesia · {model} | P(0) on samples of 0 (digits classifier; chance 0.1) | "
                       f"{m['before']['forgotten_probability']:.2f} → **{m['after']['forgotten_probability']:.2f}** | "
                       f"digits 1–9 recognised {m['after']['remembered_accuracy']:.1%} (before {m['before']['remembered_accuracy']:.1%}) | "
                       f"{m['wall_s']} s | [selective_amnesia](benchmarks/results/selective_amnesia.md) |")
    emoji = _load("emoji_sd_amnesia")
    if emoji:
        cat = [r for r in emoji["runs"] if r["pair"][0] == "a cat"]
        with_baseline = next((r for r in cat if r["preset"] == "full + baseline"), None)
        for r in cat:
            if r["preset"] not in ("quick", "full"):
                continue
            j = r["judged"]
            f = next(iter(j["forgotten"].values()))
            atk = r.get("attack")
            base = with_baseline["baseline"]["judged"] if with_baseline and r["preset"] == "full" else None
            out.append(f"| Amnesia · Selective Amnesia ({r['preset']}) · emoji-sd | '{r['pair'][0]}' → '{r['pair'][1]}': "
                       f"recognised (emoji judge){'; recovery attack' if atk else ''} | {f['before']:.0%} → **{f['after']:.0%}**"
                       + (f"; attack {atk['recovered_unlearned']:.0%} (original {atk['recovered_original']:.0%})" if atk else "")
                       + f" | {_neighbours(j)}; others {j['others_mean']['before']:.0%} → {j['others_mean']['after']:.0%}"
                       + (f" (surrogate only: {_neighbours(base)}; others {base['others_mean']['after']:.0%})" if base else "")
                       + f" | {r['seconds']} s | [emoji_sd_amnesia](benchmarks/results/emoji_sd_amnesia.md) |")
    erasers = _load("erasers")
    if erasers:
        for name, r in erasers["runs"].items():
            if name == "selective_amnesia":  # its row above, from its own benchmark (the same full preset)
                continue
            j = r["judged"]
            f = next(iter(j["forgotten"].values()))
            atk = r.get("attack")
            out.append(f"| Amnesia · {r['label']} · emoji-sd | '{erasers['pair'][0]}' recognised (emoji judge); attack | "
                       f"{f['before']:.0%} → **{f['after']:.0%}**" + (f"; attack {atk['recovered_unlearned']:.0%}" if atk else "")
                       + f" | {_neighbours(j)}; others "
                       f"{j['others_mean']['before']:.0%} → {j['others_mean']['after']:.0%} | {r['seconds']} s | "
                       "[erasers](benchmarks/results/erasers.md) |")
    if erasers and "compare_quick" in erasers:
        out.append(f"| Amnesia · Compare the three (quick, attack on) · emoji-sd | the three on '{erasers['pair'][0]}', one "
                   f"after another, one judge and attack | see the table | — | {erasers['compare_quick']['seconds']} s | "
                   "[erasers](benchmarks/results/erasers.md) |")
    d = _load("directions")
    if d:
        v = d["voynov"]
        out.append(f"| Directions · Voynov & Babenko · DigiFace DCGAN | reconstructor accuracy (RCA; random directions "
                   f"{v['rca_random_baseline']:.3f}) | — → **{v['rca']:.3f}** | — | {v['train_s']} s training | "
                   "[directions](benchmarks/results/directions.md) |")
    return out


def _neighbours(j: dict) -> str:
    """'neighbours kept 5/8 (tiger 50%, pig 75%)': the same-group concepts below 90% of their rate before, named."""
    hurt = [f"{c} {v['after']:.0%}" for c, v in j["neighbours"].items() if c not in j["neighbours_kept"]]
    return f"neighbours kept {len(j['neighbours_kept'])}/{len(j['neighbours'])}" + (f" ({', '.join(hurt)})" if hurt else "")


def table() -> str:
    return "\n".join([START, *rows(), END])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    text = README.read_text()
    i, j = text.index(START), text.index(END) + len(END)
    if args.check:
        same = text[i:j] == table()
        print("README results table is up to date" if same else "README results table differs from benchmarks/results")
        return 0 if same else 1
    README.write_text(text[:i] + table() + text[j:])
    (RESULTS / "summary.md").write_text(table() + "\n")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
