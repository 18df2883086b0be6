"""Projection, threshold and the latent move of Feature Unlearning, checked against hand maths."""
import numpy as np
import pytest
import torch

from methods import feature_unlearning as fu


def test_target_vector_projection_and_thresholds():
    pos = torch.tensor([[2.0, 0.0], [4.0, 2.0]])
    neg = torch.tensor([[0.0, 0.0], [0.0, 2.0], [-3.0, 1.0]])
    z_e = fu.target_vector(pos, neg)
    assert torch.allclose(z_e, torch.tensor([3.0 - (-1.0), 1.0 - 1.0]))
    assert torch.allclose(fu.projection(torch.tensor([[1.0, 5.0]]), z_e), torch.tensor([1.0]))
    # mean of all labelled projections onto the unit x axis: (2 + 4 + 0 + 0 - 3) / 5
    assert fu.threshold(pos, neg, z_e, "mean") == pytest.approx(0.6)
    # midpoint of the class means' projections: (3 + (-1)) / 2
    assert fu.threshold(pos, neg, z_e, "midpoint") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fu.threshold(pos, neg, z_e, "median")


def test_moved_latent_lands_on_threshold_and_keeps_orthogonal_part():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(30, 100, generator=g) + 0.8, torch.randn(50, 100, generator=g)
    d = fu.FeatureDirection.from_labels(pos, neg, "mean")
    assert d.unit.norm().item() == pytest.approx(1.0, abs=1e-6)  # the UNIT target vector is used
    z = torch.randn(200, 100, generator=g) * 3
    moved = d.move_to_threshold(z)
    assert torch.allclose(d.project(moved), torch.full((200,), d.threshold), atol=1e-4)
    residual = lambda x: x - d.project(x)[:, None] * d.unit[None]  # noqa: E731
    assert torch.allclose(residual(moved), residual(z), atol=1e-4)


def test_latent_shift_only_moves_latents_with_the_feature():
    g = torch.Generator().manual_seed(1)
    d = fu.FeatureDirection(unit=torch.nn.functional.normalize(torch.randn(100, generator=g), dim=0), threshold=0.3)
    z = torch.randn(500, 100, generator=g)
    shifted = fu.latent_shift(z, d)
    has = d.has_feature(z)
    assert 100 < has.sum() < 400
    assert torch.equal(shifted[~has], z[~has])
    assert torch.allclose(d.project(shifted[has]), torch.full((int(has.sum()),), 0.3), atol=1e-4)
    assert (d.project(shifted) <= 0.3 + 1e-4).all()


def test_same_means_is_refused():
    x = torch.randn(10, 100)
    with pytest.raises(ValueError, match="same mean"):
        fu.FeatureDirection.from_labels(x, x.clone())


@pytest.mark.parametrize("bad", [dict(steps=0), dict(batch_size=1), dict(lr=5.0), dict(alpha=-1), dict(threshold="x"),
                                 dict(msssim_mode="y"), dict(seed=-3)])
def test_config_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        fu.FeatureUnlearningConfig(**bad)  # a config is checked when it is made


def test_validate_labels_shapes():
    with pytest.raises(ValueError, match=r"shape \(n, 100\)"):
        fu.validate_labels(np.zeros((3, 7)), np.zeros((3, 100)), 100)
    with pytest.raises(ValueError, match="NaN"):
        fu.validate_labels(np.full((3, 100), np.nan), np.zeros((3, 100)), 100)


def test_loss_target_is_the_per_row_choice_of_f_z_prime_and_f_z():
    """The teacher decodes once (z' where z has the feature, z elsewhere); the loss must equal the paper's
    definition, which decodes both batches and picks per row."""
    from methods.backends import load_generator

    teacher = load_generator("digiface-dcgan")
    g = torch.Generator().manual_seed(3)
    d = fu.FeatureDirection(unit=torch.nn.functional.normalize(torch.randn(100, generator=g), dim=0), threshold=0.0)
    z = torch.randn(12, 100, generator=g)
    has = d.has_feature(z)
    assert 0 < int(has.sum()) < len(z)  # both kinds of rows are in the batch
    student = teacher.trainable_copy()
    with torch.no_grad():
        student.module.main[-2].weight.mul_(1.05)  # a student that differs from the teacher
        out = student.decode(z)
        target = torch.where(has[:, None, None, None], teacher.decode(d.move_to_threshold(z)), teacher.decode(z))
    l1 = (out - target).abs().flatten(1).mean(1)
    _, parts = fu.unlearning_loss(student, teacher, z, d, alpha=1.0)
    assert parts["recon"] == pytest.approx(float((l1 * ~has).mean()), rel=1e-4)
    assert parts["unlearn"] == pytest.approx(float((l1 * has).mean()), rel=1e-4)
