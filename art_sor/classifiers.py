"""ART classifiers for art-sor's named architectures: build them, and save or load them as checkpoints.

A checkpoint is a ``torch.save`` of a dict with the model's ``state_dict`` and what is needed to rebuild the ART
classifier around it: architecture name, input shape, number of classes, clip values and preprocessing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.models import build_model

CHECKPOINT_FORMAT = "art-sor-model/1"


def resolve_device(device: str) -> str:
    """Map ``"auto"``, ``"cpu"`` or ``"cuda"`` to ART's ``device_type`` (``"cpu"`` or ``"gpu"``)."""
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device is 'cuda' but torch sees no CUDA device")
        return "gpu"
    if device == "cpu":
        return "cpu"
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")


def wrap_model(model: nn.Module, input_shape: tuple[int, ...], nb_classes: int, lr: float | None = 1e-3,
               clip_values: tuple[float, float] | None = (0.0, 1.0),
               preprocessing: tuple[Any, Any] = (0.0, 1.0), device: str = "auto") -> PyTorchClassifier:
    """Wrap ``model`` in a ``PyTorchClassifier`` with cross-entropy loss and, if ``lr`` is given, Adam.

    :param model: The network, producing logits.
    :param input_shape: Shape of one sample.
    :param nb_classes: Number of classes.
    :param lr: Adam's learning rate, or ``None`` for a classifier without optimizer (evaluation only).
    :param clip_values: Data range, or ``None``.
    :param preprocessing: ``(mean, std)`` standardisation applied inside the classifier.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr) if lr is not None else None
    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(input_shape),
                             nb_classes=nb_classes, optimizer=optimizer, clip_values=clip_values,
                             preprocessing=preprocessing, device_type=resolve_device(device))


def build_classifier(architecture: str, input_shape: tuple[int, ...], nb_classes: int, **kwargs: Any
                     ) -> PyTorchClassifier:
    """Build a freshly initialised named architecture and wrap it (keyword arguments go to :func:`wrap_model`)."""
    return wrap_model(build_model(architecture, input_shape, nb_classes), input_shape, nb_classes, **kwargs)


def save_classifier(path: str | os.PathLike[str], classifier: PyTorchClassifier, architecture: str,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Save the classifier's model as an art-sor checkpoint (atomically) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    standardisation = classifier.preprocessing
    if standardisation is None or not hasattr(standardisation, "mean"):
        raise ValueError(f"classifier: only mean/std standardisation can be saved, got {standardisation!r}")
    state = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "input_shape": tuple(classifier.input_shape),
        "nb_classes": classifier.nb_classes,
        "clip_values": None if classifier.clip_values is None else [float(v) for v in classifier.clip_values],
        "preprocessing": [standardisation.mean.tolist(), standardisation.std.tolist()],
        "state_dict": {k: v.detach().cpu() for k, v in classifier.model.state_dict().items()},
        "metadata": metadata or {},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an art-sor checkpoint, checking its format."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an art-sor model checkpoint; for a bare state_dict pass its architecture")
    return state


def load_classifier(path: str | os.PathLike[str], lr: float | None = None, device: str = "auto"
                    ) -> tuple[PyTorchClassifier, dict[str, Any]]:
    """Rebuild the ART classifier saved by :func:`save_classifier`.

    :return: The classifier (in eval mode) and the checkpoint's contents.
    """
    state = load_checkpoint(path)
    model = build_model(state["architecture"], state["input_shape"], state["nb_classes"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    clip = state["clip_values"]
    classifier = wrap_model(model, state["input_shape"], state["nb_classes"], lr=lr,
                            clip_values=None if clip is None else tuple(clip),
                            preprocessing=tuple(np.asarray(v, dtype=np.float32) for v in state["preprocessing"]),
                            device=device)
    return classifier, state
