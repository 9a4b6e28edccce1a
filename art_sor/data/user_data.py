"""The user's own data: an ``.npz`` file of arrays, or an ``ImageFolder`` tree with ``train/`` and ``test/``."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.data.dataset import Dataset, check_images, check_labels, images_from_uint8

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
GREY_MODES = ("L", "1", "I;16", "I;16B", "I;16L", "I")
"""Pillow modes of greyscale images; ``I;16*`` and ``I`` hold 16-bit values."""


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """Arrays ``x_train``, ``y_train``, ``x_test`` and ``y_test`` from an ``.npz`` file (``class_names`` optional).

    Images are channels first, ``(n, c, h, w)``, either uint8 (divided by 255) or float in ``[0, 1]``; labels are
    integers from 0.

    :raises FileNotFoundError: If the file does not exist.
    :raises ValueError: Naming the key, shape, dtype or range that is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz:{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"npz:{path} is not a NumPy .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"npz:{path} holds one array (a .npy file), not an .npz archive; save the data with "
                         f"np.savez(path, {', '.join(f'{key}=...' for key in NPZ_KEYS)})")
    with archive:
        missing = [key for key in NPZ_KEYS if key not in archive.files]
        if missing:
            raise ValueError(f"npz:{path} lacks the key(s) {', '.join(missing)}; it needs {', '.join(NPZ_KEYS)}")
        x_train, x_test = (check_images(archive[k], f"npz {k}") for k in ("x_train", "x_test"))
        for key, images in (("x_train", x_train), ("x_test", x_test)):
            if not len(images):
                raise ValueError(f"npz:{path}: {key} holds no images; both splits need some")
        y_train = check_labels(archive["y_train"], len(x_train), "npz y_train")
        y_test = check_labels(archive["y_test"], len(x_test), "npz y_test")
        names = tuple(str(n) for n in archive["class_names"]) if "class_names" in archive.files else None
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"npz x_train has images of shape {x_train.shape[1:]} but x_test {x_test.shape[1:]}")
    classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    if names is not None and len(names) < classes:
        raise ValueError(f"npz class_names has {len(names)} names but the labels reach {classes - 1}")
    # Checked before anything class-sized is allocated: a stray label of 2**40 would otherwise claim that many.
    images = len(y_train) + len(y_test)
    if names is None and classes > images:
        key = "y_train" if y_train.max(initial=-1) >= y_test.max(initial=-1) else "y_test"
        raise ValueError(f"npz {key} has the label {classes - 1}, so the classes would number {classes}, more than "
                         f"the {images} images; labels must be class indices 0..K-1 (store class_names to name "
                         "the K classes)")
    if names is None:
        names = tuple(str(k) for k in range(classes))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Dataset(f"npz:{path}", x_train, y_train, x_test, y_test, names,
                   source=f"npz {path.resolve()} (sha256 {digest})")


def load_image_folder(path: str | os.PathLike[str]) -> Dataset:
    """An ``ImageFolder`` tree: ``path/train/<class>/*.png`` and ``path/test/<class>/*.png``, all of one size.

    Classes are the ``train`` subfolders, sorted; images are RGB unless every one is greyscale.

    :raises FileNotFoundError: If ``train/`` or ``test/`` is missing.
    :raises ValueError: For test classes without training images, or images of different sizes.
    """
    from torchvision.datasets import ImageFolder

    path = Path(path)
    for split in ("train", "test"):
        if not (path / split).is_dir():
            raise FileNotFoundError(f"folder:{path} needs the subfolders train/ and test/ (ImageFolder layout: "
                                    f"{split}/<class>/<image>); {path / split} is missing")
    splits = {}
    for split in ("train", "test"):
        try:
            splits[split] = ImageFolder(str(path / split))
        except FileNotFoundError as error:
            raise FileNotFoundError(f"folder:{path}: {split}/ holds no images ({error})") from error
    train, test = splits["train"], splits["test"]
    extra = sorted(set(test.classes) - set(train.classes))
    if extra:
        raise ValueError(f"folder:{path}: test classes {extra} have no training folder")
    files = [file for file, _ in train.samples + test.samples]
    grey = all(_open_image(path, file, decode=False).mode in GREY_MODES for file in files)

    def arrays(split: ImageFolder, remap: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        images, size = [], None
        for file, _ in split.samples:
            image = _open_image(path, file)
            if size is None:
                size = image.size
            elif image.size != size:
                raise ValueError(f"folder:{path}: {file} is {image.size[0]}×{image.size[1]}, the others "
                                 f"{size[0]}×{size[1]}; resize the images to one size")
            pixels = _pixels(path, file, image, grey)
            images.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
        labels = np.array([remap[target] for _, target in split.samples], dtype=np.int64)
        return np.stack(images), labels

    x_train, y_train = arrays(train, {i: i for i in range(len(train.classes))})
    x_test, y_test = arrays(test, {i: train.class_to_idx[name] for i, name in enumerate(test.classes)})
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"folder:{path}: train images are {x_train.shape[1:]}, test images {x_test.shape[1:]}")
    return Dataset(f"folder:{path}", x_train, y_train, x_test, y_test, tuple(train.classes),
                   source=f"ImageFolder {path.resolve()}")


def _open_image(folder: Path, file: str, decode: bool = True) -> Any:
    """Open (and with ``decode`` decode) one image of ``folder:``, naming the file if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(file)
        if decode:
            image.load()  # now: a truncated file fails here, not later in a conversion
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise ValueError(f"folder:{folder}: {file} cannot be read as an image ({error}); remove or re-save it") \
            from error
    return image


def _pixels(folder: Path, file: str, image: Any, grey: bool) -> np.ndarray:
    """The image as float32 in ``[0, 1]``, ``(h, w)`` if ``grey`` else ``(h, w, 3)``; 16-bit values keep their depth.

    Pillow's conversion of a 16-bit image to 8 bits clips rather than scales (every value above 255 becomes
    white), so 16-bit images are scaled by hand.
    """
    if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
        return images_from_uint8(np.asarray(image.convert("L" if grey else "RGB"), dtype=np.uint8))
    values = np.asarray(image)
    if values.min(initial=0) < 0 or values.max(initial=0) > 65535:
        raise ValueError(f"folder:{folder}: {file} holds values in [{values.min()}, {values.max()}], outside the "
                         "16-bit range 0..65535")
    pixels = (values.astype(np.float64) / 65535).astype(np.float32)
    return pixels if grey else np.repeat(pixels[..., None], 3, axis=2)
