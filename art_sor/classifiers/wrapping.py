"""ART ``PyTorchClassifier`` objects around art-sor's models, on the device the user asks for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.core.checks import check_choice
from art_sor.core.errors import SettingError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """Map ``"auto"``, ``"cpu"`` or ``"cuda"`` to ART's ``device_type`` (``"cpu"`` or ``"gpu"``).

    :raises ValueError: For another name, or ``"cuda"`` where torch sees no CUDA device.
    """
    check_choice(device, DEVICES, "device")
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingError("device is 'cuda' but torch sees no CUDA device; use 'cpu' or 'auto'", "device")
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return "gpu" if device == "cuda" else "cpu"


def wrap_model(model: nn.Module, input_shape: tuple[int, ...], nb_classes: int,
               optimizer: torch.optim.Optimizer | None = None,
               clip_values: tuple[float, float] | None = (0.0, 1.0),
               preprocessing: tuple[Any, Any] = (0.0, 1.0), device: str = "auto") -> PyTorchClassifier:
    """Wrap ``model`` in a ``PyTorchClassifier`` with cross-entropy loss.

    :param model: The network, producing logits.
    :param input_shape: Shape of one sample.
    :param nb_classes: Number of classes.
    :param optimizer: Optimizer over ``model``'s parameters, or ``None`` for a classifier that only evaluates.
    :param clip_values: Data range, or ``None``.
    :param preprocessing: ``(mean, std)`` standardisation applied inside the classifier, so that ε stays in the
                          raw pixel space.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :raises ValueError: If the standardisation's mean is not finite or its std is not finite and positive, or the
                        model's parameters are on the meta device.
    """
    if isinstance(preprocessing, (tuple, list)) and len(preprocessing) == 2:
        standardisation_arrays(*preprocessing)
    if any(parameter.is_meta for parameter in model.parameters()):
        raise ValueError("model has parameters on the meta device, which hold no values; build it on a real "
                         "device, or fill it with model.to_empty(device=...) and load its weights")
    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(input_shape),
                             nb_classes=nb_classes, optimizer=optimizer, clip_values=clip_values,
                             preprocessing=preprocessing, device_type=resolve_device(device))


def standardisation(classifier: PyTorchClassifier) -> tuple[list[float], list[float]]:
    """The classifier's ``(mean, std)`` standardisation as lists.

    :raises ValueError: If its preprocessing is not a plain mean/std standardisation.
    """
    preprocessing = classifier.preprocessing
    if preprocessing is None:
        return [0.0], [1.0]
    if not hasattr(preprocessing, "mean"):
        raise ValueError(f"classifier: only mean/std standardisation can be saved, got {preprocessing!r}")
    return (torch.as_tensor(preprocessing.mean).flatten().tolist(),
            torch.as_tensor(preprocessing.std).flatten().tolist())


def standardisation_arrays(mean: Sequence[float], std: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` as ART's ``preprocessing``: per-channel values shaped ``(channels, 1, 1)``, one value as is.

    :param mean: One value, or one per channel.
    :param std: As many values as ``mean``.
    :raises SettingError: Naming ``mean`` or ``std`` if a mean is not finite or a std is not finite and
                          positive: every output of the model would be NaN or inf.
    """
    mean_array, std_array = (np.asarray(v, dtype=np.float32).reshape(-1) for v in (mean, std))
    if not np.isfinite(mean_array).all():
        raise SettingError(f"the standardisation's mean must be finite, got {mean_array.tolist()}", "mean")
    if not (np.isfinite(std_array).all() and (std_array > 0).all()):
        raise SettingError(f"the standardisation's std must be finite and > 0 (inputs are divided by it), got "
                           f"{std_array.tolist()}", "std")
    # Per-channel statistics broadcast over (channels, height, width).
    if mean_array.size > 1 or std_array.size > 1:
        return mean_array.reshape(-1, 1, 1), std_array.reshape(-1, 1, 1)
    return mean_array, std_array
