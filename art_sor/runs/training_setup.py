"""What a training run depends on besides the defence: data handling, model, optimizer, schedule and seed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from art_sor.core.checks import check_bool, check_choice, check_count, check_non_negative, check_positive
from art_sor.core.errors import SettingError
from art_sor.trainers.torch_step import StepSettings

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "multistep", "onecycle")
SELECTIONS = ("last", "best-robust")


_FLOAT32_MAX = float(np.finfo(np.float32).max)

@dataclass(frozen=True)
class OptimizerSettings:
    """An optimizer by name.

    :param name: ``"sgd"`` or ``"adam"``.
    :param lr: Learning rate (the peak rate for ``onecycle``).
    :param momentum: SGD momentum.
    :param weight_decay: L2 weight decay (coupled, as in ``torch.optim.SGD`` and ``Adam``).
    :param nesterov: Nesterov momentum (SGD).
    """

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        check_choice(self.name, OPTIMIZERS, "optimizer")
        object.__setattr__(self, "lr", check_positive(self.lr, "lr"))
        object.__setattr__(self, "momentum", check_non_negative(self.momentum, "momentum"))
        object.__setattr__(self, "weight_decay", check_non_negative(self.weight_decay, "weight_decay"))
        check_bool(self.nesterov, "nesterov")
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise SettingError("nesterov needs the sgd optimizer with momentum > 0", "nesterov")
        if self.name != "sgd" and self.momentum != type(self).momentum:
            raise SettingError(f"momentum {self.momentum:g} has no effect with the {self.name} optimizer (only sgd "
                               "takes a momentum); drop it or use sgd", "momentum")

    def build(self, parameters: Iterator[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimizer over ``parameters``."""
        if self.name == "sgd":
            return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
                                   nesterov=self.nesterov)
        return torch.optim.Adam(parameters, lr=self.lr, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class ScheduleSettings:
    """A learning-rate schedule by name.

    ``constant``; ``cosine`` (cosine annealing to 0 over the run, stepped per epoch); ``multistep`` (multiply by
    ``gamma`` at each of ``milestones``, in epochs: the piecewise schedule of Madry et al. and Rice et al.);
    ``onecycle`` (``OneCycleLR`` peaking at the optimizer's rate, stepped per batch; only the learning rate cycles:
    torch's default would also cycle SGD's momentum, or Adam's first beta, between 0.85 and 0.95, whatever the run
    sets and records).

    :param name: One of :data:`SCHEDULES`.
    :param milestones: Epochs at which ``multistep`` decays.
    :param gamma: ``multistep``'s factor.
    """

    name: str = "constant"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_choice(self.name, SCHEDULES, "schedule")
        milestones = tuple(check_count(m, "milestones") for m in self.milestones)
        if list(milestones) != sorted(set(milestones)):
            raise SettingError(f"milestones must increase, got {list(milestones)}", "milestones")
        object.__setattr__(self, "milestones", milestones)
        object.__setattr__(self, "gamma", check_positive(self.gamma, "gamma"))
        if self.name == "multistep" and not milestones:
            raise SettingError("milestones: the multistep schedule needs milestones (epochs), e.g. 100,150",
                               "milestones")
        if self.name != "multistep":
            for name, unused in (("milestones", bool(milestones)), ("gamma", self.gamma != type(self).gamma)):
                if unused:
                    raise SettingError(f"{name} {getattr(self, name) if name == 'gamma' else list(milestones)} has "
                                       f"no effect with the {self.name} schedule (only multistep decays at "
                                       "milestones by gamma); drop it or use schedule multistep", name)

    @property
    def needs_length(self) -> bool:
        """Whether the schedule depends on the number of epochs (cosine and onecycle do)."""
        return self.name in ("cosine", "onecycle")

    def build(self, optimizer: torch.optim.Optimizer, epochs: int, batches_per_epoch: int) -> tuple[Any, str]:
        """The scheduler and its interval (``"epoch"`` or ``"batch"``); ``(None, "epoch")`` for ``constant``."""
        if self.name == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
        if self.name == "multistep":
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(self.milestones), self.gamma), "epoch"
        if self.name == "onecycle":
            peak = optimizer.param_groups[0]["lr"]
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, epochs=epochs,
                                                       steps_per_epoch=batches_per_epoch,
                                                       cycle_momentum=False), "batch"
        return None, "epoch"


