"""Saved models opened as ART classifiers, whatever their format, with the identity that keys their results.

The formats: art-sor checkpoints, MadryLab ``robustness`` checkpoints, bare state_dicts and RobustBench models.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.checkpoints import (
    check_finite_model,
    load_classifier,
    load_state_dict_classifier,
    read_torch_dict,
)
from art_sor.classifiers.published import (
    MADRY_ARCHITECTURE,
    ROBUSTBENCH_EPS,
    ROBUSTBENCH_THREATS,
    MadryCheckpoint,
    RobustBenchModel,
    load_robustbench_classifier,
    madry_checkpoint,
    madry_classifier,
    madry_normaliser,
    robustbench_dataset,
)
from art_sor.classifiers.wrapping import standardisation_arrays, wrap_model
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.storage import CHECKSUM_KEY, CorruptFileError

ROBUSTBENCH_MODEL_DIR = "models"
"""RobustBench's own default folder for its models."""
_FINITE_PROBE = 8
"""Test images a model is run on when opened, to refuse one whose outputs are not finite."""


class ModelMismatchError(SettingError):
    """A saved model that does not fit the data or the arguments given with it.

    :ivar setting: The argument of :func:`open_model` at fault (``data``, ``architecture``, ``standardisation``,
                   ``model_dir``, ``source``).
    """


