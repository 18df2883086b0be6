"""Selective Amnesia on Stable Diffusion, offline: a tiny pipeline built from configs with CLIP's real
tokenizer (from open_clip's vocabulary) runs the whole path — Fisher, forgetting, save, load, CLI, tab."""
import json
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from methods import selective_amnesia as sa
from methods.backends.stable_diffusion import EMOJI_SD_DIR
from ui.common import by_name
from methods.backends import BackendError, load_generator
from methods.backends.stable_diffusion import StableDiffusionBackend, offline_clip_tokenizer, tiny_pipeline
from methods.judges.clip import clip_judge
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
QUICK = dict(steps=15, lr=1e-3, fisher_samples=4, samples_per_concept=2, sample_steps=2,
             replay_prompts=("a photo of a dog", "a red car"))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-sd")
    StableDiffusionBackend.from_pipeline(tiny_pipeline(resolution=16), "tiny").save(directory)
    return directory


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_generator(tiny_dir)


def test_offline_tokenizer_gives_clip_ids():
    tok = offline_clip_tokenizer()
    assert len(tok) == 49408 and tok.model_max_length == 77
    assert tok("a photo of a dog").input_ids == [49406, 320, 1125, 539, 320, 1929, 49407]  # CLIP ViT-L/14's ids


def test_hub_model_offline_gives_a_readable_error():
    with pytest.raises(BackendError, match="not available here"):
        load_generator("CompVis/stable-diffusion-v1-4")


