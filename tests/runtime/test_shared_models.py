"""Device discipline: the shared, cached generators are only read. After every method's run their weights are
bit-identical and still where they were, with the same flags (requires_grad, .grad, train/eval) and attributes (a
diffusion model's sampler steps); a run on a GPU reads a frozen copy on the device (runtime.on_device)."""
import pytest
import torch

from methods import feature_unlearning as fu
from methods import guide
from methods import selective_amnesia as sa
from methods.backends import load_generator
from methods.directions.trainer import VoynovConfig, train_voynov
from methods.runtime import on_device
from methods.selective_amnesia.attack import latent_attack


_SCALARS = (int, float, str, bool, tuple, type(None))


def _state(backend):
    """What a run could change in a shared back-end, other than its weights: parameter flags, train/eval modes,
    its attributes (objects by identity, plain values by value) and a sampler's steps."""
    module = backend.module
    return {"flags": {k: (p.requires_grad, p.grad is None) for k, p in module.named_parameters()},
            "modes": [m.training for m in module.modules()],
            "attributes": {k: v if isinstance(v, _SCALARS) else id(v) for k, v in vars(backend).items()},
            "sampling_steps": getattr(backend, "sampling_steps", None)}


def _snapshot(backend):
    return {k: (v.clone(), v.device) for k, v in backend.module.state_dict().items()}, _state(backend)


def _unchanged(backend, snapshot):
    weights, state = snapshot
    now = backend.module.state_dict()
    return all(torch.equal(now[k], v) and now[k].device == device for k, (v, device) in weights.items()) and \
        _state(backend) == state


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


def test_a_diffusion_run_and_its_attack_leave_the_shared_model_as_it_was():
    """The DDPM's Fisher takes one backward per sample and its attack decodes with fewer sampler steps: both on the
    shared instance, neither may leave a trace on it."""
    # a view with sampler steps of its own (not the class's 50): an attack that set them and put the class's back
    # would show here
    ddpm = load_generator("digits-ddpm").with_sampling_steps(20)
    before = _snapshot(ddpm)
    config = sa.AmnesiaConfig.for_model("digits-ddpm", forget="0", steps=2, batch_size=8, fisher_samples=3,
                                        samples_per_concept=4)
    result = sa.run(config, ddpm)
    assert _unchanged(ddpm, before)
    latent_attack(ddpm, result.generator, "0", n=2, steps=1, decode_steps=2)
    assert _unchanged(ddpm, before) and ddpm.sampling_steps == 20


def test_the_erasers_leave_the_shared_prompt_model_as_it_was():
    from methods import esd, uce

    emoji = load_generator("emoji-sd")
    before = _snapshot(emoji)
    uce.erase(emoji, uce.UCEConfig.for_model("emoji-sd", forget=("a cat",), surrogate="a dog"), eval_per_concept=1, others_limit=1)
    assert _unchanged(emoji, before)
    esd.erase(emoji, esd.ESDConfig.for_model("emoji-sd", forget=("a cat",), iterations=1), eval_per_concept=1, others_limit=1)
    assert _unchanged(emoji, before)


def test_on_device_copies_instead_of_moving(dcgan):
    assert on_device(dcgan, torch.device("cpu")) is dcgan  # already there: no copy on a CPU run
    copy = dcgan.copy_to("cpu")
    assert copy is not dcgan and copy.module is not dcgan.module
    assert all(not p.requires_grad for p in copy.module.parameters())
    z = dcgan.sample_latents(2, 0)
    assert torch.equal(copy.render(z), dcgan.render(z))
