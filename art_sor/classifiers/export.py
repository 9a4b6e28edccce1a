"""An art-sor checkpoint exported for use without art-sor: plain PyTorch, MadryLab ``robustness``, RobustBench.

Each export takes images in ``[0, 1]`` (the standardisation an art-sor model was trained with goes inside the
exported module, or into the format's own normaliser), so that ε keeps its meaning in pixel space.

* :func:`export_pytorch`: a ``torch.export`` program (``.pt2``) that ``torch.export.load(path).module()`` opens
  with torch alone, no art-sor and no model code.
* :func:`export_madry`: the checkpoint layout of MadryLab's ``robustness`` library (``model`` holding the
  ``AttackerModel``'s ``state_dict``: ``module.model.*``, ``module.normalizer.new_mean`` / ``new_std`` and the
  attacker's copies), which art-sor reads back with :func:`~art_sor.classifiers.published.load_madry_classifier`.
* :func:`export_robustbench`: what a RobustBench model-zoo entry needs: the weights file
  ``<dataset>/<threat model>/<name>.pt`` that ``robustbench.utils.load_model`` reads (a ``state_dict`` of
  :class:`Standardised`), and the model card ``model_info/<dataset>/<threat model>/<name>.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from art_sor.classifiers.checkpoints import load_checkpoint, model_with_weights
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel, format_radius
from art_sor.storage import write_text

ROBUSTBENCH_THREAT_NAMES = {"inf": "Linf", "l2": "L2"}
"""RobustBench's names of the norms it benchmarks (it has no L1 leaderboard)."""


class Standardised(nn.Module):
    """A network with its input standardisation inside: it takes images in ``[0, 1]``, channels first.

    The network is the attribute ``network`` (not ``model``: RobustBench's loader strips ``model.`` from the keys
    it reads).

    :param network: The network, which expects standardised inputs.
    :param mean: One value, or one per channel.
    :param std: As many values as ``mean``.
    """

    def __init__(self, network: nn.Module, mean: Any, std: Any) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, dtype=np.float32)).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of images ``x`` in ``[0, 1]``."""
        return self.network((x - self.mean) / self.std)


@dataclass(frozen=True)
class ExportedModel:
    """An art-sor checkpoint's parts that every export needs.

    :ivar network: The network in eval mode, on the CPU, expecting standardised inputs.
    :ivar mean: The standardisation's mean (one value or one per channel).
    :ivar std: Its standard deviation.
    :ivar architecture: The registered architecture (or ``module:callable``) it was built from.
    :ivar input_shape: Shape of one input, channels first.
    :ivar nb_classes: Number of classes.
    :ivar run: The run key of the training that produced it, or ``None``.
    :ivar epoch: The epoch its weights are from, or ``None``.
    :ivar checksum: The checkpoint's checksum, which identifies it in evaluations.
    """

    network: nn.Module
    mean: list[float]
    std: list[float]
    architecture: str
    input_shape: tuple[int, ...]
    nb_classes: int
    run: dict[str, Any] | None
    epoch: int | None = None
    checksum: str = ""

    @classmethod
    def read(cls, checkpoint: str | os.PathLike[str]) -> ExportedModel:
        """Read an art-sor checkpoint.

        :raises art_sor.storage.CorruptFileError: If it is not one, or its weights do not fit its architecture.
        """
        state = load_checkpoint(checkpoint)
        network = model_with_weights(state["architecture"], state["input_shape"], state["nb_classes"],
                                     state["state_dict"], f"{checkpoint}: its weights do not fit "
                                                          f"{state['architecture']}")
        mean, std = (np.asarray(values, dtype=np.float32).reshape(-1).tolist() for values in state["preprocessing"])
        epoch = state["metadata"].get("selected_epoch")
        return cls(network.cpu().eval(), mean, std, state["architecture"], tuple(state["input_shape"]),
                   int(state["nb_classes"]), state["metadata"].get("run"), epoch if isinstance(epoch, int) else None,
                   state["checksum"])

    def standardised(self) -> Standardised:
        """The network with its standardisation inside, in eval mode."""
        return Standardised(self.network, self.mean, self.std).eval()

    @property
    def threat(self) -> ThreatModel | None:
        """The threat model it was trained for, where its run key records one."""
        return ThreatModel(**self.run["threat"]) if self.run else None

    @property
    def dataset(self) -> str | None:
        """The dataset spec its run key records."""
        return self.run["dataset"]["spec"] if self.run else None


def export_pytorch(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write the model as a ``torch.export`` program that takes images in ``[0, 1]``; return ``path``.

    ``torch.export.load(path).module()`` gives the model back with torch alone; its batch size is free.
    """
    exported = ExportedModel.read(checkpoint)
    module = exported.standardised()
    example = torch.zeros((2, *exported.input_shape))
    program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, path)
    return path


def pytorch_recipe(path: str | os.PathLike[str], input_shape: tuple[int, ...]) -> str:
    """How to load :func:`export_pytorch`'s file with torch alone."""
    return (f"import torch\nmodel = torch.export.load({str(path)!r}).module()\n"
            f"logits = model(images)  # float32 images in [0, 1], shape (batch, {', '.join(map(str, input_shape))})")


