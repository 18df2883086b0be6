"""Directions tab handlers: sliders, strip, hand-off to Features, and bad input."""
import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from methods.directions import save_directions
from ui import directions as tab
from ui import features
from ui.common import by_name

SEFA = list(tab.METHOD_LABELS)[0]


def refused(handler, outputs, status):
    """A refused action keeps every other output as it was and puts the message in the status."""
    shown = by_name(handler, outputs)
    assert all(isinstance(v, type(gr.skip())) for k, v in shown.items() if k != status)
    return shown[status]


@pytest.fixture(scope="module")
def state():
    return by_name(tab.load_method, tab.load_method(SEFA, "digiface-dcgan", None, 5, 4, 0))["state"]


def test_load_shows_n_sliders_with_range(state):
    out = by_name(tab.load_method, tab.load_method(SEFA, "digiface-dcgan", None, 5, 4, 0))
    sliders = [out[name] for name in tab.SLIDERS]
    assert len(sliders) == tab.MAX_SLIDERS
    assert [s.visible for s in sliders[:6]] == [True] * 5 + [False]
    assert sliders[0].minimum == -4 and sliders[0].maximum == 4 and sliders[0].value == 0
    assert state["directions"].shape[1] == 100


def test_slider_output_changes_with_the_slider_and_is_identical_at_zero(state):
    zero = np.asarray(tab.render_face(state, 7, *([0.0] * tab.MAX_SLIDERS)))
    again = np.asarray(tab.render_face(state, 7, *([0.0] * tab.MAX_SLIDERS)))
    moved = np.asarray(tab.render_face(state, 7, 3.0, *([0.0] * (tab.MAX_SLIDERS - 1))))
    assert np.array_equal(zero, again)
    assert np.abs(moved.astype(int) - zero).mean() > 3
    other = np.asarray(tab.render_face(state, 8, *([0.0] * tab.MAX_SLIDERS)))
    assert not np.array_equal(zero, other)


def test_bad_inputs(state, tmp_path):
    with pytest.raises(gr.Error, match="Seed"):
        tab.render_face(state, -1, *([0.0] * tab.MAX_SLIDERS))
    with pytest.raises(gr.Error, match="Slider value"):
        tab.render_face(state, 1, 1e9, *([0.0] * (tab.MAX_SLIDERS - 1)))
    with pytest.raises(gr.Error, match="no directions are loaded"):
        tab.render_face(None, 1, *([0.0] * tab.MAX_SLIDERS))
    with pytest.raises(gr.Error, match="Direction #"):
        tab.show_strip(state, 999, 4)
    assert "Slider range" in refused(tab.load_method, tab.load_method(SEFA, "digiface-dcgan", None, 5, 1e6, 0), "info")
    assert "unknown generator" in refused(tab.load_method, tab.load_method(SEFA, "/root", None, 5, 4, 0), "info")  # never a server folder
    save_directions(tmp_path / "wrong", torch.randn(4, 64), {})
    assert "shape (K, 100)" in refused(tab.load_method, tab.load_method(SEFA, "digiface-dcgan", str(tmp_path / "wrong" / "directions.safetensors"), 5, 4, 0), "info")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert "not a directions file" in refused(tab.load_method, tab.load_method(SEFA, "digiface-dcgan", str(tmp_path / "junk.safetensors"), 5, 4, 0), "info")


def test_strip_and_use_as_feature_then_unlearn_it(state):
    out = by_name(tab.show_strip, tab.show_strip(state, 2, 5))
    strip, caption = out["strip"], out["strip_caption"]
    assert strip.size[1] == 30 + 6 * (88 + 4)  # the ε labels, then six faces
    assert caption.startswith("Direction #2") and "from −5 (left) to +5 (right)" in caption
    sent, banner, checkbox, tabs, counts = (by_name(tab.use_as_feature, tab.use_as_feature(state, 2, "− side"))[k] for k in
                                            ("direction_state", "banner", "use_direction", "tabs", "counts"))
    assert counts.startswith("No labels needed")
    assert np.allclose(sent["vector"], -state["directions"][1]) and "direction #2" in banner
    assert checkbox.value is True and tabs.selected == "features"
    out = by_name(features.unlearn, features.unlearn({"seed": 0, "marked": [False] * 64}, None, 5, 8, 1e-4, 1.0, "mean", 0,
                                                     False, None, sent, True, request=None, progress=lambda *a, **k: None))
    assert "Done: 5 steps" in out["status"] and "direction #2" in out["status"]
    assert out["verdict"].startswith("**The feature: ") and "a training fit" in out["verdict"]  # no probe: no judge


def test_the_vae_has_sefa_directions_to_send_and_says_why_not_voynov():
    vae = by_name(tab.load_method, tab.load_method(SEFA, "digiface-vae", None, 5, 4, 0))
    assert vae["state"]["generator"] == "digiface-vae" and vae["state"]["directions"].shape[1] == 100
    assert "digiface-vae" in vae["info"]
    voynov = list(tab.METHOD_LABELS)[1]
    message = refused(tab.load_method, tab.load_method(voynov, "digiface-vae", None, 5, 4, 0), "info")
    assert "no trained Voynov directions are shipped for 'digiface-vae'" in message and "--generator digiface-vae" in message
    # a direction found on the VAE is unlearnt on the VAE, whatever the Features tab was labelling
    sent = by_name(tab.use_as_feature, tab.use_as_feature(vae["state"], 1, "+ side"))["direction_state"]
    out = by_name(features.unlearn, features.unlearn({"seed": 0, "marked": [False] * 64}, None, 5, 8, 1e-4, 1.0, "mean", 0,
                                                     False, None, sent, True, request=None, progress=lambda *a, **k: None))
    assert "Done: 5 steps" in out["status"]
    assert json.loads(next(Path(f) for f in out["downloads"] if f.endswith("config.json")).read_text())["backend"] == "digiface-vae"
