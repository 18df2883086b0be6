"""Label files: round trip, regenerated latents, and files that are not labels."""
import json

import pytest
import torch

from methods.feature_unlearning.labels import LabelFileError, LabelSet


def test_round_trip_and_latents(dcgan, tmp_path):
    labels = LabelSet("digiface-dcgan", 64)
    labels.mark_page(3, [i in (1, 5) for i in range(64)])
    labels.mark_page(9, [])
    assert labels.counts() == (2, 126)
    (tmp_path / "l.json").write_text(labels.to_json())
    again = LabelSet.load(tmp_path / "l.json")
    assert again.pages == {3: {1, 5}, 9: set()}
    pos, neg = again.latents(dcgan)
    assert pos.shape == (2, 100) and neg.shape == (126, 100)
    assert torch.equal(pos[0], dcgan.sample_latents(64, 3)[1])


@pytest.mark.parametrize("text, message", [
    ("\x89PNG\r\n", "not JSON"),
    (json.dumps({"hello": 1}), "not a labels file"),
    (json.dumps({"format": "unlearning-studio-labels", "generator": "g", "page_size": 64, "pages": {"1": [99]}}), "damaged"),
    (json.dumps({"format": "unlearning-studio-labels", "generator": "g", "page_size": 64, "pages": {"-5": []}}), "damaged"),
    (json.dumps({"format": "unlearning-studio-labels", "generator": "g", "page_size": 64, "pages": [1, 2]}), "damaged"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),  # RecursionError inside json, not a crash
])
def test_bad_files(text, message):
    with pytest.raises(LabelFileError, match=message):
        LabelSet.from_json(text)
