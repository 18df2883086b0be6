"""On-disk caches of what depends only on an original model: a cached figure is the figure computed afresh."""
import numpy as np
import pytest
import torch

from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.guide.evaluate import RANDOM_SEED, random_faces_descriptors
from methods.judges.faces import face_descriptors
from methods.runtime.cache import CACHE_ROOT
from methods.selective_amnesia.evaluate import evaluate_original
from methods.selective_amnesia.train import warm_cache


def test_random_faces_descriptors_are_cached_by_the_generators_weights(dcgan):
    images = dcgan.render_w(dcgan.to_w(dcgan.sample_latents(4, RANDOM_SEED)))
    fresh = face_descriptors(images)
    first = random_faces_descriptors(dcgan, images, 4, RANDOM_SEED)
    assert list((CACHE_ROOT / "guide").glob("digiface-dcgan-*-random-4-*.safetensors"))
    again = random_faces_descriptors(dcgan, torch.zeros_like(images), 4, RANDOM_SEED)  # read back: images unused
    np.testing.assert_allclose(first, fresh, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(again, first)


def test_warmed_amnesia_caches_give_the_figures_computed_afresh():
    warm_cache(("digits-cvae",))
    cvae = load_generator("digits-cvae")
    n = sa.presets_for("digits-cvae")["quick"].options.get("eval_per_class", 200)
    assert list((CACHE_ROOT / "evaluations").glob(f"digits-cvae-*-{n}-*.safetensors"))
    assert list((CACHE_ROOT / "fisher").glob("digits-cvae-*.safetensors"))
    for forget in ("0", "7"):  # one table serves every forgotten class
        cached, fresh = evaluate_original(cvae, forget, n), sa.evaluate(cvae, forget, n)
        assert cached["forgotten_probability"] == pytest.approx(fresh["forgotten_probability"], abs=1e-6)
        assert cached["per_class_accuracy"] == pytest.approx(fresh["per_class_accuracy"], abs=1e-6)
        assert cached["leakage"] == pytest.approx(fresh["leakage"], abs=1e-6)
    assert evaluate_original(cvae, "0", n)["per_class_accuracy"] != evaluate_original(cvae, "7", n)["per_class_accuracy"]
