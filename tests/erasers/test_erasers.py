"""ESD and UCE on emoji-sd, judged as Selective Amnesia is: the erased prompt's judged rate drops, a neighbour
stays, only the parameters each method may touch change, and the result loads elsewhere."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from methods import esd, uce
from methods.backends import load_generator
from methods.erasers import ERASERS, compare_erasers
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
JUDGED = dict(eval_per_concept=8, others_limit=2)
# Selective Amnesia's quick sampler (6 steps): the original's judged rows are then the ones its runs read from the cache
SAMPLER = dict(sample_steps=6)


@pytest.fixture(scope="module")
def emoji():
    return load_generator("emoji-sd")


def _changed(before: dict, after: torch.nn.Module) -> set[str]:
    return {k for k, v in after.state_dict().items() if not torch.equal(v, before[k])}


def test_uce_erases_a_prompt_in_closed_form_and_keeps_its_neighbour(emoji, tmp_path):
    before = {k: v.clone() for k, v in emoji.module.state_dict().items()}
    config = uce.UCEConfig.for_model("emoji-sd", uce.PRESETS["quick"], forget=("a cat",), surrogate="a dog", **SAMPLER)
    assert "a cat" not in config.preserve and "a tiger" in config.preserve and len(config.preserve) == 34
    result = uce.erase(emoji, config, out_dir=tmp_path, **JUDGED)
    judged = result.report["judged"]
    assert judged["forgotten"]["cat"]["after"] <= judged["forgotten"]["cat"]["before"] - 0.4, judged["forgotten"]
    assert judged["neighbours"]["tiger"]["after"] >= judged["neighbours"]["tiger"]["before"] - 0.3, judged["neighbours"]
    changed = _changed(before, result.generator.module)
    assert changed and all(k.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) for k in changed)
    assert set(load_file(str(tmp_path / uce.EDIT_FILE))) == changed  # the small file holds exactly the edit
    assert all(torch.equal(v, before[k]) for k, v in emoji.module.state_dict().items())  # the shared model is untouched
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n") and 'base_model: "emoji-sd"' in card and "| cat (erased) |" in card


def test_esd_x_fine_tunes_only_cross_attention_and_erases(emoji):
    before = {k: v.clone() for k, v in emoji.module.state_dict().items()}
    config = esd.ESDConfig.for_model("emoji-sd", esd.PRESETS["quick"], forget=("a cat",), iterations=40, **SAMPLER)
    assert config.negative_guidance == 1.0 and config.train_method == "xattn"
    result = esd.erase(emoji, config, **JUDGED)
    cat = result.report["judged"]["forgotten"]["cat"]
    assert cat["after"] <= cat["before"] - 0.3, cat
    changed = _changed(before, result.generator.module)
    assert changed and all("attn2" in k for k in changed)
    assert result.report["trainable_parameters"] == sum(
        p.numel() for n, p in emoji.module.named_parameters() if n in set(esd.trainable_names(emoji.module, "xattn")))


def test_several_prompts_at_once_and_bad_prompts_in_plain_words(emoji):
    config = uce.UCEConfig.for_model("emoji-sd", forget=("a cat", "a rocket"), surrogate="a dog", **SAMPLER)
    assert "a rocket" not in config.preserve and "a cat" not in config.preserve
    result = uce.erase(emoji, config, eval_per_concept=4, others_limit=0)  # both erased outright: 4 seeds tell
    forgotten = result.report["judged"]["forgotten"]
    assert set(forgotten) == {"cat", "rocket"} and all(v["after"] < v["before"] for v in forgotten.values()), forgotten
    for bad, says in [(("a zebra",), "never learnt"), (("a cat dog",), "exactly one concept"), (("",), "empty")]:
        with pytest.raises(ValueError, match=says):
            uce.erase(emoji, uce.UCEConfig.for_model("emoji-sd", forget=bad, surrogate="a dog"), **JUDGED)
        with pytest.raises(ValueError, match=says):
            esd.erase(emoji, esd.ESDConfig.for_model("emoji-sd", forget=bad, iterations=1), **JUDGED)
    with pytest.raises(ValueError, match="one prompt per run"):
        ERASERS["selective_amnesia"].make_config("emoji-sd", ERASERS["selective_amnesia"].presets["quick"],
                                                 ("a cat", "a dog"), "a fish")


def test_compare_puts_the_methods_in_one_table(emoji, tmp_path):
    result = compare_erasers(emoji, ("a cat", "a rocket"), "a dog", methods=("selective_amnesia", "uce"), attack=True,
                             out_dir=tmp_path, eval_per_concept=4, others_limit=1, attack_seeds=2)
    assert result.columns == ["original", "UCE"] and "one prompt per run" in result.report["skipped"]["selective_amnesia"]
    names = [row.name for row in result.metrics]
    assert "'cat' recognised (erased; lower is better)" in names and any("neighbours kept" in n for n in names)
    assert "Erased most: UCE" in result.verdict and "Not run" in result.verdict
    attack = next(row for row in result.metrics if row.name.startswith("recovery attack"))
    assert attack.values[0] > attack.values[1], attack  # the original draws what it was asked; the erased model less so
    assert "under the attack" in result.verdict
    assert set(result.galleries) == {"before", "after"} and any(k.startswith("UCE: ") for k in result.galleries["after"])
    assert json.loads((tmp_path / "compare.json").read_text())["forget"] == ["a cat", "a rocket"]


def test_uce_cli_writes_a_pipeline_the_sample_cli_draws(tmp_path):
    out = tmp_path / "uce"
    done = subprocess.run([sys.executable, "-m", "methods.uce", "--model", "emoji-sd", "--forget", "a cat", "--surrogate",
                           "a dog", "--preset", "quick", "--judge-samples", "4", "--others", "0", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "'a cat'" in done.stdout and (out / "model_index.json").is_file() and (out / uce.EDIT_FILE).is_file()
    drawn = run_cli("methods.sample", "--generator", str(out), "--prompt", "a cat", "--n", "2", "--out",
                    str(tmp_path / "x.npz"))
    assert drawn.returncode == 0, drawn.stderr
    assert np.load(tmp_path / "x.npz")["images"].shape == (2, 32, 32, 3)


def test_the_command_lines_judge_settings_override_the_preset_within_bounds():
    from types import SimpleNamespace

    from methods.errors import InputError
    from methods.runtime.cli import eraser_options

    quick = uce.PRESETS["quick"]
    args = SimpleNamespace(attack=None, judge_samples=4, others=0)
    assert eraser_options(quick, args) == {**quick.options, "eval_per_concept": 4, "others_limit": 0}
    assert eraser_options(quick, SimpleNamespace(attack=True, judge_samples=None, others=None)) == {**quick.options, "attack": True}
    for bad in (dict(judge_samples=0, others=None), dict(judge_samples=None, others=-1)):
        with pytest.raises(InputError):
            eraser_options(quick, SimpleNamespace(attack=None, **bad))
