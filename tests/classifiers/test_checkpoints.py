"""Model checkpoints: saved and loaded with their predictions, refused naming what does not fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import architecture_classifier

from art_sor.classifiers.checkpoints import load_classifier, load_state_dict_classifier, save_classifier
from art_sor.models import build_model
from art_sor.storage import CorruptFileError


def test_a_state_dict_mismatch_lists_the_missing_and_unexpected_keys(tmp_path):
    weights = build_model("small-cnn", (1, 8, 8), 10).state_dict()
    first = next(iter(weights))
    weights["extra.weight"] = weights.pop(first)
    torch.save(weights, tmp_path / "w.pt")
    with pytest.raises(ValueError, match=f"missing keys {first}; unexpected keys extra.weight"):
        load_state_dict_classifier(tmp_path / "w.pt", "small-cnn", (1, 8, 8), 10, device="cpu")


def test_checkpoint_round_trip(tmp_path):
    classifier = architecture_classifier("small-cnn", (1, 8, 8), 10, clip_values=(0.0, 1.0),
                                         preprocessing=(0.1, 0.3))
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    path = save_classifier(tmp_path / "m.pt", classifier, "small-cnn", metadata={"defence": "sor"})
    loaded, state = load_classifier(path, device="cpu")
    np.testing.assert_allclose(loaded.predict(x), classifier.predict(x), rtol=1e-6)
    assert state["metadata"] == {"defence": "sor"}
    assert tuple(loaded.clip_values) == (0.0, 1.0)


def test_load_rejects_foreign_file(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(CorruptFileError, match="not an art-sor model checkpoint"):
        load_classifier(tmp_path / "x.pt")