@dataclass(frozen=True)
class TrainingSetup:
    """Everything but the defence that a training run depends on; equal setups make runs comparable.

    :param epochs: Epochs to train.
    :param batch_size: Batch size.
    :param optimizer: Optimizer settings.
    :param schedule: Learning-rate schedule.
    :param seed: Seed of the initialisation, the shuffling, augmentation and the defences' randomness.
    :param architecture: Registered architecture or ``module:callable``.
    :param train_samples: Use only the first ``n`` training images (``None``: all, less the validation split).
    :param augmentation: ``"none"`` or ``"crop-flip"``.
    :param standardise: Standardise inputs per channel with the training set's mean and std (through ART's
                        preprocessing, so ε stays in pixel space).
    :param select: ``"last"`` epoch, or ``"best-robust"``: the epoch with the best PGD-10 accuracy on a held-out
                   validation split of the training set.
    :param validation_samples: Size of that split (taken from the end of the training set), for ``best-robust``.
    :param step_settings: Mixed precision, batch norm in the extra passes and micro-batches, supplied to every
                          defence like the threat model; a defence that cannot honour one refuses it.
    :param channels_last: Run convolutions in the ``channels_last`` memory format (faster on recent GPUs).
    :param sync_batch_norm: Under ``torch.distributed``, normalise with the statistics of the whole global batch
                            (``torch.nn.SyncBatchNorm``, CUDA only) rather than each process's shard.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param workers: Data-loader processes (0: load in the training process).
    """

    epochs: int = 3
    batch_size: int = 128
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    seed: int = 0
    architecture: str = "small-cnn"
    train_samples: int | None = None
    augmentation: str = "none"
    standardise: bool = False
    select: str = "last"
    validation_samples: int = 1000
    step_settings: StepSettings = field(default_factory=StepSettings)
    channels_last: bool = False
    sync_batch_norm: bool = False
    device: str = "auto"
    workers: int = 0

    def __post_init__(self) -> None:
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch_size")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 32:
            raise SettingError(f"seed must be an integer in [0, 2**32), got {self.seed!r}", "seed")
        if self.train_samples is not None:
            check_count(self.train_samples, "train_samples")
        check_choice(self.select, SELECTIONS, "select")
        check_count(self.validation_samples, "validation_samples")
        for name in ("standardise", "channels_last", "sync_batch_norm"):
            check_bool(getattr(self, name), name)
        check_count(self.workers, "workers", minimum=0)
        schedule = self.schedule
        if schedule.name == "multistep":
            # torch steps in float32: a rate beyond its range stops training with an overflow deep in the optimizer.
            decays = sum(1 for epoch in schedule.milestones if epoch < self.epochs)
            with np.errstate(over="ignore"):
                highest = float(np.float32(self.optimizer.lr) * np.float32(max(schedule.gamma, 1.0)) ** decays)
            if not math.isfinite(highest) or highest > _FLOAT32_MAX:
                raise SettingError(f"gamma {schedule.gamma:g} raises the learning rate {self.optimizer.lr:g} beyond "
                                   f"float32's range in {decays} steps, where the optimizer cannot step; gamma "
                                   "decays the rate when below 1", "gamma")

    def identity(self) -> dict[str, Any]:
        """The settings that change the trained weights (all but ``epochs``, ``device`` and ``workers``).

        The step settings are left to the trainer's configuration, which a run key records beside this.
        """
        settings = asdict(self)
        for key in ("epochs", "device", "workers", "step_settings"):
            settings.pop(key)
        settings["schedule"]["milestones"] = list(self.schedule.milestones)
        return settings
