"""Device discipline: the shared, cached generators are only read. After every method's run their weights are
bit-identical and still where they were; a run on a GPU reads a frozen copy on the device (runtime.on_device)."""
import pytest
import torch

from methods import feature_unlearning as fu
from methods import guide
from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.directions.trainer import VoynovConfig, train_voynov
from methods.runtime import on_device


def _snapshot(backend):
    return {k: (v.clone(), v.device) for k, v in backend.module.state_dict().items()}


def _unchanged(backend, snapshot):
    state = backend.module.state_dict()
    return all(torch.equal(state[k], v) and state[k].device == device for k, (v, device) in snapshot.items())


@pytest.fixture(scope="module")
def cvae():
    return load_generator("digits-cvae")


def test_every_method_leaves_the_shared_generator_as_it_was(dcgan, cvae, mouth_labels):
    pos, neg = mouth_labels
    before = _snapshot(dcgan)
    result = fu.run(fu.FeatureUnlearningConfig(steps=2, batch_size=4, eval_samples=0), dcgan, pos, neg)
    assert not _unchanged(result.generator, before)  # the copy did train ...
    assert _unchanged(dcgan, before)  # ... the shared original did not move or change
    guide.run(guide.GuideConfig(steps=2, n_global=2), dcgan, dcgan.to_w(dcgan.sample_latents(1, 3)))
    assert _unchanged(dcgan, before)
    train_voynov(VoynovConfig(k=4, steps=2, batch_size=4), dcgan)
    assert _unchanged(dcgan, before)
    before = _snapshot(cvae)
    sa.run(sa.AmnesiaConfig(steps=2, batch_size=8, fisher_samples=4), cvae)
    assert _unchanged(cvae, before)


def test_on_device_copies_instead_of_moving(dcgan):
    assert on_device(dcgan, torch.device("cpu")) is dcgan  # already there: no copy on a CPU run
    copy = dcgan.copy_to("cpu")
    assert copy is not dcgan and copy.module is not dcgan.module
    assert all(not p.requires_grad for p in copy.module.parameters())
    z = dcgan.sample_latents(2, 0)
    assert torch.equal(copy.render(z), dcgan.render(z))
