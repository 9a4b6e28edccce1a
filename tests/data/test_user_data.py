"""User data (``npz:`` files and image folders): read as they are, refused naming the file at fault."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from art_sor.data.user_data import load_image_folder


def npz_file(tmp_path, **arrays):
    x, y = np.random.default_rng(0).random((30, 1, 8, 8)), np.arange(30) % 10
    full = {"x_train": x, "y_train": y, "x_test": x[:10], "y_test": y[:10], **arrays}
    np.savez(tmp_path / "data.npz", **full)
    return tmp_path / "data.npz"


def test_a_huge_npz_label_is_refused_before_anything_class_sized_is_built(tmp_path):
    labels = np.arange(30) % 10
    labels[3] = 2 ** 40
    path = npz_file(tmp_path, y_train=labels)
    # In a child capped at 4 GiB of address space, so that code which sizes anything by the label fails fast
    # (MemoryError) instead of taking the machine's memory.
    code = f"from art_sor.data.user_data import load_npz; load_npz({str(path)!r})"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    assert "ValueError: npz y_train has the label 1099511627776" in child.stderr, child.stderr[-2000:]
    assert "more than the 40 images" in child.stderr


def image_tree(root, pixels_of):
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(pixels_of(k, label)).save(root / split / label / f"{k}.png")
    return root


def test_16_bit_pngs_keep_their_grey_levels(tmp_path):
    def pixels(k, label):
        return np.full((4, 4), 1000 * (k + 1) + 30000 * (label == "b"), np.uint16)

    data = load_image_folder(image_tree(tmp_path, pixels))
    expected = sorted({(1000 * (k + 1) + 30000 * b) / 65535 for k in range(2) for b in (0, 1)})
    np.testing.assert_allclose(np.unique(data.x_train), expected, rtol=1e-6)
    assert data.x_train.dtype == np.float32 and data.input_shape == (1, 4, 4)


def test_8_bit_pngs_still_load_as_before(tmp_path):
    data = load_image_folder(image_tree(tmp_path, lambda k, label: np.full((4, 4), 51 * (k + 1), np.uint8)))
    np.testing.assert_allclose(np.unique(data.x_train), [51 / 255, 102 / 255], rtol=1e-6)


@pytest.mark.parametrize("content", [b"\x89PNG garbage", b"", "truncated"])
def test_an_unreadable_png_is_refused_naming_the_file(tmp_path, content):
    root = image_tree(tmp_path, lambda k, label: np.full((8, 8), 9, np.uint8))
    good = (root / "train/a/0.png").read_bytes()
    (root / "train/b/bad.png").write_bytes(good[:len(good) // 2] if content == "truncated" else content)
    with pytest.raises(ValueError, match=r"train/b/bad.png cannot be read as an image"):
        load_image_folder(root)