def export_madry(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write the model in MadryLab ``robustness``'s checkpoint layout; return ``path``.

    The library's ``make_and_restore_model(arch=..., dataset=..., resume_path=path)`` restores it for an
    architecture of its own with the same keys (its CIFAR ``resnet18`` is art-sor's ``resnet18``); art-sor reads
    it back with :func:`~art_sor.classifiers.published.load_madry_classifier` and the architecture.
    """
    exported = ExportedModel.read(checkpoint)
    channels = exported.input_shape[0]
    mean = torch.tensor(np.broadcast_to(exported.mean, channels).copy(), dtype=torch.float32).reshape(-1, 1, 1)
    std = torch.tensor(np.broadcast_to(exported.std, channels).copy(), dtype=torch.float32).reshape(-1, 1, 1)
    weights = {key: value.detach().cpu() for key, value in exported.network.state_dict().items()}
    state: dict[str, torch.Tensor] = {"module.normalizer.new_mean": mean, "module.normalizer.new_std": std,
                                      "module.attacker.normalize.new_mean": mean.clone(),
                                      "module.attacker.normalize.new_std": std.clone()}
    for key, value in weights.items():
        state[f"module.model.{key}"] = value
        state[f"module.attacker.model.{key}"] = value.clone()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "epoch": exported.epoch or 0}, path)
    return path


def export_robustbench(checkpoint: str | os.PathLike[str], folder: str | os.PathLike[str], name: str,
                       dataset: str = "cifar10", clean_accuracy: float | None = None,
                       autoattack_accuracy: float | None = None) -> dict[str, Path]:
    """Write what a RobustBench model-zoo entry needs under ``folder``; return the files by kind.

    * ``folder/<dataset>/<threat model>/<name>.pt``: ``{"state_dict": ...}`` of :class:`Standardised`, the file
      ``robustbench.utils.load_model(name, model_dir=folder, ...)`` reads once the zoo lists ``name`` with
      ``Standardised(<architecture>)`` as its model;
    * ``folder/model_info/<dataset>/<threat model>/<name>.json``: the model card, with the clean and AutoAttack
      accuracies when given (RobustBench's own evaluation fills them in otherwise).

    :param name: The entry's name, ``<Surname><Year><Word>`` by RobustBench's convention.
    :param dataset: RobustBench's dataset (``cifar10``, ``cifar100``).
    :param clean_accuracy: Clean accuracy on the full test set, in ``[0, 1]``.
    :param autoattack_accuracy: The canonical AutoAttack's robust accuracy, in ``[0, 1]``.
    :raises SettingError: Naming ``checkpoint``, for a model without a run key, trained in a norm RobustBench does
                          not benchmark (L1), or not for ``dataset``'s 3×32×32 images.
    """
    exported = ExportedModel.read(checkpoint)
    threat = exported.threat
    if threat is None or threat.norm not in ROBUSTBENCH_THREAT_NAMES:
        raise SettingError(f"RobustBench benchmarks L∞ and L2 threat models; this model was trained for "
                           f"{threat.label if threat else 'no recorded threat model'}", "checkpoint")
    if exported.input_shape != (3, 32, 32):
        raise SettingError(f"RobustBench's {dataset} models take 3×32×32 images; this one takes "
                           f"{'×'.join(map(str, exported.input_shape))}", "checkpoint")
    threat_name = ROBUSTBENCH_THREAT_NAMES[threat.norm]
    weights = Path(folder) / dataset / threat_name / f"{name}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": exported.standardised().state_dict()}, weights)
    card = {"link": "", "name": "", "authors": "", "additional_data": False, "number_forward_passes": 1,
            "dataset": dataset, "venue": "", "architecture": exported.architecture,
            "eps": format_radius(threat.eps), "clean_acc": _percent(clean_accuracy), "reported": "",
            "autoattack_acc": _percent(autoattack_accuracy), "footnote": _footnote(exported.run)}
    info = Path(folder) / "model_info" / dataset / threat_name / f"{name}.json"
    write_text(info, json.dumps(card, indent=2) + "\n")
    return {"weights": weights, "model_info": info}


def accuracies_of(report: dict[str, Any], exported: ExportedModel) -> tuple[float, float | None]:
    """The clean accuracy and the canonical AutoAttack's accuracy in an ``art-sor evaluate`` report of the model.

    :param report: The report's JSON.
    :return: ``(clean, autoattack)``; ``autoattack`` is ``None`` when the standard version did not run.
    :raises SettingError: Naming ``report``, if it is the evaluation of another model.
    """
    if report.get("model") != {"checkpoint": exported.checksum}:
        raise SettingError("it is the evaluation of another model (its checksum differs)", "report")
    attacks = report["evaluation"]["robustness"]["attacks"]
    canonical = [a["accuracy"] for a in attacks if a["spec"] == "autoattack-standard"]
    return float(report["clean_accuracy"]), (float(canonical[0]) if canonical else None)


def robustbench_entry(name: str, exported: ExportedModel) -> str:
    """The model-zoo entry that loads :func:`export_robustbench`'s weights, as Python for the submission.

    Its network comes from art-sor's registry (the submission ships that architecture's code); the mean and std
    are placeholders of the right length, since the weights file holds them as buffers.
    """
    ones = [1.0] * len(exported.mean)
    return (f"('{name}', {{\n    'model': lambda: Standardised(build_model({exported.architecture!r}, (3, 32, 32), "
            f"{exported.nb_classes}), {ones}, {ones}),\n    'gdrive_id': '<the file id of {name}.pt>',\n}}),\n"
            "# Standardised: art_sor.classifiers.export; build_model: art_sor.models")


def _percent(accuracy: float | None) -> str:
    return "" if accuracy is None else f"{100 * accuracy:.2f}"


def _footnote(run: dict[str, Any] | None) -> str:
    if not run:
        return ""
    return f"Trained with art-sor: {run['defence']['spec']}, {run['setup']['architecture']}."
