"""Short real fine-tunes on the pretrained DCGAN with a real feature (open mouth, labelled by dlib)."""
import numpy as np
import pytest

from methods import feature_unlearning as fu
from methods.image_metrics import ssim_per_image
from methods.runtime import Cancelled


@pytest.fixture(scope="module")
def short_run(dcgan, mouth_labels):
    pos, neg = mouth_labels
    assert len(pos) >= 15 and len(neg) >= 200  # dlib finds open mouths in roughly 8% of faces
    calls = []
    result = fu.run(fu.FeatureUnlearningConfig(steps=60, batch_size=32, eval_samples=0), dcgan, pos, neg,
                    progress=lambda f, m: calls.append(f))
    return result, calls


def test_positive_latents_move_to_their_targets_and_negatives_stay(dcgan, short_run):
    result, _ = short_run
    d, g = result.direction, result.generator
    z = dcgan.sample_latents(256, seed=31337)  # latents the run never sampled
    has = d.has_feature(z)
    f_z, g_z, target = dcgan.render(z), g.render(z), dcgan.render(d.move_to_threshold(z))
    before = (f_z - target)[has].abs().mean().item()
    after = (g_z - target)[has].abs().mean().item()
    assert after < 0.75 * before, (before, after)  # outputs with the feature moved toward f(z')
    kept = ssim_per_image(g_z[~has], f_z[~has]).mean().item()
    assert kept > 0.97, kept  # outputs without it stay the same
    moved = (g_z - f_z)[has].abs().mean().item()
    still = (g_z - f_z)[~has].abs().mean().item()
    assert moved > 1.5 * still, (moved, still)  # it is the feature side that changed


def test_progress_reported_and_losses_fall(short_run):
    result, calls = short_run
    assert calls == sorted(calls) and calls[-1] == pytest.approx(1.0)
    first = np.mean([l["unlearn"] + l["percep"] for l in result.losses[:10]])
    last = np.mean([l["unlearn"] + l["percep"] for l in result.losses[-10:]])
    assert last < 0.8 * first


def test_cancel_stops_the_run(dcgan, mouth_labels):
    pos, neg = mouth_labels
    n = {"calls": 0}

    def cancel():
        n["calls"] += 1
        return n["calls"] > 3

    with pytest.raises(Cancelled):
        fu.run(fu.FeatureUnlearningConfig(steps=500), dcgan, pos, neg, cancel=cancel)
    assert n["calls"] == 4


def test_comparison_has_rows_metrics_and_probe(dcgan, mouth_labels, tmp_path):
    pos, neg = mouth_labels
    comp = fu.unlearn_from_labels(dcgan, pos, neg, fu.FeatureUnlearningConfig(steps=5, eval_samples=64), probe=True,
                                  out_dir=tmp_path)
    rows_with, rows_without = comp.galleries["with the feature"], comp.galleries["without the feature"]
    assert set(rows_with) == {"original", "unlearned", "latent shift"}
    assert rows_with["original"].shape == (8, 64, 64, 3)
    # the latent-shift row differs from the original where the projection says "feature"
    assert np.abs(rows_with["latent shift"].astype(int) - rows_with["original"]).mean() > 2
    assert np.array_equal(rows_without["latent shift"], rows_without["original"])
    probe = comp.report["probe"]
    # with these few labels the probe's judge is no better than chance: its rates are no result, and the verdict
    # must call what it shows a training fit rather than quote them
    assert probe["judge_heldout_balanced_accuracy"] < 0.7
    assert "a training fit, not an independent judgement" in comp.verdict and "chance" in comp.verdict
    assert (tmp_path / "generator.safetensors").is_file() and (tmp_path / "report.json").is_file()
    assert [p.name for p in comp.files] == ["generator.safetensors", "config.json", "direction.safetensors", "losses.json", "report.json"]
    assert all(len(row.values) == len(comp.columns) for row in comp.metrics)
    with pytest.raises(ValueError, match="too few labels"):
        fu.unlearn_from_labels(dcgan, pos[:2], neg, fu.FeatureUnlearningConfig(steps=1))
