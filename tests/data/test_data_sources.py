"""Datasets by name: the real loading code on small data the tests make, offline; the user's own data; errors."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from art_sor.cli import main
from art_sor.data import data_root, dataset_spec, load_dataset
from art_sor.data.streaming import training_generator


@pytest.fixture
def offline_root(tmp_path, monkeypatch):
    """A data root with nothing in it, and no Debian copy of Fashion-MNIST either."""
    monkeypatch.setattr("art_sor.data.torchvision_sets.DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    return tmp_path / "data"


def _idx(path, array: np.ndarray) -> None:
    """Write an idx file as MNIST ships it (big-endian header, uint8 data), gzipped or not."""
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _mnist_like(folder, rng) -> None:
    for split, n in (("train", 12), ("t10k", 6)):
        _idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnists_load_from_local_idx_files(offline_root, rng, name, folder):
    _mnist_like(offline_root / folder / "raw", rng)
    data = load_dataset(name, root=offline_root)
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (6, 1, 28, 28)
    assert data.x_train.dtype == np.float32 and data.x_train.min() >= 0 and data.x_train.max() <= 1
    assert data.nb_classes == 10 and data.augmentation == "none"


def test_fashion_mnist_is_staged_from_debian_gzip_files(tmp_path, monkeypatch, rng):
    debian = tmp_path / "debian"
    _mnist_like(tmp_path / "plain", rng)
    for path in (tmp_path / "plain").iterdir():
        (debian / f"{path.name}.gz").parent.mkdir(exist_ok=True)
        (debian / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    monkeypatch.setattr("art_sor.data.torchvision_sets.DEBIAN_FASHION_MNIST", debian)
    data = load_dataset("fashion-mnist", root=tmp_path / "root")
    assert len(data.x_train) == 12 and (tmp_path / "root" / "FashionMNIST" / "raw").is_dir()


def _cifar_batch(path, rng, n, fine: bool) -> None:
    labels = rng.integers(0, 100 if fine else 10, n).tolist()
    entry = {"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
             ("fine_labels" if fine else "labels"): labels}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(entry))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifars_load_through_torchvision(offline_root, rng, monkeypatch, name):
    # The files are ours, so torchvision's checksums of the real archives cannot match; all else is real.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda path, md5=None: True)
    if name == "cifar10":
        base, meta = offline_root / "cifar-10-batches-py", {"label_names": [f"c{i}" for i in range(10)]}
        for i in range(1, 6):
            _cifar_batch(base / f"data_batch_{i}", rng, 4, fine=False)
        _cifar_batch(base / "test_batch", rng, 5, fine=False)
        (base / "batches.meta").write_bytes(pickle.dumps(meta))
    else:
        base, meta = offline_root / "cifar-100-python", {"fine_label_names": [f"c{i}" for i in range(100)]}
        _cifar_batch(base / "train", rng, 20, fine=True)
        _cifar_batch(base / "test", rng, 5, fine=True)
        (base / "meta").write_bytes(pickle.dumps(meta))
    data = load_dataset(name, root=offline_root)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (5, 3, 32, 32)
    assert data.augmentation == "crop-flip" and data.nb_classes == (10 if name == "cifar10" else 100)
    # Channels first, in the order the pickled rows hold them.
    raw = pickle.loads((base / ("test_batch" if name == "cifar10" else "test")).read_bytes())["data"]
    np.testing.assert_allclose(data.x_test[0], raw[0].reshape(3, 32, 32) / 255.0, rtol=1e-6)


def test_svhn_loads_through_torchvision(offline_root, rng, monkeypatch):
    import scipy.io

    monkeypatch.setattr("torchvision.datasets.svhn.check_integrity", lambda path, md5=None: True)
    folder = offline_root / "svhn"
    folder.mkdir(parents=True)
    for split, n in (("train", 7), ("test", 3)):
        labels = rng.integers(1, 11, (n, 1))  # SVHN writes the digit 0 as 10
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                                         "y": labels})
    data = load_dataset("svhn", root=offline_root)
    assert data.x_train.shape == (7, 3, 32, 32) and data.y_train.max() <= 9 and data.augmentation == "none"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "svhn"])
def test_missing_copy_names_download_and_the_folder(offline_root, name):
    with pytest.raises(FileNotFoundError, match=r"download=True.*root") as error:
        load_dataset(name, root=offline_root)
    assert str(offline_root) in str(error.value)


def test_missing_copy_from_the_cli_is_one_line(offline_root):
    result = CliRunner().invoke(main, ["train", "--dataset", "cifar10", "--data-root", str(offline_root),
                                       "--out", str(offline_root / "out")])
    assert result.exit_code == 1 and "--download" in result.output and "Traceback" not in result.output


def test_data_root_comes_from_the_option_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ART_SOR_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env" and data_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("ART_SOR_DATA")
    assert data_root().name == "art-sor"


def _npz(path, **arrays) -> str:
    rng = np.random.default_rng(0)
    defaults = {"x_train": rng.integers(0, 256, (10, 3, 8, 8), dtype=np.uint8), "y_train": np.arange(10) % 3,
                "x_test": rng.random((4, 3, 8, 8), dtype=np.float32), "y_test": np.array([0, 1, 2, 0])}
    defaults.update(arrays)
    np.savez(path, **{k: v for k, v in defaults.items() if v is not None})
    return f"npz:{path}"


def test_npz_user_data(tmp_path):
    data = load_dataset(_npz(tmp_path / "d.npz"))
    assert data.x_train.dtype == np.float32 and data.x_train.max() <= 1.0 and data.nb_classes == 3
    assert data.input_shape == (3, 8, 8) and data.name == f"npz:{tmp_path / 'd.npz'}"


@pytest.mark.parametrize("arrays,message", [
    ({"y_test": None}, "lacks the key.*y_test"),
    ({"y_train": np.linspace(0, 1, 10)}, "y_train must hold integer"),
    ({"x_train": np.zeros((10, 8, 8), dtype=np.float32)}, "x_train must have rank 4"),
    ({"x_test": np.full((4, 3, 8, 8), 2.0, dtype=np.float32)}, r"x_test is float with values in \[2, 2\]"),
    ({"x_test": np.zeros((4, 3, 8, 8), dtype=np.int32)}, "x_test must be uint8 or float"),
    ({"y_train": np.arange(9)}, r"y_train must have shape \(10,\)"),
])
def test_npz_errors_name_the_key(tmp_path, arrays, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(_npz(tmp_path / "bad.npz", **arrays))


def test_folder_user_data(tmp_path, rng):
    for split, count in (("train", 3), ("test", 1)):
        for label in ("cat", "dog"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path / 'images'}")
    assert data.x_train.shape == (6, 3, 6, 6) and data.class_names == ("cat", "dog")
    assert sorted(data.y_test.tolist()) == [0, 1]


def test_folder_errors(tmp_path, rng):
    (tmp_path / "only" / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="test"):
        load_dataset(f"folder:{tmp_path / 'only'}")
    root = tmp_path / "sizes"
    for split, size in (("train", 6), ("test", 7)):
        (root / split / "a").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(root / split / "a" / "0.png")
    with pytest.raises(ValueError, match="6, 6"):
        load_dataset(f"folder:{root}")


def test_foolbox_images_cannot_be_trained_on(tmp_path):
    folder = tmp_path / "fb"
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(folder / "cifar10_00_3.png")
    result = CliRunner().invoke(main, ["train", "--dataset", "cifar10-foolbox", "--data-root", str(folder),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no training split" in result.output and "Traceback" not in result.output


def test_dataset_specs():
    assert dataset_spec("npz:/a/b.npz").options == (("path", "/a/b.npz"),)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        dataset_spec("imagenet")


def test_streaming_generator_augments_and_covers_an_epoch(rng):
    x = rng.random((10, 3, 8, 8), dtype=np.float32)
    y = np.arange(10)
    torch.manual_seed(0)
    generator = training_generator(x, y, batch_size=4, augmentation="crop-flip")
    batches = [generator.get_batch() for _ in range(3)]
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    seen = torch.cat([b[0] for b in batches])
    originals = torch.from_numpy(x)[torch.cat([b[1] for b in batches])]
    assert not torch.equal(seen, originals)  # cropped or flipped
    assert seen.min() >= 0 and seen.max() <= 1
    plain = training_generator(x, y, batch_size=10)
    xb, yb = plain.get_batch()
    torch.testing.assert_close(xb, torch.from_numpy(x)[yb])


def test_user_data_trains_into_a_default_folder_named_after_it(tmp_path, monkeypatch):
    spec = _npz(tmp_path / "my data.npz")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", "--dataset", spec, "--eps", "0.1", "--epochs", "1", "--batch-size",
                                       "5", "--eval-samples", "4", "--attack-steps", "1", "--quiet", "--device",
                                       "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "art-sor-runs" / "train-npz-my_data" / "report.json").exists()


def _archive(path, x, y, x_test=None, y_test=None):
    np.savez(path, x_train=x, y_train=y, x_test=x[:10] if x_test is None else x_test,
             y_test=y[:10] if y_test is None else y_test)
    return path


@pytest.mark.parametrize("fault", ["channels last", "empty test split", "npy file", "no path", "empty path"])
def test_malformed_npz_data_is_refused_naming_what_is_wrong(tmp_path, fault):
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 8, 8)).astype(np.float32), np.arange(40) % 10
    if fault == "channels last":
        spec, message = f"npz:{_archive(tmp_path / 'cl.npz', x.transpose(0, 2, 3, 1), y)}", "channels last"
    elif fault == "empty test split":
        spec, message = f"npz:{_archive(tmp_path / 'e.npz', x, y, x[:0], y[:0])}", "x_test holds no images"
    elif fault == "npy file":
        np.save(tmp_path / "x.npy", x)
        spec, message = f"npz:{tmp_path / 'x.npy'}", "holds one array (a .npy file)"
    else:
        spec, message = {"no path": "npz", "empty path": "npz:"}[fault], "needs path: write npz:PATH"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset(spec)
    result = CliRunner().invoke(main, ["train", "--dataset", spec, "--epochs", "1", "--quiet", "--device", "cpu",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--dataset" in result.output and message in result.output, result.output


def test_a_file_name_holding_an_equals_sign_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    _archive(tmp_path / "a=b.npz", rng.random((40, 1, 8, 8)).astype(np.float32), np.arange(40) % 10)
    assert dataset_spec("npz:a=b.npz").options == (("path", "a=b.npz"),)
    assert load_dataset("npz:a=b.npz").x_train.shape == (40, 1, 8, 8)


def test_tests_never_write_datasets_into_the_home_cache():
    # Fashion-MNIST staged from Debian's package is 54 MB: it belongs in a temporary root during tests.
    assert data_root() != Path.home() / ".cache" / "art-sor"
