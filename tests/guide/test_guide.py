"""GUIDE: UFO maths, the nobody target, neighbourhoods, robust rounds, a short real unlearning judged by dlib, the CLI
contract, the tab."""
import json
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from methods import guide
from methods.guide.face_input import align_face, example_photos
from methods.judges.faces import face_descriptors, identity_distance
from methods.image_metrics import ssim_per_image
from methods.guide.inversion import InversionConfig, invert
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def astronaut(dcgan):
    face = align_face(data.astronaut())
    return face, invert(dcgan, face.image[None], InversionConfig(steps=150))


def test_ufo_target_is_opposite_at_distance_d():
    torch.manual_seed(0)
    mean, source = torch.randn(1, 8, 2, 2), torch.randn(1, 8, 2, 2)
    target = guide.ufo_target(source, mean, 3.0)
    assert torch.isclose((target - mean).norm(), torch.tensor(3.0))
    cosine = torch.nn.functional.cosine_similarity((target - mean).flatten(), (source - mean).flatten(), dim=0)
    assert torch.isclose(cosine, torch.tensor(-1.0), atol=1e-5)
    assert torch.equal(guide.ufo_target(source, mean, 0.0), mean)


def test_neighbours_stay_within_alpha_max_and_point_to_random_faces(dcgan):
    g = torch.Generator().manual_seed(0)
    source = dcgan.to_w(dcgan.sample_latents(1, 0))
    random_w = guide.far_random_w(dcgan, source, 64, 10.0, g)
    assert ((random_w - source).flatten(1).norm(dim=1) >= 10.0).all()
    offsets = guide.neighbour_offsets(source, random_w, 5.0, g)
    norms = offsets.flatten(1).norm(dim=1)
    assert (norms <= 5.0 + 1e-4).all() and norms.std() > 0.5  # α ~ U(0, α_max)
    cos = torch.nn.functional.cosine_similarity(offsets.flatten(1), (random_w - source).flatten(1), dim=1)
    assert torch.allclose(cos, torch.ones(64), atol=1e-4)


def test_average_face_of_w_space_is_a_face(dcgan):
    stats = guide.latent_stats(dcgan)
    assert stats.radius > 0
    assert np.isfinite(face_descriptors(dcgan.render_w(stats.mean))).all()  # dlib (or MTCNN) finds a face


def test_inversion_reconstructs_the_same_person(dcgan, astronaut):
    face, inverted = astronaut
    assert inverted.w.shape == (1, 512, 4, 4) and inverted.ssim[0] > 0.8
    distance = identity_distance(face_descriptors(face.image[None]), face_descriptors(inverted.reconstruction))[0]
    assert distance < 0.6, distance


def test_short_guide_forgets_the_source_and_keeps_random_faces(dcgan, astronaut):
    face, inverted = astronaut
    source_w = inverted.w
    result = guide.run(guide.GuideConfig(steps=60), dcgan, source_w)
    before, after = dcgan.render_w(source_w), result.generator.render_w(source_w)
    assert identity_distance(face_descriptors(before), face_descriptors(after))[0] > 0.6  # not the same person by dlib
    assert np.isfinite(face_descriptors(after)).all()  # still a face
    random_w = dcgan.to_w(dcgan.sample_latents(16, 99))
    kept = ssim_per_image(result.generator.render_w(random_w), dcgan.render_w(random_w))
    assert kept.mean() > 0.85, kept
    # only the synthesis layers moved; the z -> W map is the original's
    assert torch.equal(result.generator.module.main[0].weight, dcgan.module.main[0].weight)
    assert not torch.equal(result.generator.module.main[3].weight, dcgan.module.main[3].weight)
    assert result.report["perceptual_loss"] in ("LPIPS (AlexNet)", "MS-SSIM")


