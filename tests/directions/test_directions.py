"""Latent directions: A's constraints, SeFa against numpy, training beats the random-A baseline, CLI."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.directions import load_directions, load_reconstructor, measure_rca, save_directions, shift_latent, shipped_directions
from methods.directions.describe import describe_directions
from methods.directions.matrix import DirectionMatrix
from methods.directions.sefa import sefa
from methods.directions.trainer import VoynovConfig, reconstructor_accuracy, sample_shifts, shift_accuracy, train_voynov
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("variant", ["orthonormal", "unit"])
def test_direction_matrix_constraints_hold_while_training(variant):
    m = DirectionMatrix(100, 12, variant, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        m.shift(torch.arange(12), torch.ones(12)).pow(3).sum().backward()
        opt.step()
    d = m.directions().detach()
    assert d.shape == (12, 100)
    assert torch.allclose(d.norm(dim=1), torch.ones(12), atol=1e-5)
    if variant == "orthonormal":
        assert torch.allclose(d @ d.T, torch.eye(12), atol=1e-5)


def test_sefa_matches_numpy_eigendecomposition(dcgan):
    directions, eigenvalues = sefa(dcgan, 5)
    w = dcgan.module.main[0].weight.detach().numpy().astype(np.float64)  # (100, 512, 4, 4)
    a = w.reshape(100, -1).T
    values, vectors = np.linalg.eigh(a.T @ a)
    order = np.argsort(values)[::-1][:5]
    assert np.allclose(eigenvalues.numpy(), values[order], rtol=1e-4)
    dots = np.abs(np.sum(directions.numpy() * vectors[:, order].T, axis=1))
    assert np.allclose(dots, 1.0, atol=1e-4)  # same eigenvectors up to sign
    assert (np.diff(eigenvalues.numpy()) <= 0).all()


def test_shift_sampling_respects_bounds():
    index, eps = sample_shifts(4000, 7, 0.5, 6.0, torch.Generator().manual_seed(0))
    assert index.min() == 0 and index.max() == 6
    assert (eps.abs() >= 0.5).all() and (eps.abs() <= 6.0).all() and (eps > 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_training_beats_a_fixed_random_matrix(dcgan):
    # 4 directions, 60 steps of 16: a short run (the shipped 16 directions are the benchmark's; RCA 0.78 against 0.58 here)
    config = VoynovConfig(k=4, steps=60, batch_size=16, seed=0)
    learned = train_voynov(config, dcgan)
    random_a = train_voynov(VoynovConfig(k=4, steps=60, batch_size=16, seed=0, train_matrix=False), dcgan)
    rca, rca_random = reconstructor_accuracy(learned, dcgan, 512), reconstructor_accuracy(random_a, dcgan, 512)
    assert rca > rca_random + 0.1, (rca, rca_random)
    assert rca > 1 / 4 + 0.3  # far above chance
    # the random baseline's A really stayed fixed
    assert torch.equal(random_a.matrix.directions(), DirectionMatrix(100, 4, seed=0).directions())


def test_descriptions_flip_with_the_direction(dcgan):
    d, _ = sefa(dcgan, 2)
    plus = describe_directions(dcgan, d[:1], n_seeds=8)[0]
    minus = describe_directions(dcgan, -d[:1], n_seeds=8)[0]
    shared = set(plus.effects) & set(minus.effects)
    assert shared
    for name in shared:
        assert np.sign(plus.effects[name]) == -np.sign(minus.effects[name])


def test_shift_latent_and_files(dcgan, tmp_path):
    d, _ = sefa(dcgan, 3)
    z = dcgan.sample_latents(1, 0)[0]
    assert torch.equal(shift_latent(z, d, [0, 0, 0]), z)
    assert torch.allclose(shift_latent(z, d, [2.0]), z + 2 * d[0])
    save_directions(tmp_path / "x", d, {"k": 3})
    loaded, report = load_directions(tmp_path / "x", 100)
    assert torch.allclose(loaded, d, atol=1e-6) and report == {"k": 3}
    with pytest.raises(ValueError, match=r"shape \(K, 100\)"):
        save_directions(tmp_path / "y", torch.randn(3, 7), {})
        load_directions(tmp_path / "y", 100)
    (tmp_path / "junk.safetensors").write_text("not a file")
    with pytest.raises(ValueError, match="not a directions file"):
        load_directions(tmp_path / "junk.safetensors", 100)


def _cli(*args):
    return run_cli("methods.directions", *args)


def test_cli_contract(tmp_path):
    r = _cli("--method", "sefa", "--generator", "digiface-dcgan", "--out", str(tmp_path / "s"), "--k", "6", "--describe", "0")
    assert r.returncode == 0, r.stderr
    d, report = load_directions(tmp_path / "s", 100)
    assert d.shape == (6, 100) and len(report["eigenvalues"]) == 6 and "wall_s" in report
    r = _cli("--method", "voynov", "--generator", "digiface-dcgan", "--out", str(tmp_path / "v"), "--k", "4", "--steps", "15",
             "--seed", "2", "--describe", "2")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    for key in ("rca", "rca_random_baseline", "k", "steps", "wall_s", "descriptions"):
        assert key in report
    assert report["k"] == 4 and report["steps"] == 15 and len(report["descriptions"]) == 2
    r = _cli("--method", "sefa", "--out", str(tmp_path / "bad"), "--k", "0")
    assert r.returncode == 2 and "--k must be between" in r.stderr and "Traceback" not in r.stderr


def test_shipped_voynov_directions_are_valid():
    folder = ROOT / "assets" / "directions" / "digiface-dcgan-voynov"
    d, report = load_directions(folder, 100)
    assert d.shape == (report["k"], 100) and report["k"] >= 16
    assert torch.allclose(d @ d.T, torch.eye(len(d)), atol=1e-4)  # its accuracy is measured again below


def test_descriptions_say_what_separates_alike_directions(dcgan):
    from methods.directions import directions_for
    from methods.directions.describe import distinct_descriptions

    alike = {"brightness": -2.2, "background_brightness": -1.5}
    texts = distinct_descriptions([alike, {**alike, "mouth_opening": -0.4}, dict(alike), {"brightness": 0.7}])
    assert texts[0] == "much darker overall"  # brightness and background as one change, with its strength
    assert texts[1] == "much darker overall, mouth closes a little"  # its next measured change separates it
    assert texts[2] == "much darker overall (measured like #1)"  # nothing separates these two: said so
    assert texts[3] == "slightly brighter"
    for method in ("sefa", "voynov"):  # the shipped directions all read differently
        _, shipped = directions_for(method, dcgan, k=10)
        measured = [t for t in shipped if t]
        assert len(measured) >= 10 and len(set(measured)) == len(measured), shipped


def test_shipped_voynov_rca_is_measured_again_from_its_files(dcgan):
    """The shipped reconstructor tells the shipped directions apart as the report says (a few hundred fresh pairs),
    well above the random-A baseline it was compared with."""
    folder = shipped_directions("voynov", "digiface-dcgan")
    report = json.loads((folder / "report.json").read_text())
    rca = measure_rca(folder, dcgan, n=384)
    assert rca == pytest.approx(report["rca"], abs=0.06), (rca, report["rca"])
    assert rca > report["rca_random_baseline"] + 0.05
    # the class map matters: with each row given to another row's class, R is far below its RCA
    reconstructor, class_of_row = load_reconstructor(folder)
    assert sorted(class_of_row.tolist()) == list(range(report["k"]))
    directions, _ = load_directions(folder, dcgan.latent_dim)
    wrong = torch.empty_like(directions)
    wrong[class_of_row.roll(1)] = directions
    assert shift_accuracy(reconstructor, wrong, dcgan, 0.5, 6.0, n=128) < 0.4
