"""One defence trained on one dataset, reproducibly and resumably, with the full key of what produced it."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.core.checks import check_choice, check_positive
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.data.streaming import training_generator
from art_sor.estimators.checkpoints import load_checkpoint, load_classifier, save_classifier
from art_sor.estimators.classifiers import resolve_device, wrap_model
from art_sor.evaluation.randomness import seeded
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.models import build_model, trainable_parameters
from art_sor.registry import DEFENCES
from art_sor.runs.folders import clear, exclusive
from art_sor.runs.identity import RunKey, RunMismatchError
from art_sor.runs.setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import load_checked, save_checked
from art_sor.trainers.base import EpochCallback, EpochTrainer
from art_sor.trainers.distributed import DataParallel

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
BEST_FILE = "best_robust.pt"
SELECTION_ATTACK = "pgd:steps=10"
"""The attack that picks the best epoch for ``select="best-robust"`` (MadryLab's robustness library uses PGD too)."""

CLOCKS = {"wall": "seconds", "cpu": "cpu_seconds"}
"""Budget clocks and the epoch-record entries they sum."""


@dataclass
class TrainedModel:
    """A trained classifier and how it got there.

    :ivar spec: The defence.
    :ivar classifier: The classifier, with the selected epoch's weights.
    :ivar history: One record per epoch.
    :ivar key: The run's key (everything that produced the weights but the number of epochs).
    :ivar selected_epoch: The epoch whose weights the classifier holds.
    :ivar path: Where the model was saved, if it was.
    :ivar world_size: Processes that trained it (``torch.distributed``).
    :ivar reused: Whether the finished model was loaded from ``path`` rather than trained now.
    """

    spec: Spec
    classifier: PyTorchClassifier
    history: list[dict[str, Any]]
    key: RunKey
    selected_epoch: int
    path: Path | None = None
    world_size: int = 1
    reused: bool = False

    @property
    def epochs(self) -> int:
        """Epochs trained."""
        return len(self.history)

    @property
    def training_seconds(self) -> float:
        """Wall-clock seconds spent training (validation and per-epoch evaluations excluded)."""
        return float(sum(record["seconds"] for record in self.history))

    @property
    def training_cpu_seconds(self) -> float:
        """CPU seconds of the training process's threads spent training."""
        return float(sum(record["cpu_seconds"] for record in self.history))

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch."""
        return self.training_seconds / max(1, self.epochs)

    def summary(self) -> dict[str, Any]:
        """What reports state about the training: the key, epochs, selection and cost."""
        return {"defence": self.spec.label, "run": self.key.to_dict(), "epochs": self.epochs,
                "selected_epoch": self.selected_epoch, "training_seconds": self.training_seconds,
                "training_cpu_seconds": self.training_cpu_seconds, "world_size": self.world_size,
                "path": str(self.path) if self.path else None}


@dataclass
class SplitData:
    """The arrays a run trains on, and the held-out validation split that picks the best epoch."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray = field(default_factory=lambda: np.empty(0))
    y_validation: np.ndarray = field(default_factory=lambda: np.empty(0))


def split_training_data(data: Dataset, setup: TrainingSetup) -> SplitData:
    """The training images of ``setup``: for ``best-robust`` the last ``validation_samples`` are held out."""
    x, y = data.x_train, data.y_train
    if len(x) == 0:
        raise ValueError(f"dataset {data.name} has no training split (it is for evaluation only)")
    split = SplitData(x, y)
    if setup.select == "best-robust":
        if setup.validation_samples >= len(x):
            raise ValueError(f"validation_samples {setup.validation_samples} must be below the {len(x)} training "
                             "images")
        held = len(x) - setup.validation_samples
        split = SplitData(x[:held], y[:held], x[held:], y[held:])
    if setup.train_samples is not None:
        if setup.train_samples > len(split.x_train):
            held = (f" after holding out the last {setup.validation_samples} for best-robust"
                    if setup.select == "best-robust" else "")
            raise ValueError(f"train_samples {setup.train_samples} exceeds the {len(split.x_train)} training images of "
                             f"{data.name}{held}; pass at most {len(split.x_train)}")
        split.x_train, split.y_train = split.x_train[:setup.train_samples], split.y_train[:setup.train_samples]
    return split


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (ART's attacks draw from NumPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_run_classifier(data: Dataset, setup: TrainingSetup) -> PyTorchClassifier:
    """A freshly initialised classifier for ``setup``; call it after seeding.

    It has the setup's architecture, optimizer, device and memory format, and (with ``standardise``) the
    training set's per-channel standardisation as ART preprocessing.
    """
    model = build_model(setup.architecture, data.input_shape, data.nb_classes)
    device_type = resolve_device(setup.device)
    if device_type == "gpu":
        torch.backends.cudnn.benchmark = True
    if setup.sync_batch_norm and DataParallel.current().active:
        if device_type != "gpu":
            raise ValueError("sync_batch_norm: torch's SyncBatchNorm runs on CUDA only; drop it on CPUs")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    preprocessing: tuple[Any, Any] = (0.0, 1.0)
    if setup.standardise:
        x = data.x_train
        mean = x.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32).reshape(-1, 1, 1)
        std = x.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32).reshape(-1, 1, 1)
        if not np.all(std > 0):
            constant = [int(c) for c in np.flatnonzero(~(std > 0))]
            raise ValueError(f"standardise: channel(s) {constant} of the training images hold one value throughout "
                             f"({float(mean.flat[constant[0]]):.6g}), so their std is 0 and standardising would "
                             "divide by zero; check the data, or drop --standardise")
        preprocessing = (mean, std)
    trainable_parameters(model, setup.architecture)  # refuse a model training could not change, naming it
    return wrap_model(model, data.input_shape, data.nb_classes, optimizer=setup.optimizer.build(model.parameters()),
                      clip_values=data.clip_values, preprocessing=preprocessing, device=setup.device)


