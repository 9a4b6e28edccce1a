"""The typed options of ``train`` and ``compare``: built once from click's values and the recipe, read by name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from art_sor.classifiers.published import RobustBenchModel
from art_sor.classifiers.view import BatchNormMode
from art_sor.specs import Spec

Options = TypeVar("Options", bound="TrainingOptions")


@dataclass(frozen=True)
class TrainingOptions:
    """The options ``train`` and ``compare`` share (recipe, data, defences, threat model, setup, output, tracking).

    Each field is the option of the same Python name, after the recipe filled the options the user did not give;
    ``--help`` describes them.
    """

    recipe: str | None
    dataset: Spec
    data_root: Path | None
    download: bool
    defences: tuple[Spec, ...]
    eps: float | None
    norm: str
    architecture: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    nesterov: bool
    schedule: str
    milestones: tuple[int, ...]
    gamma: float
    seed: int
    train_samples: int | None
    augment: bool | None
    standardise: bool
    select: str
    validation_samples: int
    amp: bool
    batch_norm: BatchNormMode
    micro_batch_size: int | None
    channels_last: bool
    workers: int
    sync_batch_norm: bool
    eval_samples: int
    out: Path | None
    overwrite: bool
    quiet: bool
    log_dir: Path | None
    mlflow: bool
    mlflow_uri: str | None
    mlflow_experiment: str
    device: str

    @classmethod
    def of(cls: type[Options], values: dict[str, Any]) -> Options:
        """The options of a command's click values, merged with its recipe: one field per option, no other.

        :raises TypeError: When the command's options and the fields differ (an option added without its field).
        """
        names = {field.name for field in fields(cls)}
        if set(values) != names:
            raise TypeError(f"{cls.__name__} does not match the command's options: no field for "
                            f"{sorted(set(values) - names)}, no option for {sorted(names - set(values))}")
        return cls(**values)


@dataclass(frozen=True)
class TrainOptions(TrainingOptions):
    """The options of ``train``: the shared ones and the quick attack's iterations."""

    attack_steps: int


@dataclass(frozen=True)
class CompareOptions(TrainingOptions):
    """The options of ``compare``: the shared ones, its attacks, budget, seeds, monitor, diagnostics and references."""

    attacks: tuple[Spec, ...]
    budget: float | None
    budget_of: tuple[Spec, int] | None
    clock: str
    seeds: tuple[int, ...]
    monitor_attack: Spec | None
    monitor_samples: int
    diagnostics: bool
    alignment: bool
    judge: Path | None
    references: tuple[Path | RobustBenchModel, ...]
    model_dir: Path | None
