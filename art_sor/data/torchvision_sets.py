"""MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and SVHN through torchvision, from a local copy or downloaded.

The files live under the data root (:func:`~art_sor.data.dataset.data_root`). Without ``download`` a missing
copy fails at once with a message naming ``download`` and the folder looked in. Fashion-MNIST is also read
from the Debian package ``dataset-fashion-mnist`` when it is installed.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.data.dataset import Dataset, data_root, images_from_uint8

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")


def load_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """MNIST (60k/10k, 1×28×28)."""
    from torchvision.datasets import MNIST

    return _load("mnist", MNIST, data_root(root), download, augmentation="none")


def load_fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST (60k/10k, 1×28×28), from Debian's package when it is installed."""
    from torchvision.datasets import FashionMNIST

    root = data_root(root)
    _stage_gzipped_idx(DEBIAN_FASHION_MNIST, root / "FashionMNIST" / "raw")
    return _load("fashion-mnist", FashionMNIST, root, download, augmentation="none")


def load_cifar10(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 (50k/10k, 3×32×32)."""
    from torchvision.datasets import CIFAR10

    return _load("cifar10", CIFAR10, data_root(root), download, augmentation="crop-flip")


def load_cifar100(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """CIFAR-100 (50k/10k, 3×32×32, fine labels)."""
    from torchvision.datasets import CIFAR100

    return _load("cifar100", CIFAR100, data_root(root), download, augmentation="crop-flip")


def load_svhn(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """SVHN (73k train / 26k test, 3×32×32), without the extra split; files in ``<root>/svhn``."""
    from torchvision.datasets import SVHN

    folder = data_root(root) / "svhn"

    def split(train: bool) -> Any:
        return SVHN(str(folder), split="train" if train else "test", download=download)

    train, test = _open("svhn", split, folder, download)
    return Dataset("svhn", images_from_uint8(train.data), train.labels.astype(np.int64),
                   images_from_uint8(test.data), test.labels.astype(np.int64), tuple(str(k) for k in range(10)),
                   source=f"torchvision SVHN in {folder.resolve()}", augmentation="none")


def _load(name: str, cls: type, root: Path, download: bool, augmentation: str) -> Dataset:
    train, test = _open(name, lambda train: cls(str(root), train=train, download=download), root, download)

    def images(split: Any) -> np.ndarray:
        data = np.asarray(split.data)
        # MNISTs are (n, h, w); CIFARs are (n, h, w, c).
        data = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
        return images_from_uint8(np.ascontiguousarray(data))

    return Dataset(name, images(train), np.asarray(train.targets, dtype=np.int64), images(test),
                   np.asarray(test.targets, dtype=np.int64), tuple(str(c) for c in train.classes),
                   source=f"torchvision {cls.__name__} in {root.resolve()}", augmentation=augmentation)


def _open(name: str, split: Any, folder: Path, download: bool) -> tuple[Any, Any]:
    try:
        return split(True), split(False)
    except RuntimeError as error:
        if download:
            raise
        raise FileNotFoundError(f"{name} not found under {folder.resolve()} (torchvision: {error}). Let it download "
                                "(download=True) to fetch it, or point root (or $ART_SOR_DATA) at an existing "
                                "copy") from error


def _stage_gzipped_idx(source: Path, raw_folder: Path) -> None:
    """Decompress local ``*.gz`` idx files into torchvision's raw folder, once."""
    for name in _IDX_FILES:
        target = raw_folder / name
        packed = source / f"{name}.gz"
        if target.exists() or not packed.exists():
            continue
        raw_folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