@dataclass(frozen=True)
class Budget:
    """A compute budget: train whole epochs until the cumulative training time reaches ``seconds``.

    :param seconds: The budget.
    :param clock: ``"wall"`` (elapsed seconds; right on a dedicated machine or GPU) or ``"cpu"`` (CPU seconds of
                  the training process; steadier where other processes share the CPU).
    """

    seconds: float
    clock: str = "wall"

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", check_positive(self.seconds, "budget"))
        check_choice(self.clock, CLOCKS, "clock")

    def spent(self, history: Sequence[dict[str, Any]]) -> float:
        """Training seconds spent so far by this budget's clock."""
        return float(sum(record[CLOCKS[self.clock]] for record in history))

    def reached(self, history: Sequence[dict[str, Any]]) -> bool:
        """Whether the epochs of ``history`` have used the whole budget."""
        return self.spent(history) >= self.seconds

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> bool:
        """Epoch hook: stop once the epochs so far, this one included, reach the budget."""
        return self.reached([*trainer.history, record])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"seconds": self.seconds, "clock": self.clock}


class RobustnessMonitor:
    """Epoch hook: a cheap attack on a fixed subset of test images after every epoch.

    It gives the robustness-vs-compute curves; the accuracy goes into the epoch's record as
    ``monitor_robust_accuracy``.

    :param x: The fixed images.
    :param y: Their labels.
    :param threat: The threat model.
    :param attack: The attack spec (default PGD-10).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, threat: ThreatModel, attack: str = "pgd:steps=10") -> None:
        self.x, self.y, self.threat, self.attack = x, y, threat, attack

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> None:
        """Measure the epoch's robustness (with seeded attacks that leave the training's random streams alone)."""
        if not trainer.parallel.leader:
            return
        with seeded():
            result = evaluate_attacks(trainer.get_classifier(), self.x, self.y, self.threat, [self.attack],
                                      verbose=False)
        record["monitor_robust_accuracy"] = result.attacks[0].accuracy
        trainer.get_classifier().model.train()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"attack": self.attack, "samples": len(self.x)}


class BestRobustSelection:
    """Epoch hook of ``select="best-robust"``: keeps the epoch with the best PGD-10 validation accuracy.

    The accuracy on the held-out validation split goes into each epoch's record as ``validation_robust_accuracy``;
    the best epoch's weights are kept in ``best_robust.pt`` (or in memory without a folder).

    :param x: Validation images.
    :param y: Validation labels.
    :param threat: The threat model.
    :param folder: The run's folder, or ``None``.
    :param tags: The run's tags; a best file with other tags is ignored.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, threat: ThreatModel, folder: Path | None,
                 tags: dict[str, Any]) -> None:
        self.x, self.y, self.threat, self.tags = x, y, threat, tags
        self.path = folder / BEST_FILE if folder is not None else None
        self.best: dict[str, Any] | None = None
        if self.path is not None and self.path.exists():
            stored = load_checked(self.path, "best-epoch checkpoint")
            self.best = stored if stored["tags"] == tags else None

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> None:
        """Evaluate the epoch and keep its weights if they are the most robust so far (rank 0 only)."""
        if not trainer.parallel.leader:
            return
        classifier = trainer.get_classifier()
        with seeded():
            result = evaluate_attacks(classifier, self.x, self.y, self.threat, [SELECTION_ATTACK], verbose=False)
        accuracy = result.attacks[0].accuracy
        classifier.model.train()
        record["validation_robust_accuracy"] = accuracy
        if self.best is None or accuracy > self.best["accuracy"]:
            self.best = {"epoch": record["epoch"], "accuracy": accuracy, "tags": self.tags,
                         "model": {k: v.detach().cpu().clone() for k, v in classifier.model.state_dict().items()}}
            if self.path is not None:
                save_checked(self.path, self.best)

    def restore_best(self, classifier: PyTorchClassifier) -> int:
        """Load the best epoch's weights into ``classifier`` and return that epoch."""
        if self.best is None:
            raise RuntimeError("no epoch has been evaluated")
        classifier.model.load_state_dict(self.best["model"])
        return int(self.best["epoch"])