def test_the_nobody_target_is_a_detected_typical_face_of_someone_else(dcgan, astronaut):
    from methods.guide.target import BRIGHTNESS_RANGE, brightness, candidate_pool, nobody_target
    from methods.judges.faces import hog_detects

    _, inverted = astronaut
    chosen = nobody_target(dcgan, inverted.w)
    drawn = dcgan.render_w(chosen.w)
    assert hog_detects(drawn)[0]
    pool_light = candidate_pool(dcgan)["brightness"].numpy()
    low, high = np.quantile(pool_light, BRIGHTNESS_RANGE)
    assert low <= brightness(drawn)[0] <= high
    assert identity_distance(face_descriptors(dcgan.render_w(inverted.w)), face_descriptors(drawn))[0] >= 0.7
    # the nearest such face in W: no other admissible pool face is nearer to the person
    assert chosen.facts["candidates"] >= 1 and chosen.facts["w_distance_to_person"] <= float(
        (candidate_pool(dcgan)["w"] - inverted.w).flatten(1).norm(dim=1).max())


def test_robust_rounds_forget_what_the_attack_finds_and_stop_at_the_goal(dcgan, astronaut):
    _, inverted = astronaut
    # stand-in attack results: two latents near the person that the plain run never trained on
    g = torch.Generator().manual_seed(3)
    found = inverted.w + 0.15 * inverted.w.abs().mean() * torch.randn((2, *inverted.w.shape[1:]), generator=g)
    found = dcgan.project_w(found)
    calls = []

    def find(model):
        calls.append(model)
        return found, torch.tensor([True, True]), {"recovered": 1.0 if len(calls) == 1 else 0.0}

    config = guide.GuideConfig(steps=10, robust_rounds=3, robust_steps=20)
    robust = guide.run(config, dcgan, inverted.w, find_person=find)
    plain = guide.run(guide.GuideConfig(steps=10), dcgan, inverted.w)
    rounds = robust.report["robust"]["rounds"]
    assert len(calls) == 2 and [r["recovered"] for r in rounds] == [1.0, 0.0]  # stopped at the goal
    assert robust.report["robust"]["latents_forgotten"] == 3 and robust.report["robust"]["steps"] == 30
    assert robust.forgotten_w.shape == (2, *inverted.w.shape[1:])
    # the found latents now draw the target more closely than after the plain run
    target = dcgan.render_w(robust.target_w)
    gap = lambda gen: float((gen.render_w(found) - target).pow(2).mean())  # noqa: E731
    assert gap(robust.generator) < 0.8 * gap(plain.generator), (gap(robust.generator), gap(plain.generator))


def test_without_lpips_weights_ms_ssim_stands_in_and_an_explicit_request_is_refused(monkeypatch):
    from methods.guide import losses

    monkeypatch.setattr(losses, "lpips_model", lambda: None)  # as offline: torchvision's AlexNet cannot be downloaded
    assert losses.perceptual_name(guide.GuideConfig(perceptual="auto")) == "MS-SSIM"
    assert losses.perceptual_name(guide.GuideConfig(perceptual="msssim")) == "MS-SSIM"
    with pytest.raises(ValueError, match="not available here"):
        losses.perceptual_name(guide.GuideConfig(perceptual="lpips"))
    monkeypatch.setattr(losses, "lpips_model", lambda: object())  # weights at hand
    assert losses.perceptual_name(guide.GuideConfig(perceptual="auto")) == "LPIPS (AlexNet)"


def test_baseline_targets_the_average_face_with_local_loss_only(dcgan, astronaut):
    _, inverted = astronaut
    result = guide.run(guide.GuideConfig(steps=2, baseline=True), dcgan, inverted.w)
    assert torch.allclose(result.target_w, guide.latent_stats(dcgan).mean)
    assert result.report["method"] == "guide-baseline"
    assert result.report["final"]["adjacent"] == 0 and result.report["final"]["global"] == 0


def dcgan_render_w(w: np.ndarray) -> torch.Tensor:
    from methods.backends import load_generator

    backend = load_generator("digiface-dcgan")
    return backend.render_w(torch.from_numpy(w).reshape(-1, *backend.w_shape))


