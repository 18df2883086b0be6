"""The PGD probe: it stays inside its ball and really raises the attacked classifier's score."""
import torch

from methods.feature_unlearning.probe import pgd_probe, train_feature_classifier


def test_pgd_stays_in_ball_and_increases_the_logit(dcgan):
    # A classifier for "bright image" that is easy to learn, so the attack's effect is measurable.
    z = dcgan.sample_latents(256, seed=5)
    images = dcgan.render(z)
    brightness = images.mean(dim=(1, 2, 3))
    fit = train_feature_classifier(images, brightness > brightness.median(), epochs=15)
    assert fit.heldout_balanced_accuracy is not None and fit.heldout_balanced_accuracy > 0.8
    start = dcgan.sample_latents(16, seed=6)
    result = pgd_probe(dcgan, fit.model, start, radius=1.0, steps=5)
    assert ((result.attacked_latents - start).norm(dim=1) <= 1.0 + 1e-4).all()
    with torch.no_grad():
        assert fit.model(result.attacked_images).mean() > fit.model(dcgan.render(start)).mean()
    assert result.rate_after_attack >= result.rate_before_attack