def train_defence(spec: Spec | str, data: Dataset, threat: ThreatModel, setup: TrainingSetup,
                  out_dir: str | os.PathLike[str] | None = None, verbose: bool = True, overwrite: bool = False,
                  budget: Budget | None = None, monitor: RobustnessMonitor | None = None) -> TrainedModel:
    """Train one defence from a seeded initialisation.

    With ``out_dir``, the folder is held by this process while it trains; the training state is saved after
    every epoch with the run's key, and the finished model goes to ``out_dir/model.pt`` with the key, history and
    selected epoch. A rerun reuses a finished model only when its key is equal; a larger ``setup.epochs`` with
    everything else equal extends it (unless the schedule depends on the run's length); any other difference
    raises :class:`~art_sor.runs.identity.RunMismatchError` naming the differing settings, unless ``overwrite``
    clears the folder first.

    :param budget: Train whole epochs until the training time reaches it (``setup.epochs`` is then a cap); a
                   finished run with the same key is reused when it reached the budget within the cap or stopped at
                   the cap, extended when the cap has been raised above a run that had not reached its budget,
                   and refused when the cap is now below its epochs.
    :param monitor: Measure robustness on a fixed subset after every epoch.
    :raises RunMismatchError: See above.
    """
    spec = DEFENCES.check(spec)
    split = split_training_data(data, setup)
    seed_everything(setup.seed)
    classifier = build_run_classifier(data, setup)
    trainer = DEFENCES.build(spec, classifier, threat, **setup.trainer_settings())
    protocol = {"budget": budget.to_dict() if budget else None, "monitor": monitor.to_dict() if monitor else None}
    key = RunKey.create(data, threat, spec, trainer.config(), setup, protocol)
    trainer.tags = {"run": key.to_dict()}
    hooks = [hook for hook in (monitor, budget) if hook is not None]
    if out_dir is None:
        return _train(spec, trainer, split, key, setup, threat, None, verbose, hooks)
    with exclusive(out_dir) as folder:
        if overwrite:
            clear(folder)
        finished = _finished(folder, key, setup, budget)
        if finished is not None:
            return finished
        return _train(spec, trainer, split, key, setup, threat, folder, verbose, hooks)


