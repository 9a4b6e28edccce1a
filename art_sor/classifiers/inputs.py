"""Checks of what users hand to the ART-facing layers: classifiers, inputs and labels; errors name the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_RANGE_SLACK = 1e-6


class GeneratorError(RuntimeError):
    """A user's ``DataGenerator`` failed to deliver a batch; the message names it and the original error."""


def generator_batch(generator: Any) -> tuple[Any, Any]:
    """The next ``(x, y)`` of an ART ``DataGenerator``.

    :raises GeneratorError: If ``generator.get_batch()`` raises (the original error is chained).
    :raises TypeError: If it returns anything but a pair.
    """
    try:
        batch = generator.get_batch()
    except Exception as error:  # the user's code: any error, reported as theirs
        raise GeneratorError(f"generator.get_batch() raised {type(error).__name__}: {error}") from error
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        what = (f"a {type(batch).__name__} of {len(batch)} items" if isinstance(batch, (tuple, list))
                else f"a {type(batch).__name__}")
        raise TypeError(f"generator.get_batch() must return a pair (x, y), got {what}")
    return batch[0], batch[1]


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
    if need_optimizer:
        if not any(p.requires_grad for group in classifier.optimizer.param_groups for p in group["params"]):
            raise ValueError(f"{name}'s optimizer has no trainable parameters (every one has requires_grad=False), "
                             "so training could not change the model; unfreeze some layers")
        rates = [group.get("lr") for group in classifier.optimizer.param_groups]
        if all(isinstance(rate, (int, float)) and rate == 0 for rate in rates):
            raise ValueError(f"{name}'s optimizer has learning rate 0, so training would not change the model; "
                             "give it a positive lr")
    if not classifier.all_framework_preprocessing:
        raise ValueError(f"{name} uses preprocessing that is not written in PyTorch, so input gradients cannot "
                         "flow through it; use PyTorch preprocessors")


def check_input_dtype(classifier: Any, x: np.ndarray | torch.Tensor, name: str = "x") -> None:
    """Refuse floating inputs of another dtype than the model's parameters (torch would fail inside the model).

    :raises TypeError: Naming ``name``, its dtype and the model's.
    """
    data_dtype = x.dtype if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x[:1])).dtype
    model_dtype = next((p.dtype for p in classifier.model.parameters() if p.is_floating_point()), torch.float32)
    if data_dtype.is_floating_point and data_dtype != model_dtype:
        raise TypeError(f"{name} is {str(data_dtype).removeprefix('torch.')} but the model's parameters are "
                        f"{str(model_dtype).removeprefix('torch.')}; convert one to the other (x.astype(...) or "
                        "model.to(...))")


def check_finite_outputs(logits: np.ndarray, name: str = "x") -> None:
    """Refuse model outputs that are not finite: every accuracy and attack measured on them would be noise.

    :param logits: The model's outputs on ``name``.
    :raises ValueError: Saying for how many inputs the outputs hold NaN or inf.
    """
    bad = int((~np.isfinite(logits)).any(axis=tuple(range(1, logits.ndim))).sum())
    if bad:
        raise ValueError(f"classifier.model returns NaN or inf logits for {bad} of the {len(logits)} inputs of "
                         f"{name}; check its weights and standardisation")


def check_inputs(x: object, input_shape: tuple[int, ...], name: str = "x",
                 clip_values: tuple[Any, Any] | None = None) -> np.ndarray | torch.Tensor:
    """Check a batch of inputs: finite numbers whose samples have shape ``input_shape``, inside ``clip_values``.

    :param x: A NumPy array, or a CPU torch tensor (as a ``DataLoader`` yields).
    :param clip_values: The classifier's data range; inputs outside it are refused (for example 0..255 images
                        given to a classifier whose range is [0, 1]).
    :return: ``x`` itself, or a contiguous copy of an array with negative strides (``x[::-1]``), which torch
             cannot wrap; never ``x`` modified.
    """
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    values = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {values.dtype}")
    if np.issubdtype(values.dtype, np.complexfloating):
        raise TypeError(f"{name} holds complex numbers ({values.dtype}); images must be real (float32)")
    if tuple(values.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{name} has samples of shape {tuple(values.shape[1:])}, but the classifier's input_shape "
                         f"is {tuple(input_shape)}")
    if values.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or inf")
    if clip_values is not None:
        low, high = (np.broadcast_to(np.asarray(v, dtype=np.float64), tuple(input_shape)) for v in clip_values)
        # A little slack for data scaled in float32 arithmetic.
        if np.any(values < low - _RANGE_SLACK) or np.any(values > high + _RANGE_SLACK):
            raise ValueError(f"{name} has values in [{values.min():g}, {values.max():g}], outside the classifier's "
                             f"clip_values [{low.min():g}, {high.max():g}]; scale the data into that range (e.g. "
                             "divide 0..255 images by 255)")
    if isinstance(x, np.ndarray) and any(stride < 0 for stride in x.strides):
        return np.ascontiguousarray(x)
    return x


def to_index_labels(y: object, nb_classes: int, name: str = "y") -> np.ndarray:
    """Return class indices (a new int64 array) from integer indices or one-hot rows.

    :raises ValueError: For labels out of ``[0, nb_classes)``, rows that are not one-hot, or other shapes.
    """
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
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
                  names: tuple[str, str] = ("x", "y"), clip_values: tuple[Any, Any] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Check inputs and labels together; return the inputs and the labels as class indices."""
    x = check_inputs(x, input_shape, names[0], clip_values)
    labels = to_index_labels(y, nb_classes, names[1])
    if len(labels) != len(x):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths: {len(x)} and {len(labels)}")
    return x, labels
