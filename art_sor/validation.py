"""Argument checks shared by the ART-facing layers: every error names the argument at fault."""

from __future__ import annotations

import numpy as np

from art_sor.core.checks import check_count, check_non_negative, check_positive

__all__ = ["check_count", "check_dataset", "check_inputs", "check_non_negative", "check_positive",
           "check_pytorch_classifier", "to_index_labels"]


def check_pytorch_classifier(classifier: object, name: str = "classifier", need_optimizer: bool = False) -> None:
    """Check that ``classifier`` is an ART ``PyTorchClassifier`` (with an optimizer if ``need_optimizer``).

    :raises TypeError: If it is another kind of estimator.
    :raises ValueError: If an optimizer is needed and missing, or its preprocessing is not differentiable.
    """
    from art.estimators.classification import PyTorchClassifier

    if not isinstance(classifier, PyTorchClassifier):
        raise TypeError(f"{name} must be an art.estimators.classification.PyTorchClassifier, "
                        f"got {type(classifier).__name__}")
    if need_optimizer and classifier.optimizer is None:
        raise ValueError(f"{name} has no optimizer; pass optimizer=... when building the PyTorchClassifier")
    if not classifier.all_framework_preprocessing:
        raise ValueError(f"{name} uses preprocessing that is not written in PyTorch, so input gradients cannot "
                         "flow through it; use PyTorch preprocessors")


def check_inputs(x: object, input_shape: tuple[int, ...], name: str = "x") -> np.ndarray:
    """Check a batch of inputs: a finite floating array whose samples have shape ``input_shape``.

    :return: ``x`` as a NumPy array (not a copy when it already is one).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{name} has samples of shape {tuple(x.shape[1:])}, but the classifier's input_shape is "
                         f"{tuple(input_shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def to_index_labels(y: object, nb_classes: int, name: str = "y") -> np.ndarray:
    """Return class indices (a new int64 array) from integer indices or one-hot rows.

    :raises ValueError: For labels out of ``[0, nb_classes)``, rows that are not one-hot, or other shapes.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.shape[1] != nb_classes:
            raise ValueError(f"{name} has {y.shape[1]} columns, expected one-hot rows of {nb_classes} classes")
        one_hot = np.all((y == 0) | (y == 1), axis=1) & (y.sum(axis=1) == 1)
        if not np.all(one_hot):
            raise ValueError(f"{name} row {int(np.argmin(one_hot))} is not one-hot; pass class indices or one-hot "
                             "rows")
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be class indices of shape (n,) or one-hot of shape (n, {nb_classes}), "
                         f"got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        raise ValueError(f"{name} must hold integer class indices")
    if y.size and (y.min() < 0 or y.max() >= nb_classes):
        raise ValueError(f"{name} has labels outside [0, {nb_classes}): min {y.min()}, max {y.max()}")
    return y.astype(np.int64)


def check_dataset(x: object, y: object, input_shape: tuple[int, ...], nb_classes: int,
                  names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Check inputs and labels together; return the inputs and the labels as class indices."""
    x = check_inputs(x, input_shape, names[0])
    labels = to_index_labels(y, nb_classes, names[1])
    if len(labels) != len(x):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths: {len(x)} and {len(labels)}")
    return x, labels