def _finished(folder: Path, key: RunKey, setup: TrainingSetup, budget: Budget | None) -> TrainedModel | None:
    """The finished model in ``folder`` if it is this run, ``None`` if it should be (re)trained or extended."""
    model_path = folder / MODEL_FILE
    if not model_path.exists():
        # Nothing finished; an interrupted run resumes, and the trainer refuses its state if the key differs.
        return None
    state = load_checkpoint(model_path)
    stored = state["metadata"]
    differences = key.differences(RunKey.from_dict(stored["run"]))
    epochs = len(stored["history"])
    reached_budget = budget is not None and epochs < setup.epochs and budget.reached(stored["history"])
    if not differences and (epochs == setup.epochs or reached_budget):
        classifier, _ = load_classifier(model_path, device=setup.device)
        return TrainedModel(Spec.parse(stored["run"]["defence"]["spec"]), classifier, stored["history"], key,
                            stored["selected_epoch"], model_path,
                            stored.get("world_size", 1),  # models saved before data-parallel training had one
                            reused=True)
    if not differences and epochs < setup.epochs and not setup.schedule.needs_length:
        logger.info("extending %s from %d to %d epochs", folder, epochs, setup.epochs)
        return None
    if epochs != setup.epochs:
        differences.append(f"setup.epochs: {epochs} → {setup.epochs}"
                           + (" (the schedule depends on the run's length)" if not differences else ""))
    raise RunMismatchError(f"{folder} holds a run with other settings: {', '.join(differences)}. Pass --overwrite "
                           "to replace it, or choose another --out")


def _train(spec: Spec, trainer: EpochTrainer, split: SplitData, key: RunKey, setup: TrainingSetup,
           threat: ThreatModel, folder: Path | None, verbose: bool, hooks: Sequence[EpochCallback]) -> TrainedModel:
    classifier = trainer.get_classifier()
    selection = (BestRobustSelection(split.x_validation, split.y_validation, threat, folder, trainer.tags)
                 if setup.select == "best-robust" else None)
    callbacks = [*([selection] if selection else []), *hooks]

    def after_epoch(current: EpochTrainer, record: dict[str, Any]) -> bool:
        # Every hook runs (no short circuit); any of them may stop training.
        stops = [bool(hook(current, record)) for hook in callbacks]
        return any(stops)

    streamed = setup.augmentation != "none" or setup.workers > 0
    batches = -(-len(split.x_train) // setup.batch_size)
    scheduler, interval = setup.schedule.build(classifier.optimizer, setup.epochs, batches)
    common = {"nb_epochs": setup.epochs, "scheduler": scheduler, "scheduler_interval": interval, "verbose": verbose,
              "checkpoint_dir": folder, "resume": folder is not None, "epoch_callback": after_epoch}
    if streamed:
        generator = training_generator(split.x_train, split.y_train, setup.batch_size, setup.augmentation,
                                       setup.workers, pin_memory=classifier.device.type == "cuda")
        history = trainer.fit_generator(generator, **common)
    else:
        history = trainer.fit(split.x_train, split.y_train, batch_size=setup.batch_size, **common)
    leader = trainer.parallel.leader
    selected = selection.restore_best(classifier) if selection is not None and leader else len(history)
    path = None
    if folder is not None and leader:
        path = save_classifier(folder / MODEL_FILE, classifier, setup.architecture,
                               metadata={"run": key.to_dict(), "history": history, "selected_epoch": selected,
                                         "world_size": trainer.parallel.size})
    classifier.model.eval()
    return TrainedModel(spec, classifier, list(history), key, selected, path, trainer.parallel.size)
