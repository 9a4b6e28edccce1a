"""art-sor's built-in datasets, registered in the ``art_sor.datasets`` entry-point group.

A factory takes ``root`` and ``download`` only if it reads them (see :data:`art_sor.registry.DATASETS`).
"""

from __future__ import annotations

import os

from art_sor.data.bundled import load_digits, load_foolbox_cifar10
from art_sor.data.dataset import Dataset
from art_sor.data.torchvision_sets import load_cifar10, load_cifar100, load_fashion_mnist, load_mnist, load_svhn
from art_sor.data.user_data import load_image_folder, load_npz

Root = str | os.PathLike[str] | None


def digits() -> Dataset:
    """scikit-learn's bundled 8×8 digits (1347 train / 450 test); always offline."""
    return load_digits()


def mnist(root: Root = None, download: bool = False) -> Dataset:
    """MNIST, 60k/10k 1×28×28 (torchvision; --download fetches it)."""
    return load_mnist(root, download)


def fashion_mnist(root: Root = None, download: bool = False) -> Dataset:
    """Fashion-MNIST, 60k/10k 1×28×28 (Debian's dataset-fashion-mnist, or --download)."""
    return load_fashion_mnist(root, download)


def cifar10(root: Root = None, download: bool = False) -> Dataset:
    """CIFAR-10, 50k/10k 3×32×32 (torchvision; --download fetches it); crop-flip augmentation by default."""
    return load_cifar10(root, download)


def cifar100(root: Root = None, download: bool = False) -> Dataset:
    """CIFAR-100, 50k/10k 3×32×32, fine labels (torchvision); crop-flip augmentation by default."""
    return load_cifar100(root, download)


def svhn(root: Root = None, download: bool = False) -> Dataset:
    """SVHN, 73k/26k 3×32×32 without the extra split (torchvision; --download fetches it)."""
    return load_svhn(root, download)


def npz(path: str) -> Dataset:
    """Your arrays: npz:PATH with x_train, y_train, x_test, y_test (channels first; uint8 or float in [0, 1]).

    :param path: The .npz file.
    """
    return load_npz(path)


def folder(path: str) -> Dataset:
    """Your images: folder:PATH in torchvision's ImageFolder layout, with train/ and test/ subfolders.

    :param path: The folder holding train/ and test/.
    """
    return load_image_folder(path)


def cifar10_foolbox(root: Root = None) -> Dataset:
    """The 20 CIFAR-10 test images in foolbox's wheel; evaluation only (no training split)."""
    return load_foolbox_cifar10(root)
