"""Model checkpoints: the weights and everything needed to rebuild the ART classifier around them.

A checkpoint is a dict saved with :func:`art_sor.storage.save_checked` (atomic, checksummed): architecture,
input shape, number of classes, clip values, standardisation, the ``state_dict`` and free-form metadata (art-sor's
runs put the full key of the run that produced the weights there).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.classifiers.wrapping import standardisation, standardisation_arrays, wrap_model
from art_sor.models import build_model
from art_sor.storage import CorruptFileError, load_checked, save_checked

CHECKPOINT_FORMAT = "art-sor-model/2"


def save_classifier(path: str | os.PathLike[str], classifier: PyTorchClassifier, architecture: str,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Save the classifier's model as an art-sor checkpoint (atomically, with a checksum) and return the path."""
    mean, std = standardisation(classifier)
    state = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "input_shape": list(classifier.input_shape),
        "nb_classes": int(classifier.nb_classes),
        "clip_values": None if classifier.clip_values is None else [float(v) for v in classifier.clip_values],
        "preprocessing": [mean, std],
        "state_dict": {k: v.detach().cpu() for k, v in classifier.model.state_dict().items()},
        "metadata": metadata or {},
    }
    return save_checked(path, state)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an art-sor checkpoint, checking its format and checksum.

    :raises CorruptFileError: If the file is not an art-sor checkpoint of this format, or is corrupted.
    """
    state = load_checked(path, "model checkpoint", hint="; for a bare state_dict, give its architecture")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{path} is not an art-sor model checkpoint of format {CHECKPOINT_FORMAT} (found "
                               f"{state.get('format')!r}); for a bare state_dict give its architecture")
    return state


def load_classifier(path: str | os.PathLike[str], device: str = "auto") -> tuple[PyTorchClassifier, dict[str, Any]]:
    """Rebuild the ART classifier saved by :func:`save_classifier`, in eval mode.

    :return: The classifier and the checkpoint's contents.
    :raises CorruptFileError: If the file is not a valid checkpoint or its weights do not fit its architecture.
    """
    state = load_checkpoint(path)
    model = model_with_weights(state["architecture"], state["input_shape"], state["nb_classes"], state["state_dict"],
                               f"{path}: its weights do not fit {state['architecture']}")
    clip = state["clip_values"]
    try:
        preprocessing = standardisation_arrays(*state["preprocessing"])
    except ValueError as error:
        raise CorruptFileError(f"{path}: {error}") from error
    classifier = wrap_model(model, state["input_shape"], state["nb_classes"], clip_values=None if clip is None
                            else tuple(clip), preprocessing=preprocessing, device=device)
    return classifier, state


def load_state_dict_classifier(path: str | os.PathLike[str], architecture: str, input_shape: tuple[int, ...],
                               nb_classes: int, device: str = "auto",
                               preprocessing: tuple[Any, Any] = (0.0, 1.0)) -> PyTorchClassifier:
    """An evaluation classifier from a bare ``state_dict`` of ``architecture``, taking inputs in [0, 1].

    :param preprocessing: ``(mean, std)`` of the inputs the model was trained on (see
                          :func:`~art_sor.classifiers.wrapping.standardisation_arrays`), applied inside the
                          classifier so that ε stays in pixel space; ``(0, 1)`` for none.
    :raises CorruptFileError: If the file is not a torch ``state_dict`` that fits the architecture.
    """
    weights = read_torch_dict(path, "a torch state_dict")
    model = model_with_weights(architecture, input_shape, nb_classes, weights,
                               f"{path}: the state_dict does not fit {architecture}")
    return wrap_model(model, input_shape, nb_classes, preprocessing=preprocessing, device=device)


def read_torch_dict(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A dict saved with ``torch.save``, read with ``weights_only=True`` (tensors and plain containers, no code).

    :param what: What the file should be, for messages (``"a torch state_dict"``).
    :raises CorruptFileError: If the file is empty, cannot be read so, or holds something else than a dict.
    """
    if Path(path).stat().st_size == 0:
        raise CorruptFileError(f"{path} is empty, not {what}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for files it cannot read
        # Say why: for weights_only's refusal, torch's "WeightsUnpickler error" line names the object it refused.
        raise CorruptFileError(f"{path} cannot be read as {what} ({type(error).__name__}: "
                               f"{_load_failure(str(error))})") from error
    if not isinstance(content, dict):
        raise CorruptFileError(f"{path} holds a {type(content).__name__}, not {what}")
    return content


def _load_failure(message: str) -> str:
    """What ``torch.load(weights_only=True)`` refused, without torch's advice to unpickle the file.

    For weights_only's refusal torch's ``WeightsUnpickler error:`` names the object (``Unsupported global: ...``)
    or the byte it could not read; the sentences around it suggest ``weights_only=False``, which would run the
    file's code, and are dropped.
    """
    lines = [line.strip() for line in message.splitlines()]
    marker = "WeightsUnpickler error:"
    at = next((i for i, line in enumerate(lines) if marker in line), None)
    if at is None:
        return lines[0] if lines else ""
    reason = lines[at].split(marker, 1)[1].strip() or next((line for line in lines[at + 1:] if line), "")
    reason = reason.split(". ")[0].removesuffix(".")
    if "global" in reason.lower():
        return f"{reason}; a file that needs code to load is refused rather than run: save its state_dict"
    return reason


def model_with_weights(architecture: str, input_shape: Sequence[int], nb_classes: int,
                       weights: dict[str, torch.Tensor], problem: str) -> nn.Module:
    """``architecture`` built for ``input_shape`` and ``nb_classes`` with ``weights`` loaded strictly, in eval mode.

    :param problem: The start of the error message if they do not fit (which file does not fit which architecture).
    :raises CorruptFileError: If the weights do not fit: the message lists the missing, unexpected and misshapen keys.
    """
    model = build_model(architecture, tuple(input_shape), nb_classes)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        expected = model.state_dict()
        missing = [key for key in expected if key not in weights]
        unexpected = [key for key in weights if key not in expected]
        reshaped = [f"{key} {tuple(weights[key].shape)} in the file, {tuple(value.shape)} in the model"
                    for key, value in expected.items()
                    if key in weights and hasattr(weights[key], "shape") and weights[key].shape != value.shape]
        parts = [f"{label} {_some(keys)}" for label, keys in (("missing keys", missing),
                                                               ("unexpected keys", unexpected),
                                                               ("other shapes", reshaped)) if keys]
        raise CorruptFileError(f"{problem}: {'; '.join(parts) or str(error).splitlines()[0]}") from error
    return model.eval()


def check_finite_model(classifier: PyTorchClassifier, x: np.ndarray, source: str | os.PathLike[str]) -> None:
    """Refuse a model whose weights or outputs on ``x`` are not finite: every evaluation of it would be noise.

    :param x: A few inputs to run the model on.
    :param source: The model's file or name, for messages.
    :raises CorruptFileError: Naming ``source`` and the first tensor holding NaN or inf, or saying that the outputs
                              on ``x`` are not finite.
    """
    for name, tensor in classifier.model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CorruptFileError(f"{source}: its weight {name} holds NaN or inf values, so the model's outputs are "
                                   "not finite")
    logits = classifier.predict(np.ascontiguousarray(x), batch_size=len(x))
    if not np.isfinite(logits).all():
        raise CorruptFileError(f"{source}: the model's outputs on {len(x)} test images are not finite (NaN or inf "
                               "logits); check its weights and standardisation")


def _some(items: list[str], shown: int = 5) -> str:
    """The first ``shown`` items, and how many more."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
