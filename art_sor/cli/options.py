"""The typed options of the commands that run a job: built once from click's values (and a recipe), read by name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from art_sor.classifiers.published import RobustBenchModel
from art_sor.classifiers.view import BatchNormMode
from art_sor.specs import Spec

Command = TypeVar("Command", bound="CommandOptions")
Options = TypeVar("Options", bound="TrainingOptions")


@dataclass(frozen=True)
class CommandOptions:
    """A command's options, one field per option of the same Python name; ``--help`` describes them."""

    @classmethod
    def of(cls: type[Command], values: dict[str, Any]) -> Command:
        """The options of a command's click values (merged with its recipe, if it reads one): one field per option.

        :raises TypeError: When the command's options and the fields differ (an option added without its field).
        """
        names = {field.name for field in fields(cls)}
        if set(values) != names:
            raise TypeError(f"{cls.__name__} does not match the command's options: no field for "
                            f"{sorted(set(values) - names)}, no option for {sorted(names - set(values))}")
        return cls(**values)


@dataclass(frozen=True)
class TrainingOptions(CommandOptions):
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
    budget_fractions: tuple[float, ...] | None
    clock: str
    seeds: tuple[int, ...]
    monitor_attack: Spec | None
    monitor_samples: int
    diagnostics: bool
    alignment: bool
    judge: Path | None
    references: tuple[Path | RobustBenchModel, ...]
    model_dir: Path | None


@dataclass(frozen=True)
class ModelOptions(CommandOptions):
    """The options ``evaluate`` and ``explain`` share: the model (CHECKPOINT and how to read it), data and output."""

    checkpoint: Path | RobustBenchModel
    architecture: str | None
    dataset: Spec | None
    data_root: Path | None
    download: bool
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    model_dir: Path | None
    out: Path | None
    overwrite: bool
    quiet: bool
    device: str


@dataclass(frozen=True)
class EvaluateOptions(ModelOptions):
    """The options of ``evaluate``: the shared ones, the threat model and the evaluation plan's."""

    eps: float | None
    norm: str | None
    attacks: tuple[Spec, ...]
    eval_samples: int
    curve: bool
    geometry: bool
    tolerance: float
    batch_size: int
    save_adversarial: bool


@dataclass(frozen=True)
class ExplainOptions(ModelOptions):
    """The options of ``explain``: the shared ones, the images, the counterfactuals' budget, judge and scores."""

    images: tuple[int, ...]
    eps: float | None
    norm: str
    steps: int
    judge: Path | None
    score_samples: int
    counterfactual_samples: int
    name: str | None
