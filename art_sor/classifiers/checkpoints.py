"""Model checkpoints: the weights and everything needed to rebuild the ART classifier around them.

A checkpoint is a dict saved with :func:`art_sor.storage.save_checked` (atomic, checksummed): architecture,
input shape, number of classes, clip values, standardisation, the ``state_dict`` and free-form metadata (art-sor's
runs put the full key of the run that produced the weights there).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.wrapping import standardisation, wrap_model
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
    state = load_checked(path, "model checkpoint", hint="; for a bare state_dict, pass its --architecture")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{path} is not an art-sor model checkpoint of format {CHECKPOINT_FORMAT} (found "
                               f"{state.get('format')!r}); for a bare state_dict pass its --architecture")
    return state


def load_classifier(path: str | os.PathLike[str], device: str = "auto") -> tuple[PyTorchClassifier, dict[str, Any]]:
    """Rebuild the ART classifier saved by :func:`save_classifier`, in eval mode.

    :return: The classifier and the checkpoint's contents.
    :raises CorruptFileError: If the file is not a valid checkpoint or its weights do not fit its architecture.
    """
    state = load_checkpoint(path)
    model = build_model(state["architecture"], state["input_shape"], state["nb_classes"])
    load_weights(model, state["state_dict"], f"{path}: its weights do not fit {state['architecture']}")
    model.eval()
    clip = state["clip_values"]
    classifier = wrap_model(model, state["input_shape"], state["nb_classes"], clip_values=None if clip is None
                            else tuple(clip), preprocessing=_preprocessing(state["preprocessing"]), device=device)
    return classifier, state


def load_state_dict_classifier(path: str | os.PathLike[str], architecture: str, input_shape: tuple[int, ...],
                               nb_classes: int, device: str = "auto") -> PyTorchClassifier:
    """An evaluation classifier from a bare ``state_dict`` of ``architecture`` (inputs in [0, 1], no standardisation).

    :raises CorruptFileError: If the file is not a torch ``state_dict`` that fits the architecture.
    """
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for files it cannot read
        raise CorruptFileError(f"{path} cannot be read as a torch state_dict ({type(error).__name__})") from error
    if not isinstance(weights, dict):
        raise CorruptFileError(f"{path} holds a {type(weights).__name__}, not a state_dict")
    model = build_model(architecture, input_shape, nb_classes)
    load_weights(model, weights, f"{path}: the state_dict does not fit {architecture}")
    model.eval()
    return wrap_model(model, input_shape, nb_classes, device=device)


def load_weights(model: torch.nn.Module, weights: dict[str, Any], problem: str) -> None:
    """Load ``weights`` into ``model``, or say which keys are missing, unexpected or of another shape.

    :param problem: The start of the error message (which file does not fit which architecture).
    :raises CorruptFileError: If the weights do not fit.
    """
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


def _some(items: list[str], shown: int = 5) -> str:
    """The first ``shown`` items, and how many more."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _preprocessing(stored: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    mean, std = (np.asarray(v, dtype=np.float32) for v in stored)
    # Per-channel statistics broadcast over (channels, height, width).
    return (mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)) if mean.size > 1 else (mean, std)
