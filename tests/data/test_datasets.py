"""Datasets by name: the bundled digits, Debian's Fashion-MNIST, unknown names, and images outside [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from art_sor.data import load_dataset
from art_sor.data.dataset import check_images
from art_sor.data.torchvision_sets import DEBIAN_FASHION_MNIST


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


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("imagenet")


def test_a_value_just_above_one_is_printed_as_itself():
    x = np.zeros((2, 1, 2, 2))
    x[0, 0, 0, 0] = 1.0000001
    with pytest.raises(ValueError, match=r"values in \[0, 1.0000001\]"):
        check_images(x, "x")
