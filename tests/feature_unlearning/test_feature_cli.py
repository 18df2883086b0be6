"""The command-line contracts: feature_unlearning writes a DIR that methods.sample can sample from."""
import json
from pathlib import Path

import numpy as np
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    return run_cli(*args)


def test_feature_unlearning_then_sample_round_trip(dcgan, mouth_labels, tmp_path):
    pos, neg = mouth_labels
    np.save(tmp_path / "P.npy", pos.numpy())
    np.save(tmp_path / "N.npy", neg.numpy())
    out = tmp_path / "run"
    r = _run("methods.feature_unlearning", "--positives", str(tmp_path / "P.npy"), "--negatives", str(tmp_path / "N.npy"),
             "--out", str(out), "--steps", "8", "--batch-size", "8", "--lr", "1e-3", "--alpha", "2", "--threshold", "midpoint",
             "--seed", "3", "--eval-samples", "32", "--feature", "open mouths", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Open mouths: ") and "training fit" in r.stdout  # the tab's verdict: no probe, no judge
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 8 and report["settings"]["threshold"] == "midpoint"
    assert report["wall_s"] >= report["train_seconds"]  # the whole run includes its training
    assert report["heldout"]["unlearned"]["ssim_kept"] > 0.8, report["heldout"]  # 8 steps leave feature-free faces alike
    assert (out / "generator.safetensors").is_file()

    z = dcgan.sample_latents(6, seed=8).numpy()
    np.save(tmp_path / "Z.npy", z)
    r1 = _run("methods.sample", "--generator", str(out), "--latents", str(tmp_path / "Z.npy"), "--out", str(tmp_path / "u.npz"))
    r2 = _run("methods.sample", "--generator", "digiface-dcgan", "--latents", str(tmp_path / "Z.npy"), "--out", str(tmp_path / "o.npz"))
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    unlearned, original = np.load(tmp_path / "u.npz")["images"], np.load(tmp_path / "o.npz")["images"]
    assert unlearned.shape == original.shape == (6, 64, 64, 3) and unlearned.dtype == np.uint8
    assert not np.array_equal(unlearned, original)  # the saved weights are the fine-tuned ones
    assert np.abs(unlearned.astype(int) - original).mean() < 20  # ... and still the same faces, nearly


def test_the_probe_runs_from_label_files(mouth_labels, tmp_path):
    """Labels read from .npy files (arrays, not tensors) reach the probe too: the full preset's default path."""
    pos, neg = mouth_labels
    np.save(tmp_path / "P.npy", pos.numpy())
    np.save(tmp_path / "N.npy", neg.numpy())
    r = _run("methods.feature_unlearning", "--positives", str(tmp_path / "P.npy"), "--negatives", str(tmp_path / "N.npy"),
             "--out", str(tmp_path / "run"), "--steps", "4", "--batch-size", "8", "--eval-samples", "16", "--probe")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert 0 <= report["probe"]["unlearned"]["judge_rate_after_attack"] <= 1  # the probe ran, on the unlearned generator


def test_the_quick_preset_sets_what_the_command_line_leaves_unset(mouth_labels, tmp_path):
    from methods.feature_unlearning.config import PRESETS
    pos, neg = mouth_labels
    np.save(tmp_path / "P.npy", pos.numpy())
    np.save(tmp_path / "N.npy", neg.numpy())
    r = _run("methods.feature_unlearning", "--positives", str(tmp_path / "P.npy"), "--negatives", str(tmp_path / "N.npy"),
             "--out", str(tmp_path / "run"), "--preset", "quick", "--steps", "4", "--eval-samples", "16")
    assert r.returncode == 0, r.stderr
    settings = json.loads((tmp_path / "run" / "report.json").read_text())["settings"]
    quick = PRESETS["quick"].settings
    assert (settings["steps"], settings["eval_samples"]) == (4, 16)  # what is given wins
    assert (settings["lr"], settings["batch_size"], settings["alpha"]) == (quick["lr"], quick["batch_size"], quick["alpha"])


def test_cli_bad_inputs_give_messages_not_tracebacks(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((4, 7), np.float32))
    r = _run("methods.feature_unlearning", "--positives", str(tmp_path / "bad.npy"), "--negatives", str(tmp_path / "bad.npy"),
             "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "shape (n, 100)" in r.stderr and "Traceback" not in r.stderr
    r = _run("methods.sample", "--generator", "no-such-model", "--n", "2", "--out", str(tmp_path / "x.npz"))
    assert r.returncode == 2 and "neither a registered generator" in r.stderr and "Traceback" not in r.stderr