def test_forgetting_a_prompt_moves_it_to_the_surrogate_and_round_trips(tiny, tmp_path):
    unet_before = {k: v.clone() for k, v in tiny.module.state_dict().items()}
    config = sa.AmnesiaConfig.for_model(str(tiny.config["model"]), forget="Brad Pitt", **QUICK)
    assert config.lmbda == 50 and config.surrogate == "a middle-aged man" and config.batch_size == 4
    comparison = sa.forget_prompt_and_compare(tiny, config, out_dir=tmp_path)
    report = comparison.report
    # the objective's first term, on fixed noise: the forgotten prompt now fits the surrogate's images better
    assert report["surrogate_fit_after"] < report["surrogate_fit_before"]
    assert set(comparison.galleries["before"]) == {"Brad Pitt", "a middle-aged man", "a photo of a dog", "a red car"}
    assert report["step_s"] > 0 and report["peak_memory_mb"] > 0 and report["trainable_parameters"] > 500_000
    # the shared original is untouched
    assert all(torch.equal(v, unet_before[k]) for k, v in tiny.module.state_dict().items())
    # the saved folder is a diffusers pipeline that reproduces the fine-tuned model exactly
    reloaded = load_generator(tmp_path).with_conditions(["Brad Pitt"], sample_steps=2)
    assert (tmp_path / "model_index.json").is_file() and (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    z = tiny.sample_latents(2, 5)
    student = comparison.generator
    assert torch.allclose(reloaded.render(z, torch.zeros(2)), student.render(z, torch.zeros(2)), atol=1e-5)
    assert not torch.allclose(tiny.with_conditions(["Brad Pitt"], sample_steps=2).render(z, torch.zeros(2)),
                              student.render(z, torch.zeros(2)), atol=1e-4)
    assert json.loads((tmp_path / "unlearning_studio.json").read_text())["provenance"]["method"] == "selective_amnesia"


def test_xattn_fine_tunes_only_cross_attention(tiny):
    config = sa.AmnesiaConfig.for_model("stable-diffusion", forget="Brad Pitt", train_method="xattn", **{**QUICK, "steps": 3})
    result = sa.run(config, tiny)
    before = dict(tiny.module.named_parameters())
    changed = {k for k, p in result.generator.module.named_parameters() if not torch.equal(p, before[k])}
    assert changed and all("attn2" in k for k in changed)
    assert result.report["trainable_parameters"] < sum(p.numel() for p in tiny.module.parameters()) / 2


def test_fisher_covers_the_replay_prompts_and_trainable_weights(tiny):
    config = sa.AmnesiaConfig.for_model("stable-diffusion", forget="Brad Pitt", train_method="xattn", **QUICK)
    bound = config.bind(tiny)
    adapter = sa.adapter_for(bound, config)
    assert adapter.fisher_conditions == [1, 2, 3]  # surrogate + replay, never the forgotten prompt
    fisher = sa.fisher_diagonal(adapter, n_samples=3, seed=0, cache=False)
    assert set(fisher) == set(adapter.trainable_names(tiny.module)) and all(v.min() >= 0 for v in fisher.values())
    assert sum(float(v.sum()) for v in fisher.values()) > 0


@pytest.mark.parametrize("overrides, message", [
    ({"forget": "   "}, "forget prompt is empty"),
    ({"forget": "a very long prompt " * 30}, "too long"),
    ({"surrogate": "brad pitt"}, "must differ"),
    ({"replay_prompts": ()}, "replay prompt"),
    ({"train_method": "lora"}, "train_method"),
])
def test_bad_prompt_settings_are_refused(tiny, overrides, message):
    with pytest.raises(ValueError, match=message):  # bounds and choices when the config is made, prompts in run
        sa.run(sa.AmnesiaConfig.for_model("stable-diffusion", **{"forget": "Brad Pitt", **QUICK, **overrides}), tiny)


def test_cli_on_a_local_pipeline(tiny_dir, tmp_path):
    out = tmp_path / "forgot"
    cmd = [sys.executable, "-m", "methods.selective_amnesia", "--model", str(tiny_dir), "--forget", "Brad Pitt",
           "--surrogate", "a middle-aged man", "--steps", "5", "--fisher-samples", "2", "--samples-per-concept", "2",
           "--sample-steps", "2", "--replay-prompt", "a photo of a dog", "--train-method", "noxattn", "--out", str(out)]
    done = run_cli(*cmd[2:])
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["train_method"] == "noxattn" and report["steps"] == 5
    assert (out / "model_index.json").is_file()
    bad = run_cli(*(cmd[:-6] + ["--out", str(tmp_path / "x"), "--forget", ""])[2:])
    assert bad.returncode == 2 and "empty" in bad.stderr and "Traceback" not in bad.stderr


def test_tab_runs_a_local_pipeline_and_explains_what_it_cannot_load(tiny_dir, monkeypatch):
    from ui import amnesia as tab
    from ui import models

    monkeypatch.setenv(models.DIR_VARIABLE, str(tiny_dir.parent))  # the operator's models folder
    sd_label = next(k for k, v in tab.MODELS.items() if v == "stable-diffusion")
    quiet = dict(request=None, progress=lambda *a, **k: None)
    args = [sd_label, "0", "uniform noise", 50, 1, 5, 0, f"{tiny_dir.name} (local)", "Brad Pitt", "a middle-aged man",
            "a photo of a dog\n\na red car\n", "xattn"]
    out = by_name(tab.forget_concept, tab.forget_concept(*args, **quiet))
    assert out["verdict"].startswith("**No judge is available here to say whether 'Brad Pitt' is forgotten")
    assert out["status"].startswith("Done") and out["before"].size == out["after"].size
    rows = out["metrics"]
    assert len(rows.value["data"]) == 8 and rows.value["headers"][0].startswith("metric (no classifier")
    assert any(f.endswith("diffusion_pytorch_model.safetensors") for f in out["downloads"])
    skip = type(gr.skip())
    for change, message in [({7: "CompVis/stable-diffusion-v1-4"}, "not available here"), ({8: ""}, "empty"),
                            ({8: "word " * 120}, "too long"), ({10: ""}, "replay prompt")]:
        out = by_name(tab.forget_concept, tab.forget_concept(*[change.get(i, a) for i, a in enumerate(args)], **quiet))
        assert message in out["status"] and all(isinstance(v, skip) for k, v in out.items() if k != "status"), out["status"]
    monkeypatch.setattr(tab, "CPU_PARAMETER_LIMIT", 1000)
    out = by_name(tab.forget_concept, tab.forget_concept(*args, **quiet))
    assert "needs a GPU" in out["status"]


@pytest.mark.parametrize("choice", ["/root/.ssh", "/nonexistent", "../tiny", "owner/not-listed", "x" * 10_000, None])
def test_the_tab_loads_only_models_from_the_operators_list(tiny_dir, monkeypatch, choice):
    """A path or an unlisted id gets one message that says nothing about the server (no probing)."""
    from ui import amnesia as tab
    from ui import models

    monkeypatch.setenv(models.DIR_VARIABLE, str(tiny_dir.parent))
    sd_label = next(k for k, v in tab.MODELS.items() if v == "stable-diffusion")
    out = by_name(tab.forget_concept, tab.forget_concept(sd_label, "0", "uniform noise", 50, 1, 5, 0, choice, "Brad Pitt",
                                                         "a man", "a dog", "xattn", request=None, progress=lambda *a, **k: None))
    assert out["status"] == f"⚠️ {models.NOT_OFFERED}"
    # offline, the listed Hub model is not offered (it cannot load): the operator's folder is
    assert f"{tiny_dir.name} (local)" in models.offered_models() and "CompVis/stable-diffusion-v1-4" not in models.offered_models()


def test_offline_the_list_offers_what_loads_and_a_listed_hub_model_is_refused_at_once(monkeypatch):
    from ui import models

    monkeypatch.delenv(models.DIR_VARIABLE, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.offered_models() == {"emoji-sd (trained here)": str(EMOJI_SD_DIR)}  # nothing else can load here
    with pytest.raises(ValueError) as refused:
        models.resolve_model("CompVis/stable-diffusion-v1-4")
    assert str(refused.value) == models.UNREACHABLE and "path" not in str(refused.value)
    with pytest.raises(ValueError, match="not offered"):
        models.resolve_model("owner/not-listed")


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A CLIP with random weights at toy width, saved as a local folder with CLIP's real tokenizer: plumbing only."""
    from transformers import CLIPConfig, CLIPModel

    directory = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    config = CLIPConfig(text_config={"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                     "num_attention_heads": 4, "max_position_embeddings": 77},
                        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
                        projection_dim=16)
    CLIPModel(config).save_pretrained(directory)
    offline_clip_tokenizer().save_pretrained(directory)
    return directory


def test_clip_judge_is_a_two_way_zero_shot_softmax(tiny_clip_dir):
    judge = clip_judge(str(tiny_clip_dir))
    images = torch.rand(3, 3, 48, 48) * 2 - 1
    p = judge.probability(images, "Brad Pitt", "a middle-aged man")
    q = judge.probability(images, "a middle-aged man", "Brad Pitt")
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
    assert p + q == pytest.approx(1.0, abs=1e-5)


def test_seed_search_attack_is_judged_by_clip_and_saved(tiny, tiny_clip_dir, tmp_path):
    config = sa.AmnesiaConfig.for_model("stable-diffusion", forget="Brad Pitt", **{**QUICK, "steps": 3})
    result = sa.forget_prompt_and_compare(tiny, config, out_dir=tmp_path, attack=True, judge_model=str(tiny_clip_dir),
                                          paraphrases=["Brad Pitt, the actor", "Brad Pitt"], attack_seeds=3)
    attack = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert attack["extra"]["prompts"] == ["Brad Pitt", "Brad Pitt, the actor"]  # the duplicate paraphrase is dropped
    p_original = np.array(attack["extra"]["judge_probability_original"])
    p_unlearned = np.array(attack["extra"]["judge_probability_unlearned"])
    assert p_original.shape == p_unlearned.shape == (2, 3) and attack["n"] == 6
    assert attack["recovered_original"] == pytest.approx((p_original >= 0.5).mean())
    assert attack["recovered_unlearned"] == pytest.approx((p_unlearned >= 0.5).mean())
    assert np.load(tmp_path / "attack" / "latents.npy").shape == (3, int(np.prod(tiny.latent_shape)))
    assert set(result.galleries["recovery attack"]) == {"original", "after"}
    assert "seed-search" in result.verdict and "CLIP" in attack["judge"]


def test_without_clip_the_attack_says_its_judge_is_unavailable(tiny, tmp_path):
    config = sa.AmnesiaConfig.for_model("stable-diffusion", forget="Brad Pitt", **{**QUICK, "steps": 2})
    result = sa.forget_prompt_and_compare(tiny, config, attack=True, judge_model=str(tmp_path / "no-such-clip"))
    assert "cannot be loaded" in result.report["attack"]["unavailable"]
    assert "did not run" in result.verdict and "recovery attack" not in result.galleries


def test_tab_attack_uses_the_operators_clip_and_limits_rewordings(tiny_dir, tiny_clip_dir, monkeypatch):
    from ui import amnesia as tab
    from ui import models

    monkeypatch.setenv(models.DIR_VARIABLE, str(tiny_dir.parent))
    monkeypatch.setenv(models.JUDGE_VARIABLE, str(tiny_clip_dir))  # the operator's judge; visitors cannot choose one
    sd_label = next(k for k, v in tab.MODELS.items() if v == "stable-diffusion")
    quiet = dict(request=None, progress=lambda *a, **k: None)
    args = [sd_label, "0", "uniform noise", 50, 1, 5, 0, f"{tiny_dir.name} (local)", "Brad Pitt", "a middle-aged man",
            "a photo of a dog", "xattn", "full", True, False]
    refused = by_name(tab.forget_concept,
                      tab.forget_concept(*args, "\n".join(f"Brad Pitt #{i}" for i in range(tab.MAX_PARAPHRASES + 1)), **quiet))
    assert f"at most {tab.MAX_PARAPHRASES}" in refused["status"]
    out = by_name(tab.forget_concept, tab.forget_concept(*args, "Brad Pitt, the actor", **quiet))
    verdict, heading, gallery = out["verdict"], out["extra_title"], out["extra"]
    assert "seed-search" in verdict and "forgotten prompt" in heading and gallery.visible is True