class UnreadableModelError(CorruptFileError, SettingError):
    """A file no checkpoint format reads, given without the ``architecture`` that would read it as a state_dict."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "architecture")


@dataclass
class OpenedModel:
    """A saved model ready to evaluate.

    :ivar classifier: The ART classifier, on inputs in [0, 1].
    :ivar identity: What identifies the weights (a checksum, or a RobustBench name with its files' checksums).
    :ivar run: The key of the art-sor run that trained it, or ``None``.
    :ivar name: Its name in titles and captions.
    :ivar folder: Its part of the default output folder's name, different for every model.
    :ivar threat: The threat model it was trained for (``eps`` and ``norm``), where known.
    """

    classifier: PyTorchClassifier
    identity: dict[str, Any]
    run: dict[str, Any] | None
    name: str
    folder: str
    threat: dict[str, Any] | None = None


Standardisation = tuple[Sequence[float], Sequence[float]]
"""``(mean, std)`` of the inputs a model was trained on: one value, or one per channel, each."""


def recorded_dataset(source: Path | RobustBenchModel) -> str | None:
    """The dataset spec an art-sor checkpoint's run key records (``"fashion-mnist"``), or ``None``.

    Other models record none: a MadryLab checkpoint, a bare ``state_dict`` or a RobustBench model. A file that
    cannot be read gives ``None`` too; opening it reports what is wrong.
    """
    if isinstance(source, RobustBenchModel) or is_exported_program(source):
        return None
    try:
        content = read_torch_dict(source, "a model checkpoint or state_dict")
    except CorruptFileError:
        return None
    metadata = content.get("metadata") if CHECKSUM_KEY in content else None
    run = metadata.get("run") if isinstance(metadata, dict) else None
    spec = run.get("dataset", {}).get("spec") if isinstance(run, dict) else None
    return spec if isinstance(spec, str) else None


def open_model(source: Path | RobustBenchModel, data: Dataset, architecture: str | None = None,
               device: str = "auto", standardisation: Standardisation | None = None,
               model_dir: str | os.PathLike[str] | None = None, download: bool = False) -> OpenedModel:
    """Open a model and check that it fits ``data``.

    ``source`` is an art-sor checkpoint, a MadryLab ``robustness`` checkpoint (such as the SOR paper's models;
    ``architecture`` defaults to theirs, ``resnet18``), a bare ``state_dict`` of ``architecture``, a ``torch.export``
    program taking images in [0, 1] (:func:`~art_sor.classifiers.export.export_pytorch`), or a RobustBench model
    (see :mod:`art_sor.classifiers.published`).

    :param standardisation: ``(mean, std)`` for a bare ``state_dict`` of a model trained on standardised inputs,
                            applied inside the classifier so that ε stays in pixel space; refused for the other
                            formats, which carry their own.
    :param model_dir: Where RobustBench keeps its models (default ``models``); refused for other models.
    :param download: Let RobustBench download missing weights.
    :raises art_sor.storage.CorruptFileError: If the file cannot be read as such, its run key names an unknown
                                              threat model, or the model's weights or outputs on a few test images
                                              are not finite.
    :raises ModelMismatchError: If the model's input shape or number of classes is not the dataset's, or an
                                option does not apply to the model.
    :raises ImportError: For a RobustBench model without the ``robustbench`` extra.
    :raises FileNotFoundError: For a RobustBench model whose weights are missing and ``download`` is false.
    """
    if isinstance(source, RobustBenchModel):
        return _open_robustbench(source, data, architecture, standardisation, model_dir or ROBUSTBENCH_MODEL_DIR,
                                 download, device)
    if model_dir is not None:
        raise ModelMismatchError(f"{source} is a file, not a robustbench:NAME model, the only kind a RobustBench "
                                 "model folder applies to", "model_dir")
    if is_exported_program(source):
        opened = _open_exported_program(source, data, architecture, standardisation, device)
    else:
        opened = _open_torch_file(source, data, architecture, standardisation, device)
    shape, classes = tuple(opened.classifier.input_shape), opened.classifier.nb_classes
    if shape != data.input_shape:
        raise ModelMismatchError(f"the model expects inputs of shape {shape}, but {data.name} has "
                                 f"{data.input_shape}", "data")
    if classes != data.nb_classes:
        raise ModelMismatchError(f"the model has {classes} classes, but {data.name} has {data.nb_classes}",
                                 "data")
    check_finite_model(opened.classifier, data.x_test[:_FINITE_PROBE], source.name if isinstance(
        source, RobustBenchModel) else source)
    return opened


def _open_torch_file(source: Path, data: Dataset, architecture: str | None, standardisation: Standardisation | None,
                     device: str) -> OpenedModel:
    """An art-sor or MadryLab checkpoint, or a bare state_dict of ``architecture``."""
    content = read_torch_dict(source, "a model checkpoint or state_dict")
    if CHECKSUM_KEY in content:  # written by art-sor: its own errors (corrupted, edited) are the ones to report
        return _open_art_sor(source, architecture, standardisation, device)
    madry = madry_checkpoint(content, source)
    if madry is not None:
        return _open_madry(source, madry, data, architecture, standardisation, device)
    if architecture is None:
        raise UnreadableModelError(f"{source} is neither an art-sor checkpoint nor a MadryLab robustness checkpoint; "
                                   "for a bare state_dict give its architecture")
    preprocessing = _standardisation(standardisation, data.input_shape[0])
    classifier = load_state_dict_classifier(source, architecture, data.input_shape, data.nb_classes, device,
                                            preprocessing)
    identity = {"state_dict": _sha256(source), "architecture": architecture,
                "standardisation": None if standardisation is None else
                [[float(v) for v in values] for values in standardisation]}
    return OpenedModel(classifier, identity, None, source.stem, checkpoint_folder(source))


def is_exported_program(path: Path) -> bool:
    """Whether ``path`` is a ``torch.export`` archive (``.pt2``), such as ``art-sor export --format pytorch`` writes."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/archive_format") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _open_exported_program(path: Path, data: Dataset, architecture: str | None,
                           standardisation: Standardisation | None, device: str) -> OpenedModel:
    if architecture is not None or standardisation is not None:
        raise ModelMismatchError("this torch.export program carries its own network and standardisation; give it "
                                 "no architecture or standardisation",
                                 "architecture" if architecture is not None else "standardisation")
    try:
        module = torch.export.load(path).module()
    except Exception as error:  # torch raises many kinds for a damaged archive
        raise CorruptFileError(f"{path} is not a torch.export program that torch can load ({error})") from error
    classifier = wrap_model(_ExportedModule(module), data.input_shape, data.nb_classes, device=device)
    return OpenedModel(classifier, {"exported_program": _sha256(path)}, None, f"{path.stem} (torch.export)",
                       checkpoint_folder(path))


class _ExportedModule(torch.nn.Module):
    """A loaded ``torch.export`` program as a module that ART may switch to eval mode.

    The program refuses ``train()``: it was exported in eval mode and stays so.
    """

    def __init__(self, program: torch.nn.Module) -> None:
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> _ExportedModule:
        """Record the mode only: the program's own behaviour is fixed."""
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The program's logits."""
        return self.program(x)


