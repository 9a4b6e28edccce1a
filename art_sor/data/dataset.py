"""A dataset as arrays: float32 images in ``[0, 1]``, channels first, with integer labels; and checks of user data."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUGMENTATIONS = ("none", "crop-flip")
"""``crop-flip``: random crop with 4-pixel zero padding and horizontal flip (the CIFAR standard)."""


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of an image classification dataset with pixel values in ``[0, 1]``.

    :ivar name: The dataset's spec (``cifar10``, ``npz:/path/file.npz``).
    :ivar x_train: Training images, float32 ``(n, c, h, w)`` in ``[0, 1]`` (empty for evaluation-only data).
    :ivar y_train: Training labels, int64 ``(n,)``.
    :ivar x_test: Test images.
    :ivar y_test: Test labels.
    :ivar class_names: One name per class.
    :ivar source: Where the arrays came from (loader and files), for run keys and reports.
    :ivar augmentation: The augmentation that suits this data by default (one of :data:`AUGMENTATIONS`).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""
    augmentation: str = "none"

    clip_values = (0.0, 1.0)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, channels first."""
        return tuple(self.x_test.shape[1:])

    @property
    def nb_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def fingerprint(self) -> str:
        """SHA-256 of the four arrays: equal fingerprints mean equal data, wherever it was loaded from."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Where datasets live: ``root`` if given, else ``$ART_SOR_DATA``, else ``~/.cache/art-sor``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("ART_SOR_DATA") or Path.home() / ".cache" / "art-sor")


def images_from_uint8(images: np.ndarray) -> np.ndarray:
    """8-bit images to float32 in ``[0, 1]``."""
    return images.astype(np.float32) / np.float32(255.0)


_CHANNELS = (1, 3, 4)
"""Channel counts of images (grey, RGB, RGBA), to recognise an array stored channels last."""


def check_images(x: np.ndarray, name: str) -> np.ndarray:
    """Return user images as float32 in ``[0, 1]``, shape ``(n, c, h, w)``; uint8 images are divided by 255.

    :raises ValueError: For another rank, a non-numeric dtype, non-finite values, or float values outside [0, 1].
    """
    if x.ndim != 4:
        raise ValueError(f"{name} must have rank 4, (n, channels, height, width), got shape {x.shape}")
    if x.shape[1] not in _CHANNELS and x.shape[3] in _CHANNELS:
        raise ValueError(f"{name} has shape {x.shape}, channels last; art-sor takes images channels first, "
                         "(n, channels, height, width): store np.transpose(x, (0, 3, 1, 2))")
    if x.dtype == np.uint8:
        return images_from_uint8(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    if x.size and (x.min() < 0 or x.max() > 1):
        # Nine digits, so that a value just outside (1.0000001) does not print as the bound itself.
        raise ValueError(f"{name} is float with values in [{x.min():.9g}, {x.max():.9g}]; float images must lie "
                         "in [0, 1] (store 8-bit images as uint8 to have them scaled)")
    return x.astype(np.float32)


def check_labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    """Return user labels as int64 ``(n,)``.

    :raises ValueError: For labels that are not integers, have another length or are negative.
    """
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must have shape ({n},), one label per image, got {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                    and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} has negative labels (min {y.min()})")
    return y.astype(np.int64)
