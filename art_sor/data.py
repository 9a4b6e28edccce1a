"""Datasets for the CLI jobs, as float32 arrays in ``[0, 1]`` with shape ``(n, channels, height, width)``.

``digits`` is scikit-learn's bundled copy and always works offline. ``fashion-mnist`` is read by torchvision
from local raw files: the Debian package ``dataset-fashion-mnist`` installs them (gzipped) into
``/usr/share/datasets/fashion-mnist``; elsewhere, ``download=True`` lets torchvision fetch them.
``cifar10-foolbox`` is the 20 real CIFAR-10 test images that foolbox ships (test split only), read from an
installed foolbox, its unpacked ``data`` folder or its wheel file, for evaluating CIFAR-10 models.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                       "t10k-labels-idx1-ubyte")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATASETS = ("digits", "fashion-mnist", "cifar10-foolbox")


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of an image classification dataset with pixel values in ``[0, 1]``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, channels first."""
        return tuple(self.x_train.shape[1:])

    @property
    def nb_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    clip_values = (0.0, 1.0)


def cache_dir() -> Path:
    """Folder for prepared data: ``$ART_SOR_DATA`` or ``~/.cache/art-sor``."""
    return Path(os.environ.get("ART_SOR_DATA", Path.home() / ".cache" / "art-sor"))


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Load a dataset by name.

    :param name: ``"digits"`` or ``"fashion-mnist"``.
    :param root: Where torchvision keeps ``FashionMNIST/raw`` (default :func:`cache_dir`); for ``cifar10-foolbox``
                 foolbox's ``data`` folder or wheel (default: the installed foolbox package).
    :param download: Let torchvision download Fashion-MNIST when no local copy is found.
    """
    if name == "digits":
        return load_digits()
    if name == "fashion-mnist":
        return load_fashion_mnist(root, download)
    if name == "cifar10-foolbox":
        return load_foolbox_cifar10(root)
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")


def load_digits() -> Dataset:
    """scikit-learn's 8×8 handwritten digits (1797 images), split 75/25 with a fixed, stratified seed."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Dataset("digits", x_train, y_train, x_test, y_test, tuple(str(k) for k in range(10)))


def load_fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST (60k/10k, 28×28) through torchvision, from local raw files when they exist."""
    from torchvision.datasets import FashionMNIST

    root = Path(root) if root is not None else cache_dir()
    _stage_raw_files(DEBIAN_FASHION_MNIST, root / "FashionMNIST" / "raw")
    try:
        train = FashionMNIST(str(root), train=True, download=download)
        test = FashionMNIST(str(root), train=False, download=download)
    except RuntimeError as error:
        raise FileNotFoundError(
            f"Fashion-MNIST not found under {root}/FashionMNIST/raw. Install the Debian package "
            "dataset-fashion-mnist, or pass download=True (CLI: --download) to let torchvision fetch it."
        ) from error

    def arrays(split: FashionMNIST) -> tuple[np.ndarray, np.ndarray]:
        return (split.data.numpy().astype(np.float32) / 255.0)[:, None], split.targets.numpy().astype(np.int64)

    x_train, y_train = arrays(train)
    x_test, y_test = arrays(test)
    return Dataset("fashion-mnist", x_train, y_train, x_test, y_test, FASHION_MNIST_CLASSES)


def _stage_raw_files(source: Path, raw_folder: Path) -> None:
    """Decompress local ``*.gz`` idx files into torchvision's raw folder, once."""
    for name in FASHION_MNIST_FILES:
        target = raw_folder / name
        packed = source / f"{name}.gz"
        if target.exists() or not packed.exists():
            continue
        raw_folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)


def load_foolbox_cifar10(source: str | os.PathLike[str] | None = None) -> Dataset:
    """The 20 CIFAR-10 test images in foolbox's ``data`` folder (``cifar10_<index>_<label>.png``), test split only.

    :param source: foolbox's ``data`` folder, or a foolbox wheel; by default the installed foolbox package.
    """
    import io
    import re
    import zipfile

    from PIL import Image

    pattern = re.compile(r"(?:^|/)cifar10_(\d+)_(\d)\.png$")
    if source is None:
        import importlib.util

        spec = importlib.util.find_spec("foolbox")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("cifar10-foolbox needs foolbox installed (pip install foolbox) or the path to "
                                    "its wheel or data folder")
        source = Path(next(iter(spec.submodule_search_locations))) / "data"
    source = Path(source)
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            files = {name: wheel.read(name) for name in wheel.namelist() if pattern.search(name)}
    else:
        files = {str(path): path.read_bytes() for path in source.glob("cifar10_*.png") if pattern.search(str(path))}
    if not files:
        raise FileNotFoundError(f"no cifar10_<index>_<label>.png images in {source}")
    ordered = sorted(files, key=lambda name: int(pattern.search(name).group(1)))
    x = np.stack([np.asarray(Image.open(io.BytesIO(files[name])).convert("RGB"), dtype=np.float32) / 255.0
                  for name in ordered]).transpose(0, 3, 1, 2)
    y = np.array([int(pattern.search(name).group(2)) for name in ordered], dtype=np.int64)
    empty_x, empty_y = x[:0], y[:0]
    return Dataset("cifar10-foolbox", empty_x, empty_y, x, y, CIFAR10_CLASSES)