def _open_art_sor(path: Path, architecture: str | None, standardisation: Standardisation | None,
                  device: str) -> OpenedModel:
    if architecture is not None:
        raise ModelMismatchError("this is an art-sor checkpoint, which names its own architecture; give none",
                                 "architecture")
    classifier, state = load_classifier(path, device=device)
    if standardisation is not None:
        mean, std = state["preprocessing"]
        raise ModelMismatchError(f"this art-sor checkpoint carries its own standardisation (mean {mean}, std "
                                 f"{std}); give none", "standardisation")
    run = state["metadata"].get("run")
    if run is not None:
        try:
            ThreatModel(**run["threat"])
        except (ValueError, TypeError, KeyError) as error:
            raise CorruptFileError(f"{path}: its run key holds an invalid threat model ({error})") from error
    return OpenedModel(classifier, {"checkpoint": state["checksum"]}, run,
                       run["defence"]["spec"] if run else path.stem, checkpoint_folder(path),
                       run["threat"] if run else None)


def _open_madry(path: Path, madry: MadryCheckpoint, data: Dataset, architecture: str | None,
                standardisation: Standardisation | None, device: str) -> OpenedModel:
    if standardisation is not None:
        raise ModelMismatchError(f"this MadryLab robustness checkpoint carries its own normaliser (mean "
                                 f"{list(madry.mean)}, std {list(madry.std)}); give no standardisation",
                                 "standardisation")
    if madry.channels != data.input_shape[0]:
        raise ModelMismatchError(f"the checkpoint's normaliser has {madry.channels} channels, but {data.name} has "
                                 f"{data.input_shape[0]}", "data")
    madry_normaliser(madry, path)  # a broken normaliser is the file's fault, not the architecture's
    given, architecture = architecture, architecture or MADRY_ARCHITECTURE
    try:
        classifier = madry_classifier(madry, data.input_shape, data.nb_classes, architecture, device, path)
    except CorruptFileError as error:
        # The library does not record its architecture: a network other than the SOR paper's needs naming.
        raise ModelMismatchError(f"{error}; {'check' if given else 'give'} the network's architecture",
                                 "architecture") from error
    epoch = f", epoch {madry.epoch}" if madry.epoch is not None else ""
    identity = {"madry_checkpoint": _sha256(path), "architecture": architecture}
    return OpenedModel(classifier, identity, None, f"{path.stem} (MadryLab robustness{epoch})",
                       checkpoint_folder(path))


def _open_robustbench(model: RobustBenchModel, data: Dataset, architecture: str | None,
                      standardisation: Standardisation | None, model_dir: str | os.PathLike[str], download: bool,
                      device: str) -> OpenedModel:
    if architecture is not None:
        raise ModelMismatchError("RobustBench models come with their own architecture; give none", "architecture")
    if standardisation is not None:
        raise ModelMismatchError("RobustBench models standardise their inputs themselves; give no standardisation",
                                 "standardisation")
    try:
        robustbench_dataset(data.name)
    except ValueError as error:
        raise ModelMismatchError(str(error), "data") from error
    try:
        loaded = load_robustbench_classifier(model, data.name, model_dir, download, device)
    except CorruptFileError:
        raise
    except ValueError as error:
        raise ModelMismatchError(str(error), "source") from error
    threat = {"norm": ROBUSTBENCH_THREATS[loaded.threat_model], "eps": ROBUSTBENCH_EPS[loaded.threat_model]}
    return OpenedModel(loaded.classifier, loaded.identity, None, f"{model.name} (RobustBench, {loaded.threat_model})",
                       f"robustbench-{loaded.dataset}-{loaded.threat_model}-{model.name}", threat)


def _standardisation(standardisation: Standardisation | None, channels: int) -> tuple[np.ndarray, np.ndarray]:
    if standardisation is None:
        return standardisation_arrays([0.0], [1.0])
    for values, part in zip(standardisation, ("mean", "std"), strict=True):
        if len(values) not in (1, channels):
            raise ModelMismatchError(f"the standardisation's {part} has {len(values)} values; give one, or one per "
                                     f"channel ({channels})", part)
    try:
        return standardisation_arrays(*standardisation)
    except SettingError as error:  # a std of 0 or a NaN mean: every output would be NaN
        raise ModelMismatchError(str(error), error.setting) from error


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoint_folder(checkpoint: Path) -> str:
    """``<checkpoint's folder>-<its name>-<hash of its path>``: a checkpoint's part of its default folders' names."""
    resolved = checkpoint.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return f"{resolved.parent.name}-{resolved.stem}-{digest}"