def test_cli_contract_round_trip(tmp_path):
    photo = tmp_path / "face.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    out = tmp_path / "run"
    done = run_cli("methods.guide", "--image", str(photo), "--out", str(out), "--steps", "10", "--n-random", "4",
                   "--preset", "quick", "--attack")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name for p in out.iterdir()} >= {"generator.safetensors", "config.json", "source_latent.npy", "report.json"}
    # the recovery attack's files: the photo first, then its views; each latent re-renders to the distance reported
    attack = json.loads((out / "attack" / "report.json").read_text())
    found = np.load(out / "attack" / "original_latents.npy")
    assert found.shape == (4, 8192) and np.load(out / "attack" / "unlearned_latents.npy").shape == (4, 8192)
    assert len(attack["original_distance"]) == len(attack["unlearned_distance"]) == 4
    assert attack["name"] == "held-out re-inversion"
    assert attack["budget"]["inversion_steps"] == guide.PRESETS["quick"].options["attack_steps"] and attack["budget"]["starts_per_image"] == 4
    assert attack["original_distance"][0] < 0.6 and attack["recovered_original"] >= 0.5  # calibration: it finds the person
    face = align_face(photo)
    rendered = dcgan_render_w(found[:1])
    assert abs(identity_distance(face_descriptors(face.image[None]), face_descriptors(rendered))[0]
               - attack["original_distance"][0]) < 1e-3
    latent = np.load(out / "source_latent.npy")
    assert latent.shape == (1, 8192) and latent.dtype == np.float32
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "guide" and "id_source_before_vs_after" in report["evaluation"]
    for generator in (str(out), "digiface-dcgan"):  # W latents work for the unlearned and the original alike
        sampled = run_cli("methods.sample", "--generator", generator, "--latents", str(out / "source_latent.npy"),
                          "--out", str(tmp_path / "s.npz"))
        assert sampled.returncode == 0, sampled.stderr[-1000:]
        assert np.load(tmp_path / "s.npz")["images"].shape == (1, 64, 64, 3)
    inverted = run_cli("methods.invert", "--image", str(photo), "--out", str(tmp_path / "w.npy"), "--steps", "20")
    assert inverted.returncode == 0 and np.load(tmp_path / "w.npy").shape == (1, 8192)
    np.save(tmp_path / "bad.npy", np.zeros((1, 300), np.float32))
    bad = run_cli("methods.sample", "--generator", "digiface-dcgan", "--latents", str(tmp_path / "bad.npy"), "--out",
                  str(tmp_path / "b.npz"))
    assert bad.returncode == 2 and "8192" in bad.stderr
    (tmp_path / "note.jpg").write_text("not a photo")
    bad = run_cli("methods.guide", "--image", str(tmp_path / "note.jpg"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "not an image" in bad.stderr and "Traceback" not in bad.stderr


def test_tab_runs_and_reports_bad_input():
    from ui import identity as tab
    from ui.common import by_name

    quiet = dict(request=None, progress=lambda *a, **k: None)
    photo = str(next(iter(example_photos().values())))
    out = by_name(tab.unlearn, tab.unlearn(photo, [], 20, 1.0, False, 0, **quiet))
    verdict = out["verdict"]
    assert re.match(r"\*\*This person is (no longer|still) recognised \(face-recognition distance \d\.\d\d", verdict), verdict
    assert re.search(r"\d+% of random other faces are still the same people", verdict), verdict
    assert out["status"].startswith("Done: GUIDE") and out["metrics"].value["headers"] == ["metric (dlib)", "GUIDE"]
    assert [Path(f).name for f in out["downloads"]] == ["generator.safetensors", "config.json", "source_latent.npy", "report.json"]
    assert out["views"].size[1] > out["pipeline"].size[1] and out["attack_title"] == ""  # quick: no recovery attack
    assert out["attack_rows"].visible is False
    skip = type(gr.skip())
    out = by_name(tab.unlearn, tab.unlearn(None, [], 20, 1.0, False, 0, **quiet))
    assert "upload a photo" in out["status"] and all(isinstance(v, skip) for k, v in out.items() if k != "status")
    out = by_name(tab.unlearn, tab.unlearn(photo, [], 0, 1.0, False, 0, **quiet))
    assert "Steps" in out["status"]
    out = by_name(tab.preview_face, tab.preview_face(str(ROOT / "README.md")))
    assert isinstance(out["preview"], skip) and "not an image" in out["status"]


def test_a_bad_extra_photo_is_named(dcgan, tmp_path):
    from methods.guide.face_input import FaceInputError

    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"not a picture at all")
    photo = next(iter(example_photos().values()))
    with pytest.raises(FaceInputError, match=r"more photos, #1 \(holiday.jpg\): this file is not an image"):
        guide.unlearn_identity(dcgan, photo, guide.GuideConfig(steps=1), extra_photos=[bad])
