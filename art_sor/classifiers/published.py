"""Models published outside art-sor, as ART classifiers on inputs in [0, 1] with ε in pixel space.

Two sources are read:

* **MadryLab ``robustness`` checkpoints**, the format of the SOR paper's own models. That library saves a dict
  with ``model`` (``state_dict`` in its legacy files), the ``state_dict`` of its ``AttackerModel`` wrapped in
  ``DataParallel``: ``module.model.*`` is the network, ``module.normalizer.new_mean`` / ``new_std`` (shaped
  ``(C, 1, 1)``) its input standardisation, and ``module.attacker.model.*`` / ``module.attacker.normalize.*`` the
  same tensors again; ``epoch``, ``optimizer`` and ``schedule`` sit beside it. The network is rebuilt from
  art-sor's registry (its ``resnet18`` has the keys and shapes of that library's CIFAR ResNet-18, and the same
  function on 32×32 inputs: the library's 4×4 average pool is the global average pool there) and the normaliser
  becomes ART preprocessing.
* **RobustBench's model zoo**, by name (``robustbench:NAME``), through ``robustbench.utils.load_model`` (the
  ``robustbench`` extra). Those models standardise inside themselves and take [0, 1] inputs.

| Paper link: https://arxiv.org/abs/2009.04923 (the SOR models: https://github.com/Jay-Roberts/Scorpio)
| Paper link: https://arxiv.org/abs/2010.09670 (RobustBench)
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.checkpoints import model_with_weights, read_torch_dict
from art_sor.classifiers.wrapping import standardisation_arrays, wrap_model
from art_sor.core.errors import SettingError
from art_sor.storage import CorruptFileError

MADRY_ARCHITECTURE = "resnet18"
"""The architecture of the SOR paper's MadryLab checkpoints (the library's ``arch="resnet18"``)."""


@dataclass(frozen=True)
class MadryCheckpoint:
    """The parts of a MadryLab ``robustness`` checkpoint that art-sor uses.

    :ivar weights: The network's ``state_dict`` (the ``module.model.*`` entries, prefix removed).
    :ivar mean: The normaliser's per-channel mean.
    :ivar std: The normaliser's per-channel standard deviation.
    :ivar epoch: The epoch the library recorded, or ``None``.
    """

    weights: dict[str, torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epoch: int | None

    @property
    def channels(self) -> int:
        """Input channels the normaliser expects."""
        return len(self.mean)


def madry_checkpoint(content: dict[str, Any], source: str | os.PathLike[str] = "checkpoint"
                     ) -> MadryCheckpoint | None:
    """A MadryLab checkpoint's parts, or ``None`` when ``content`` is not one.

    :param content: The file, as :func:`~art_sor.classifiers.checkpoints.read_torch_dict` reads it.
    :param source: Where it comes from, for messages.
    :raises CorruptFileError: If it holds a MadryLab network (``model.*`` weights in a ``model`` or ``state_dict``
                              entry) without its normaliser, which no architecture can stand in for.
    """
    state = content.get("model", content.get("state_dict"))
    if not isinstance(state, dict):
        return None
    # make_and_restore_model strips the DataParallel prefix "module."; accept files saved without it too.
    state = {key.removeprefix("module."): value for key, value in state.items() if isinstance(key, str)}
    mean, std = state.get("normalizer.new_mean"), state.get("normalizer.new_std")
    weights = {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}
    if not weights:
        return None
    missing = [f"module.normalizer.{name}" for name, value in (("new_mean", mean), ("new_std", std))
               if not isinstance(value, torch.Tensor)]
    if missing:
        raise CorruptFileError(f"{source} holds a MadryLab robustness network (module.model.*) but not "
                               f"{' and '.join(missing)}, the standardisation it was trained with; the file is "
                               "incomplete (save the whole AttackerModel state_dict)")
    epoch = content.get("epoch")
    return MadryCheckpoint(weights, tuple(mean.flatten().tolist()), tuple(std.flatten().tolist()),
                           int(epoch) if isinstance(epoch, (int, torch.Tensor)) else None)


def madry_classifier(checkpoint: MadryCheckpoint, input_shape: tuple[int, ...], nb_classes: int,
                     architecture: str = MADRY_ARCHITECTURE, device: str = "auto",
                     source: str | os.PathLike[str] = "checkpoint") -> PyTorchClassifier:
    """An evaluation classifier around a MadryLab checkpoint's network, with its normaliser as ART preprocessing.

    :param input_shape: Shape of one input, channels first.
    :param nb_classes: Number of classes.
    :param architecture: The network's architecture in art-sor's registry, or ``module:callable``.
    :param source: Where the checkpoint comes from, for messages.
    :raises ValueError: If the normaliser does not have one value per input channel.
    :raises CorruptFileError: If the weights do not fit ``architecture``, or the normaliser's mean is not finite or
                              its std not finite and positive.
    """
    if checkpoint.channels != input_shape[0]:
        raise ValueError(f"{source}: the checkpoint's normaliser has {checkpoint.channels} channels, the inputs "
                         f"{input_shape[0]}")
    preprocessing = madry_normaliser(checkpoint, source)
    model = model_with_weights(architecture, input_shape, nb_classes, checkpoint.weights,
                               f"{source}: the weights do not fit {architecture}")
    # InputNormalize clamps to [0, 1] before standardising; ART's clip values keep every input there already.
    return wrap_model(model, input_shape, nb_classes, preprocessing=preprocessing, device=device)


def madry_normaliser(checkpoint: MadryCheckpoint, source: str | os.PathLike[str] = "checkpoint"
                     ) -> tuple[Any, Any]:
    """The checkpoint's normaliser as ART preprocessing.

    :raises CorruptFileError: If its mean is not finite or its std not finite and positive, naming ``source``.
    """
    try:
        return standardisation_arrays(checkpoint.mean, checkpoint.std)
    except ValueError as error:
        raise CorruptFileError(f"{source}: its normaliser (module.normalizer.new_mean / new_std) is unusable: "
                               f"{error}") from error


def load_madry_classifier(path: str | os.PathLike[str], input_shape: tuple[int, ...] = (3, 32, 32),
                          nb_classes: int = 10, architecture: str = MADRY_ARCHITECTURE,
                          device: str = "auto") -> tuple[PyTorchClassifier, MadryCheckpoint]:
    """Read a MadryLab ``robustness`` checkpoint (such as the SOR paper's) as an ART classifier.

    The file is read with ``torch.load(weights_only=True)``: tensors and plain containers only, no code.

    :return: The classifier and the checkpoint's contents.
    :raises CorruptFileError: If the file is not such a checkpoint, or its weights do not fit ``architecture``.
    """
    checkpoint = madry_checkpoint(read_torch_dict(path, "a MadryLab robustness checkpoint"), path)
    if checkpoint is None:
        raise CorruptFileError(f"{path} is not a MadryLab robustness checkpoint (no model / state_dict with "
                               "module.model.* and module.normalizer.new_mean / new_std)")
    try:
        classifier = madry_classifier(checkpoint, input_shape, nb_classes, architecture, device, path)
    except ValueError as error:
        raise CorruptFileError(str(error)) from error
    return classifier, checkpoint


ROBUSTBENCH_PREFIX = "robustbench:"
ROBUSTBENCH_THREATS = {"Linf": "inf", "L2": "l2"}
"""RobustBench's threat models and art-sor's norms for them (its corruption benchmarks have no ε ball)."""
ROBUSTBENCH_EPS = {"Linf": 8 / 255, "L2": 0.5}
"""RobustBench's radii on CIFAR-10 and CIFAR-100."""
ROBUSTBENCH_DATASETS = {"cifar10": "cifar10", "cifar10-foolbox": "cifar10", "cifar100": "cifar100"}
"""art-sor's datasets and RobustBench's names for them."""
ROBUSTBENCH_SHAPE = (3, 32, 32)
ROBUSTBENCH_CLASSES = {"cifar10": 10, "cifar100": 100}


@dataclass(frozen=True)
class RobustBenchModel:
    """A RobustBench model named ``robustbench:NAME`` or ``robustbench:NAME:THREAT`` (``Linf`` or ``L2``).

    :ivar name: Its name in RobustBench's model zoo, e.g. ``Wong2020Fast``.
    :ivar threat_model: ``Linf`` or ``L2``, or ``None`` for the one zoo of the dataset that lists the name.
    """

    name: str
    threat_model: str | None = None

    @classmethod
    def parse(cls, text: str) -> RobustBenchModel:
        """Read ``robustbench:NAME[:THREAT]``.

        :raises ValueError: If ``text`` is not of that form.
        """
        if not text.startswith(ROBUSTBENCH_PREFIX):
            raise ValueError(f"{text!r} does not start with {ROBUSTBENCH_PREFIX!r}")
        name, _, threat = text.removeprefix(ROBUSTBENCH_PREFIX).partition(":")
        if not name:
            raise ValueError(f"{text!r} names no model: write robustbench:NAME, e.g. robustbench:Wong2020Fast")
        if threat and threat not in ROBUSTBENCH_THREATS:
            raise ValueError(f"{text!r}: the threat model must be one of {', '.join(ROBUSTBENCH_THREATS)}, got "
                             f"{threat!r}")
        return cls(name, threat or None)

    @property
    def label(self) -> str:
        """The spelling it was given in."""
        return ROBUSTBENCH_PREFIX + self.name + (f":{self.threat_model}" if self.threat_model else "")

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class LoadedRobustBenchModel:
    """A RobustBench model ready to evaluate.

    :ivar classifier: ART classifier on inputs in [0, 1].
    :ivar dataset: RobustBench's dataset name.
    :ivar threat_model: The threat model it was trained for.
    :ivar identity: Name, dataset, threat model and the checksums of its weight files.
    """

    classifier: PyTorchClassifier
    dataset: str
    threat_model: str
    identity: dict[str, Any]


def robustbench_dataset(dataset: str) -> str:
    """RobustBench's name for art-sor's ``dataset``.

    :raises ValueError: For a dataset RobustBench has no models for.
    """
    if dataset not in ROBUSTBENCH_DATASETS:
        raise SettingError(f"RobustBench models need the dataset {' or '.join(ROBUSTBENCH_DATASETS)}, got "
                           f"{dataset!r}", "dataset")
    return ROBUSTBENCH_DATASETS[dataset]


def load_robustbench_classifier(model: RobustBenchModel, dataset: str, model_dir: str | os.PathLike[str],
                                download: bool = False, device: str = "auto") -> LoadedRobustBenchModel:
    """Load a model of RobustBench's zoo with ``robustbench.utils.load_model``, without downloading unless asked.

    RobustBench keeps a model in ``MODEL_DIR/<dataset>/<threat model>/<name>.pt`` (``<name>.pt_m<i>.pt`` for the
    members of an ensemble) and downloads it when the file is missing; here a missing file is an error unless
    ``download`` is true, so that nothing is fetched behind the user's back.

    :param dataset: art-sor's dataset name (``cifar10``, ``cifar10-foolbox`` or ``cifar100``).
    :param model_dir: RobustBench's ``model_dir``.
    :param download: Let RobustBench download missing weights.
    :raises ImportError: If the ``robustbench`` extra is not installed.
    :raises ValueError: For a dataset without RobustBench models, or a name not in the zoo.
    :raises FileNotFoundError: If the weights are not in ``model_dir`` and ``download`` is false.
    :raises CorruptFileError: If a weight file cannot be read safely, or its weights do not fit the model.
    """
    utils, benchmark, threat, entry = _zoo_entry(model, dataset)
    timm_name = f"{model.name.lower().replace('-', '_')}_{benchmark}_{threat.lower()}"
    if utils.timm.is_model(timm_name):
        files: list[Path] = []  # timm keeps these in its own hub cache
        if not download:
            raise FileNotFoundError(f"RobustBench model {model.name} loads through timm's hub; let it download "
                                    "(download=True) to fetch the weights")
    else:
        path = Path(model_dir) / benchmark / threat / f"{model.name}.pt"
        members = entry["gdrive_id"]
        files = [Path(f"{path}_m{i}.pt") for i in range(len(members))] if isinstance(members, list) else [path]
        missing = [file for file in files if not file.is_file()]
        if missing and not download:
            raise FileNotFoundError(f"RobustBench model {model.name}: no {missing[0]} (in the model folder "
                                    f"{model_dir}); let it download (download=True) to let robustbench fetch it, or "
                                    "put the file there")
    for file in files:
        if file.is_file():  # read safely first: robustbench's own reading of a bad file advises unpickling it
            read_torch_dict(file, f"the weights of RobustBench model {model.name}")
    try:
        network = utils.load_model(model.name, model_dir=str(model_dir), dataset=benchmark,
                                   threat_model=threat).eval()
    except RuntimeError as error:  # load_state_dict: weights of another network
        raise CorruptFileError(f"{files[0] if files else model.name}: the weights do not fit RobustBench model "
                               f"{model.name}: {str(error).splitlines()[0]}") from error
    identity = {"robustbench": model.name, "dataset": benchmark, "threat_model": threat,
                "files": {file.name: hashlib.sha256(file.read_bytes()).hexdigest() for file in files},
                **({"timm": timm_name} if not files else {})}
    classifier = wrap_model(network, ROBUSTBENCH_SHAPE, ROBUSTBENCH_CLASSES[benchmark], device=device)
    return LoadedRobustBenchModel(classifier, benchmark, threat, identity)


def robustbench_network(model: RobustBenchModel, dataset: str) -> torch.nn.Module:
    """A freshly initialised network of a RobustBench model: its architecture, without the weights.

    Its ``state_dict``, saved as ``MODEL_DIR/<dataset>/<threat model>/<name>.pt``, is a file RobustBench loads.

    :param dataset: art-sor's dataset name (``cifar10``, ``cifar10-foolbox`` or ``cifar100``).
    :raises ImportError: If the ``robustbench`` extra is not installed.
    :raises ValueError: For a dataset without RobustBench models, or a name not in the zoo.
    """
    entry = _zoo_entry(model, dataset)[3]
    if isinstance(entry["gdrive_id"], list):
        raise ValueError(f"RobustBench model {model.name} is an ensemble of several files")
    return entry["model"]()


def _zoo_entry(model: RobustBenchModel, dataset: str) -> tuple[ModuleType, str, str, dict[str, Any]]:
    """``robustbench.utils``, the benchmark's dataset and threat model, and the model's entry in the zoo."""
    utils, zoo, enums = _robustbench()
    benchmark = robustbench_dataset(dataset)
    zoos = {threat: zoo.model_dicts[enums.BenchmarkDataset(benchmark)][enums.ThreatModel(threat)]
            for threat in ROBUSTBENCH_THREATS}
    threat = model.threat_model or _only_threat(model, benchmark, zoos)
    entry = zoos[threat].get(model.name)
    if entry is None:
        close = difflib.get_close_matches(model.name, list(zoos[threat]), n=3)
        raise ValueError(f"RobustBench has no {benchmark} {threat} model {model.name!r}"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    return utils, benchmark, threat, entry


def _only_threat(model: RobustBenchModel, benchmark: str, zoos: dict[str, dict[str, Any]]) -> str:
    listing = [threat for threat, models in zoos.items() if model.name in models]
    if len(listing) == 1:
        return listing[0]
    if listing:
        raise ValueError(f"RobustBench lists {model.name} under {' and '.join(listing)} for {benchmark}; write "
                         + " or ".join(f"{model.label}:{threat}" for threat in listing))
    close = difflib.get_close_matches(model.name, [name for models in zoos.values() for name in models], n=3)
    raise ValueError(f"RobustBench has no {benchmark} model {model.name!r} (Linf or L2)"
                     + (f"; did you mean {', '.join(close)}?" if close else ""))


def _robustbench() -> tuple[ModuleType, ModuleType, ModuleType]:
    """``robustbench.utils``, ``robustbench.model_zoo`` and its enums, imported lazily.

    :raises ImportError: Naming the extra, when robustbench (or what it imports) is missing.
    """
    # robustbench 1.1.1 on PyPI imports ``autoattack``, the package of Croce and Hein's repository, which PyPI
    # ships as ``pyautoattack`` (its requirement); alias it unless the repository's package is installed.
    if importlib.util.find_spec("autoattack") is None and importlib.util.find_spec("pyautoattack") is not None:
        import pyautoattack
        import pyautoattack.state

        sys.modules["autoattack"], sys.modules["autoattack.state"] = pyautoattack, pyautoattack.state
    try:
        # Importing it warns about its own dependencies (pkg_resources, timm's moved modules, torch.jit), not
        # about anything the user can change.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import robustbench.model_zoo as zoo
            import robustbench.model_zoo.enums as enums
            import robustbench.utils as utils
    except ImportError as error:
        raise ImportError(f"RobustBench models need the robustbench extra: pip install 'art-sor[robustbench]' "
                          f"({error})") from error
    return utils, zoo, enums
