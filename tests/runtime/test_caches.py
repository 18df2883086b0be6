"""On-disk caches of what depends only on an original model: a cached figure is the figure computed afresh."""
import numpy as np
import pytest
import torch

from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.guide.evaluate import RANDOM_SEED, random_faces_descriptors
from methods.judges.faces import face_descriptors
from methods.runtime import to_uint8
from methods.runtime.cache import CACHE_ROOT
from methods.runtime.gallery import GALLERY_SEED
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


def test_original_gallery_is_cached_and_one_render_equals_one_per_class():
    ddpm = load_generator("digits-ddpm")
    small = type(ddpm)(ddpm.module, ddpm.config)  # same weights, fewer sampler steps: a quick check of the batching
    small.sampling_steps = 5
    grid = sa.concept_grid(small, n_show=3)
    z = small.sample_latents(3, GALLERY_SEED)
    for i, name in enumerate(small.conditions):  # the batched grid is each class drawn on its own
        alone = to_uint8(small.render(z, torch.full((3,), i)))
        assert np.abs(grid[name].astype(int) - alone.astype(int)).max() <= 1
    assert not np.array_equal(grid["0"], grid["1"])  # the class reaches the sampler
    cvae = load_generator("digits-cvae")
    fresh = sa.concept_grid(cvae)
    first = sa.original_concept_grid(cvae)
    assert list((CACHE_ROOT / "galleries").glob("digits-cvae-*.safetensors"))
    again = sa.original_concept_grid(cvae)
    for name in cvae.conditions:
        np.testing.assert_array_equal(first[name], fresh[name])
        np.testing.assert_array_equal(again[name], fresh[name])


def _compute_slowly(path: str, log: str) -> None:
    import time
    from pathlib import Path

    from methods.runtime.cache import cached_tensors

    def compute():
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)
        return {"x": torch.arange(3.0)}

    assert torch.equal(cached_tensors(Path(path), compute)["x"], torch.arange(3.0))


def test_two_processes_asking_for_one_entry_compute_it_once(tmp_path):
    """The second waits for the first (the stand-by filling a cache while a run needs it) instead of computing too."""
    import multiprocessing

    path, log = tmp_path / "entry.safetensors", tmp_path / "log.txt"
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_compute_slowly, args=(str(path), str(log))) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    assert log.read_text() == "computed\n" and path.is_file()


def test_the_originals_judged_samples_are_cached_per_prompt_and_seed():
    """A run judging fewer concepts reads the rows an earlier run drew, and they are the rows drawn afresh."""
    from methods.judges.emoji import emoji_judge, judged_probabilities, original_probabilities

    emoji = load_generator("emoji-sd").with_conditions(["a cat"], sample_steps=2)  # 2 sampler steps: a cheap draw
    judge = emoji_judge()
    prompts, seeds = ["a cat", "a dog"], [11, 12]
    both = original_probabilities(emoji, judge, prompts, seeds, 2)
    entries = set((CACHE_ROOT / "evaluations").glob(f"{emoji.name}-*.safetensors"))
    dog = original_probabilities(emoji, judge, ["a dog"], [12], 2)
    assert set((CACHE_ROOT / "evaluations").glob(f"{emoji.name}-*.safetensors")) == entries  # nothing new drawn
    torch.testing.assert_close(dog[0], both[1])
    torch.testing.assert_close(dog, judged_probabilities(emoji, judge, ["a dog"], [12], 2), atol=1e-4, rtol=0)
