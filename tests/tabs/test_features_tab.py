"""Features tab handlers, called as Gradio calls them: good paths and every bad input."""
import json

import gradio as gr
import pytest
from PIL import Image

from ui import features as tab
from ui.common import by_name


def no_progress(*args, **kwargs):
    return None


def page(seed, marked_idx=()):
    return {"seed": seed, "marked": [i in marked_idx for i in range(tab.PAGE_SIZE)]}


SETTINGS = dict(steps=5, batch=8, lr=1e-4, alpha=1.0, thr="mean", run_seed=0, probe=False, base_file=None, feature_name="")


def named(handler, *args, **kwargs):
    """A handler's answer by output name."""
    return by_name(handler, handler(*args, **kwargs))


def unlearn(grid, state, **over):
    s = {**SETTINGS, **over}
    return named(tab.unlearn, grid, state, s["steps"], s["batch"], s["lr"], s["alpha"], s["thr"], s["run_seed"], s["probe"],
                 s["base_file"], feature_name=s["feature_name"], request=None, progress=no_progress)


def test_labelling_flow_counts_and_pages():
    out = named(tab.record_marks, page(0, {1, 2, 3}), None)
    state = out["labels"]
    assert state.counts() == (3, 61) and "**3** with the feature" in out["counts"]
    out = named(tab.next_page, page(0, {1, 2, 3, 4}), state)
    state, grid = out["labels"], out["grid"]
    assert out["seed"] == 1 and state.pages[0] == {1, 2, 3, 4}
    assert len(grid.props["tiles"]) == 64 and grid.props["tiles"][0].startswith("data:image/png;base64,")
    out = named(tab.show_page, 0, page(1, {7}), state)  # going back shows the earlier marks
    assert out["grid"].value["marked"][4] and sum(out["grid"].value["marked"]) == 4 and out["labels"].pages[1] == {7}


def test_save_and_load_labels(tmp_path):
    state = named(tab.record_marks, page(5, {0, 9}), None)["labels"]
    path = tab.save_labels(page(6, {3}), state)
    data = json.loads(open(path).read())
    assert data["pages"] == {"5": [0, 9], "6": [3]}
    out = named(tab.load_labels, path)
    assert out["labels"].counts() == (3, 125) and out["seed"] == 5


def refused(shown, status):
    """A refused action keeps every other output as it was and puts the message in the status."""
    assert all(isinstance(v, type(gr.skip())) for k, v in shown.items() if k != status)
    return shown[status]


def test_bad_labels_files(tmp_path):
    img = tmp_path / "photo.json"
    Image.new("RGB", (8, 8)).save(img, format="PNG")
    assert "not a labels file" in refused(named(tab.load_labels, str(img)), "counts")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "unlearning-studio-labels", "version": 1, "generator": "sd", "page_size": 64, "pages": {"1": []}}))
    assert "labels are for 'sd'" in refused(named(tab.load_labels, str(other)), "counts")
    assert "choose a labels.json" in refused(named(tab.load_labels, None), "counts")


def test_unlearn_refuses_bad_labels():
    assert "No faces are marked" in refused(unlearn(page(0), None), "status")
    assert "Every labelled face is marked" in refused(unlearn(page(0, set(range(64))), None), "status")
    assert "too few labels" in refused(unlearn(page(0, {1, 2}), None), "status")


@pytest.mark.parametrize("over, message", [
    (dict(steps=0), "Steps"), (dict(steps=10**9), "Steps"), (dict(steps=float("nan")), "Steps"),
    (dict(batch=1), "Batch size"), (dict(lr=3.0), "Learning rate"), (dict(lr="abc"), "Learning rate"),
    (dict(alpha=-2), "α"), (dict(run_seed=-1), "Run seed"), (dict(thr="median"), "Threshold"),
])
def test_unlearn_refuses_out_of_range_settings(over, message):
    assert message in refused(unlearn(page(0, {1, 2, 3, 4, 5}), None, **over), "status")


def test_unlearn_refuses_a_wrong_checkpoint(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert "not a safetensors file" in refused(unlearn(page(0, {1, 2, 3, 4, 5}), None, base_file=str(bad)), "status")


def test_seed_out_of_range():
    assert "Page seed" in refused(named(tab.show_page, -4, page(0), None), "counts")
    assert "Page seed" in refused(named(tab.show_page, "1e99", page(0), None), "counts")


@pytest.mark.parametrize("seed", [-5, 2**63, 1e30, "abc", None])
def test_page_seeds_from_the_browser_are_checked(seed):
    out = named(tab.record_marks, {"seed": seed, "marked": [True] + [False] * 63}, None)
    assert "Page seed" in refused(out, "counts")
    assert "Page seed" in refused(unlearn({"seed": seed, "marked": [True] * 5 + [False] * 59}, None), "status")


def test_a_refused_run_leaves_no_folder():
    from ui.common import RUNS_ROOT

    listing = lambda: set(RUNS_ROOT.iterdir()) if RUNS_ROOT.exists() else set()  # noqa: E731
    before = listing()
    assert "too few labels" in refused(unlearn(page(0, {1, 2}), None), "status")
    assert listing() == before


def test_unlearn_runs_and_returns_everything():
    out = unlearn(page(0, {1, 6, 13, 19, 25, 33}), None, feature_name="open **mouths**<script>")
    with_img, without_img, table, files, status, verdict = (out[k] for k in tab.RESULT_OUTPUTS)
    assert with_img.size[1] == 3 * (112 + 4) and without_img.size == with_img.size  # three labelled rows
    rows = table.value["data"]
    assert table.value["headers"] == ["metric", "original generator", "unlearned generator", "latent shift (no training)"]
    assert rows[0][0].startswith("held-out latents with the feature") and len(rows) >= 5 and len(rows[0]) == 4
    assert float(rows[1][2]) > 0.9  # faces without the feature kept (SSIM)
    assert [f.split("/")[-1] for f in files] == ["generator.safetensors", "config.json", "direction.safetensors",
                                                 "losses.json", "report.json"]
    assert "Done: 5 steps" in status
    # the verdict names the feature as plain text; with the probe off there is no independent judge, and it says so
    assert verdict.startswith("**Open mouthsscript: "), verdict
    assert "a training fit, not an independent judgement (turn the probe on" in verdict, verdict
    assert "unchanged (similarity 0.9" in verdict or "unchanged (similarity 1.00" in verdict, verdict


def test_cancel_is_per_session():
    from ui.common import CancelFlags

    flags = CancelFlags()
    alice, bob = flags.start("alice"), flags.start("bob")
    flags.cancel("alice")
    assert alice() and not bob()
    assert not flags.start("alice")()  # a new run of alice starts un-cancelled


def test_choosing_the_vae_starts_a_labelling_on_its_faces():
    gan = named(tab.show_page, 0, page(0), None)
    out = named(tab.choose_generator, "face VAE (distilled from the GAN)")
    labels = out["labels"]
    assert labels.generator == "digiface-vae" and labels.counts() == (0, 0)
    assert out["generator_choice"] == "face VAE (distilled from the GAN)"
    assert out["grid"].props["tiles"] != gan["grid"].props["tiles"]  # the VAE's faces, not the GAN's
    marked = named(tab.record_marks, page(0, {1, 2}), labels)["labels"]
    assert marked.generator == "digiface-vae" and marked.counts() == (2, 62)
    assert "choose one of" in refused(named(tab.choose_generator, "/etc/passwd"), "counts")
