"""Datasets, architectures and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import architecture_classifier

from art_sor.classifiers.checkpoints import load_classifier, save_classifier
from art_sor.data import load_dataset
from art_sor.data.torchvision_sets import DEBIAN_FASHION_MNIST
from art_sor.models import build_model
from art_sor.storage import CorruptFileError


def test_digits_is_bundled_and_split(digits):
    assert digits.x_train.shape[1:] == (1, 8, 8) and digits.x_train.dtype == np.float32
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.min() >= 0.0 and digits.x_train.max() <= 1.0
    assert set(np.unique(digits.y_test)) == set(range(10))


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason="needs Debian's dataset-fashion-mnist (CI installs it)")
def test_fashion_mnist_from_local_raw_files(tmp_path):
    data = load_dataset("fashion-mnist", root=tmp_path)
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.x_test.min() >= 0.0 and data.x_test.max() <= 1.0
    assert data.class_names[9] == "Ankle boot"


def test_fashion_mnist_missing_files_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("art_sor.data.torchvision_sets.DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"download=True") as error:
        load_dataset("fashion-mnist", root=tmp_path / "empty")
    assert str(tmp_path / "empty") in str(error.value)


def test_unknown_dataset_and_architecture():
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="architecture"):
        build_model("vgg99", (1, 28, 28), 10)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_small_cnn_fits_both_datasets(shape):
    model = build_model("small-cnn", shape, 10)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


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
