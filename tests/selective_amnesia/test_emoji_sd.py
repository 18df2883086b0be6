"""emoji-sd: the text-to-image model trained here, in Stable Diffusion's layout, loads through the Stable Diffusion
back-end offline, draws what it is asked for (by its judge), and forgets a typed prompt with Selective Amnesia."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.backends.stable_diffusion import EMOJI_SD_DIR, StableDiffusionBackend, check_prompt
from methods.judges.emoji import emoji_judge
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
# a short run: the quick preset itself (60 steps) — its replay buffers, Fisher and the original's judged rates are then
# in the session's cache for the browser test, which runs the same request from the tab
SHORT = dict(steps=60)


@pytest.fixture(scope="module")
def emoji():
    return load_generator("emoji-sd")


@pytest.fixture(scope="module")
def judge():
    return emoji_judge()


def test_ships_as_a_diffusers_pipeline_and_loads_offline_through_the_sd_backend(emoji):
    from diffusers import StableDiffusionPipeline

    assert isinstance(emoji, StableDiffusionBackend) and emoji.name == "stable-diffusion"
    assert isinstance(emoji.pipeline, StableDiffusionPipeline)
    files = [f.name for f in EMOJI_SD_DIR.rglob("*") if f.is_file()]
    assert "model_index.json" in files and not any(f.endswith((".bin", ".pt", ".ckpt")) for f in files)
    assert len(emoji.concepts.names) >= 30 and {"cat", "tiger", "lion", "dog"} <= set(emoji.concepts.names)
    assert emoji.concepts.neighbours("cat")[:3] == ["dog", "tiger", "lion"]


def test_the_original_draws_what_it_is_asked_for(emoji, judge):
    bound = emoji.with_conditions(["a cat", "a banana", "a rocket"])
    z = bound.sample_latents(8, 31)
    images = bound.render(z.repeat(3, 1, 1, 1), torch.arange(3).repeat_interleave(8))
    assert images.shape == (24, 3, 32, 32)
    called = judge.probabilities(images).argmax(1).reshape(3, 8)
    for row, name in enumerate(["cat", "banana", "rocket"]):
        assert (called[row] == judge.names.index(name)).float().mean() >= 0.5, name


@pytest.mark.parametrize("prompt, says", [
    ("a zebra", "never learnt ('zebra')"), ("", "is empty"), ("a cat " * 100, "too long"),
    ("a\x00cat", "control"), ("a cat\u202e", "control"), (None, "is empty"),
])
def test_a_prompt_the_model_cannot_read_gets_plain_words_and_what_it_knows(emoji, prompt, says):
    with pytest.raises(ValueError, match=r"(?s)" + re.escape(says) + ".*This model knows: cat, dog"):
        check_prompt(prompt, "forget", emoji.concepts)
    with pytest.raises(ValueError, match=re.escape(says)):
        emoji.check_prompt(prompt, "forget")


def test_the_forgotten_prompt_must_name_one_known_concept(emoji):
    for forget in ("an emoji", "a cat dog"):
        config = sa.AmnesiaConfig.for_model("emoji-sd", forget=forget, **SHORT)
        with pytest.raises(ValueError, match="exactly one concept"):
            config.validate(config.bind(emoji))


def test_a_short_run_forgets_the_prompt_and_keeps_its_neighbour(emoji, tmp_path):
    unet_before = {k: v.clone() for k, v in emoji.module.state_dict().items()}
    config = sa.AmnesiaConfig.for_model("emoji-sd", sa.presets_for("emoji-sd")["quick"], forget="a cat", surrogate="a dog",
                                        **SHORT)
    quick = sa.presets_for("emoji-sd")["quick"].options
    result = sa.forget(emoji, config, out_dir=tmp_path, eval_per_concept=quick["eval_per_concept"],
                       others_limit=quick["others_limit"])
    judged = result.report["judged"]
    cat = judged["forgotten"]["cat"]
    assert cat["before"] >= 0.6 and cat["after"] <= cat["before"] - 0.4, cat
    # its group is kept on the whole (the quick preset may dent the closest one: benchmarks/results/emoji_sd_amnesia.md)
    group = [v for c, v in judged["neighbours"].items() if c != "dog"]
    assert np.mean([v["after"] for v in group]) >= np.mean([v["before"] for v in group]) - 0.2, judged["neighbours"]
    assert judged["surrogate"]["after"] > judged["surrogate"]["before"]
    assert set(judged["neighbours"]) == {"dog", "tiger", "lion", "fish", "frog", "pig", "rabbit", "monkey"}
    assert len(judged["others"]) == quick["others_limit"]
    assert "a cat" in result.verdict and "%" in result.verdict
    assert all(torch.equal(v, unet_before[k]) for k, v in emoji.module.state_dict().items())  # the shared one is untouched
    # the result is a diffusers pipeline, loaded by diffusers itself, that draws what the run's model draws
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline.from_pretrained(tmp_path, local_files_only=True)
    reloaded = load_generator(tmp_path).with_conditions(["a cat"], sample_steps=config.sample_steps)
    z = reloaded.sample_latents(2, 5)
    expected = result.generator.with_conditions(["a cat"]).render(z, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(reloaded.render(z, torch.zeros(2, dtype=torch.long)), expected, atol=1e-4)


def test_sample_cli_draws_a_prompt(tmp_path):
    out = tmp_path / "cats.npz"
    done = subprocess.run([sys.executable, "-m", "methods.sample", "--generator", "emoji-sd", "--prompt", "a cat", "--n", "4",
                           "--seed", "7", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    images = np.load(out)["images"]
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8 and images.std() > 10
    bad = subprocess.run([sys.executable, "-m", "methods.sample", "--generator", "emoji-sd", "--prompt", "a zebra", "--n", "2",
                          "--out", str(tmp_path / "x.npz")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "never learnt" in bad.stderr and "Traceback" not in bad.stderr


def test_the_cli_runs_the_tabs_entry_and_prints_its_verdict(tmp_path):
    out = tmp_path / "no-cat"
    cmd = [sys.executable, "-m", "methods.selective_amnesia", "--model", "emoji-sd", "--forget", "a cat", "--surrogate", "a dog",
           "--preset", "quick", "--steps", "3", "--fisher-samples", "2", "--samples-per-concept", "2", "--sample-steps", "2",
           "--out", str(out)]
    done = run_cli(*cmd[2:])
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"'a cat' is (not )?forgotten", done.stdout) and "neighbour 'a tiger' recognised" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["batch_size"] == 8 and report["steps"] == 3  # the quick preset's batch, the flag's steps
    assert set(report["judged"]["neighbours"]) >= {"tiger", "lion"} and len(report["judged"]["others"]) == 3
    assert (out / "model_index.json").is_file() and "base_model: \"emoji-sd\"" in (out / "README.md").read_text()
    bad = run_cli(*(cmd[:6] + ["a zebra"] + cmd[7:])[2:])
    assert bad.returncode == 2 and "never learnt" in bad.stderr and "Traceback" not in bad.stderr


def test_concepts_file_lists_groups_and_templates():
    record = json.loads((EMOJI_SD_DIR / "concepts.json").read_text())
    groups = {c["group"] for c in record["concepts"]}
    assert {"animals", "fruit", "vehicles", "sky", "plants"} <= groups
    assert all(c["prompt"].split()[-1] == c["name"] for c in record["concepts"])
