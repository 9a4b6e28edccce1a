"""Data that installs with Python packages: scikit-learn's digits and the 20 CIFAR-10 images in foolbox's wheel."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from art_sor.data.dataset import Dataset

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_digits() -> Dataset:
    """scikit-learn's 8×8 handwritten digits (1797 images), split 75/25 with a fixed, stratified seed."""
    import sklearn
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Dataset("digits", x_train, y_train, x_test, y_test, tuple(str(k) for k in range(10)),
                   source=f"scikit-learn {sklearn.__version__} load_digits, stratified 75/25 split, seed 0")


def load_foolbox_cifar10(source: str | os.PathLike[str] | None = None) -> Dataset:
    """The 20 CIFAR-10 test images in foolbox's ``data`` folder (``cifar10_<index>_<label>.png``), test split only.

    :param source: foolbox's ``data`` folder, or a foolbox wheel; by default the installed foolbox package.
    """
    from PIL import Image

    pattern = re.compile(r"(?:^|/)cifar10_(\d+)_(\d)\.png$")
    if source is None:
        spec = importlib.util.find_spec("foolbox")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("cifar10-foolbox needs foolbox installed (pip install foolbox) or the path to "
                                    "its wheel or data folder (root)")
        source = Path(next(iter(spec.submodule_search_locations))) / "data"
    source = Path(source)
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            files = {name: wheel.read(name) for name in wheel.namelist() if pattern.search(name)}
    else:
        files = {str(path): path.read_bytes() for path in source.glob("cifar10_*.png") if pattern.search(str(path))}
    if not files:
        raise FileNotFoundError(f"cifar10-foolbox: no cifar10_<index>_<label>.png images in {source}; its root "
                                "is foolbox's wheel or its data folder")
    ordered = sorted(files, key=lambda name: int(pattern.search(name).group(1)))
    x = np.stack([np.asarray(Image.open(io.BytesIO(files[name])).convert("RGB"), dtype=np.float32) / 255.0
                  for name in ordered]).transpose(0, 3, 1, 2)
    y = np.array([int(pattern.search(name).group(2)) for name in ordered], dtype=np.int64)
    return Dataset("cifar10-foolbox", x[:0], y[:0], x, y, CIFAR10_CLASSES, source=f"foolbox images in {source}")
