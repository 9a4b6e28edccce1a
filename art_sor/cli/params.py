"""The options the ``art-sor`` commands share, with types that check values as they are parsed.

Choices, help texts and error messages come from the registries, so a newly installed dataset, architecture,
attack or defence appears here without a change. Recipe values fill in the options a user did not give.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from art_sor.classifiers.published import ROBUSTBENCH_PREFIX, RobustBenchModel
from art_sor.classifiers.view import BATCH_NORM_MODES
from art_sor.classifiers.wrapping import DEVICES, resolve_device
from art_sor.cli.options import TrainingOptions
from art_sor.core.errors import SettingError
from art_sor.core.norms import GEOMETRIES
from art_sor.core.threat import format_radius, standard_radius
from art_sor.data import dataset_spec
from art_sor.models import resolve_architecture
from art_sor.registry import ARCHITECTURES, ATTACKS, DATASETS, DEFENCES, Registry, RegistryError
from art_sor.runs.recipes import Recipe, RecipeError, load_recipe, recipe_for
from art_sor.runs.tracking import EXPERIMENT, Tracking
from art_sor.runs.training_setup import (
    OPTIMIZERS,
    SCHEDULES,
    SELECTIONS,
    OptimizerSettings,
    ScheduleSettings,
    TrainingSetup,
)
from art_sor.specs import Spec
from art_sor.trainers.torch_step import StepSettings

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

NORMS = click.Choice(list(GEOMETRIES))
"""The threat norms, one per :data:`~art_sor.core.norms.GEOMETRIES` entry."""


class Number(click.ParamType):
    """A finite number, written as a decimal or a fraction such as ``8/255``.

    :param positive: Require ``> 0`` (else ``>= 0``).
    """

    name = "number"

    def __init__(self, positive: bool = True) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Parse ``value``."""
        try:
            number = float(value) if isinstance(value, (int, float)) else float(Fraction(str(value).strip()))
        except (ValueError, ZeroDivisionError):
            self.fail(f"{value!r} is not a number or fraction", param, ctx)
        if not math.isfinite(number) or number < 0 or (self.positive and number == 0):
            self.fail(f"{value!r} must be a finite number {'>' if self.positive else '>='} 0", param, ctx)
        return number


class SpecType(click.ParamType):
    """A ``name:key=value`` spec of a registry entry, checked against the registry as it is parsed."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.name = registry.kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Spec:
        """Parse and check ``value``."""
        try:
            return self.registry.check(value)
        except (ValueError, TypeError) as error:
            self.fail(str(error), param, ctx)


class DatasetType(click.ParamType):
    """A dataset spec: a registered name, or ``npz:PATH`` / ``folder:PATH``."""

    name = "dataset"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Spec:
        """Parse and check ``value``."""
        if isinstance(value, Spec):
            return value
        try:
            return dataset_spec(value)
        except (ValueError, TypeError) as error:
            self.fail(str(error), param, ctx)


class ArchitectureType(click.ParamType):
    """A registered architecture or ``module:callable``, resolved as it is parsed."""

    name = "architecture"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Check that ``value`` can be built."""
        try:
            resolve_architecture(str(value))
        except RegistryError as error:
            self.fail(str(error), param, ctx)
        return str(value)


class IntegerList(click.ParamType):
    """Comma-separated integers, e.g. ``100,150`` (a TOML list in a recipe).

    :param what: What the integers are, for messages (``"epochs"``).
    :param seeds: Require at least one, all distinct, in ``[0, 2**32)``.
    """

    def __init__(self, what: str, seeds: bool = False) -> None:
        self.name, self.seeds = what, seeds

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        """Parse ``value``."""
        items = list(value) if isinstance(value, (list, tuple)) else [i for i in str(value).split(",") if i.strip()]
        try:
            numbers = tuple(int(item) for item in items)
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.name}", param, ctx)
        if self.seeds and (not numbers or len(set(numbers)) != len(numbers)
                           or not all(0 <= s < 2 ** 32 for s in numbers)):
            self.fail(f"{value!r}: give distinct seeds in [0, 2**32)", param, ctx)
        return numbers


class ModelSource(click.ParamType):
    """A model file (art-sor or MadryLab checkpoint, bare state_dict), or ``robustbench:NAME[:THREAT]``."""

    name = "checkpoint"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | RobustBenchModel:
        """Parse ``value``; a file must exist."""
        if isinstance(value, (Path, RobustBenchModel)):
            return value
        if str(value).startswith(ROBUSTBENCH_PREFIX):
            try:
                return RobustBenchModel.parse(str(value))
            except ValueError as error:
                self.fail(str(error), param, ctx)
        return click.Path(exists=True, dir_okay=False, path_type=Path).convert(value, param, ctx)


class NumberList(click.ParamType):
    """Comma-separated numbers, e.g. ``0.4914,0.4822,0.4465`` (decimals or fractions).

    :param positive: Require every number ``> 0`` (else ``>= 0``).
    """

    name = "numbers"

    def __init__(self, positive: bool = True) -> None:
        self.number = Number(positive)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, ...]:
        """Parse ``value``."""
        if isinstance(value, tuple):
            return value
        items = [item for item in str(value).split(",") if item.strip()]
        if not items:
            self.fail(f"{value!r} holds no number", param, ctx)
        return tuple(self.number.convert(item, param, ctx) for item in items)


def model_source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``CHECKPOINT``, ``--architecture``, the dataset's and the published-model options of ``evaluate``/``explain``.

    ``CHECKPOINT`` is any model :func:`~art_sor.classifiers.opening.open_model` opens.
    """
    for decorator in reversed([
        click.argument("checkpoint", type=ModelSource()),
        click.option("--architecture", type=ArchitectureType(), default=None,
                     help="Architecture of a bare state_dict, or of a MadryLab checkpoint [default there: resnet18]; "
                          "art-sor checkpoints and RobustBench models name their own."),
        dataset_options_for_models,
        published_model_options,
    ]):
        command = decorator(command)
    return command


def published_model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--mean`` and ``--std`` (a bare state_dict's standardisation) and ``--model-dir`` (RobustBench's)."""
    for decorator in reversed([
        click.option("--mean", type=NumberList(positive=False), default=None,
                     help="Per-channel mean (or one value) a bare state_dict's model was trained on, e.g. "
                          "0.4914,0.4822,0.4465; applied inside ART's preprocessing, so ε stays in pixel space. "
                          "With --std."),
        click.option("--std", type=NumberList(), default=None, help="Per-channel standard deviation, with --mean."),
        model_dir_option,
    ]):
        command = decorator(command)
    return command


def model_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--model-dir``: where RobustBench keeps its models."""
    return click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Where RobustBench keeps its models (MODEL_DIR/<dataset>/<threat model>/<name>.pt) "
                             "[default: models]; with --download it fetches missing ones. Only for "
                             "robustbench:NAME.")(command)


def standardisation_of(mean: tuple[float, ...] | None,
                       std: tuple[float, ...] | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``(mean, std)`` from ``--mean`` and ``--std``, or ``None`` when neither is given.

    :raises click.BadParameter: When only one of them is given.
    """
    if (mean is None) != (std is None):
        raise click.BadParameter("give --mean and --std together", param_hint="--std" if std is None else "--mean")
    return None if mean is None else (mean, std)


def _names(registry: Registry) -> str:
    return ", ".join(registry.names())


def dataset_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--dataset``, ``--data-root`` and ``--download``."""
    return _dataset_options(command, click.option(
        "--dataset", type=DatasetType(), default="digits", show_default=True,
        help=f"Dataset: {_names(DATASETS)}; npz:PATH and folder:PATH read your own data. digits is bundled with "
             "scikit-learn and needs no download."))


def dataset_options_for_models(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--dataset`` (by default the one an art-sor checkpoint was trained on), ``--data-root`` and ``--download``."""
    return _dataset_options(command, click.option(
        "--dataset", type=DatasetType(), default=None,
        help=f"Dataset: {_names(DATASETS)}; npz:PATH and folder:PATH read your own data [default: the one an art-sor "
             "checkpoint records, else digits]."))


def _dataset_options(command: Callable[..., Any], dataset: Decorator) -> Callable[..., Any]:
    for decorator in reversed([
        dataset,
        click.option("--data-root", type=click.Path(path_type=Path), default=None,
                     help="Folder of downloadable datasets [default: $ART_SOR_DATA, else ~/.cache/art-sor]; for "
                          "cifar10-foolbox, foolbox's wheel or data folder."),
        click.option("--download", is_flag=True,
                     help="Let torchvision download a dataset (and robustbench a model) that has no local copy."),
    ]):
        command = decorator(command)
    return command


def threat_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--eps`` and ``--norm``."""
    command = click.option("--norm", type=NORMS, default="inf", show_default=True,
                           help="Threat-model norm.")(command)
    return click.option("--eps", type=Number(), default=None,
                        help="Threat radius, e.g. 0.1 or 8/255 [default: the recipe's for its norm, else the "
                             f"dataset's standard radius in --norm; {radii_text(DEFAULT_DATASET)}].")(command)


def radii_text(dataset: str) -> str:
    """The standard radii of ``dataset`` for ``--help``: ``digits: L∞ 0.2, L2 1, L1 4``."""
    return f"{dataset}: " + ", ".join(f"{GEOMETRIES[norm].label} {format_radius(standard_radius(dataset, norm).eps)}"
                                      for norm in GEOMETRIES)


DEFAULT_DATASET = "digits"
"""The dataset, and so the recipe, of a command without ``--dataset`` or ``--recipe``."""


def recipe_default(key: str) -> bool | str:
    """What ``--help`` shows as an option's default: the value of the recipe that applies by default, if it sets one.

    Without ``--dataset`` or ``--recipe`` the default dataset's recipe fills the options the user does not give, so
    the option's own default would mislead (epochs 3 where 40 apply).
    """
    recipe = recipe_for(DEFAULT_DATASET)
    if key not in recipe.values:
        return True
    value = recipe.values[key]
    return f"{', '.join(map(str, value)) if isinstance(value, list) else value} from recipe {recipe.name}"


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The training setup: architecture, epochs, batch, optimizer, schedule, seed, data handling, selection."""
    for decorator in reversed([
        click.option("--architecture", type=ArchitectureType(), default="small-cnn",
                     show_default=recipe_default("architecture"),
                     help=f"Architecture: {_names(ARCHITECTURES)}, or module:callable for your own model (called "
                          "with the input shape and the number of classes)."),
        click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=recipe_default("epochs"),
                     help="Epochs."),
        click.option("--batch-size", type=click.IntRange(min=1), default=128,
                     show_default=recipe_default("batch_size")),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam",
                     show_default=recipe_default("optimizer")),
        click.option("--lr", type=Number(), default=1e-3, show_default=recipe_default("lr"),
                     help="Learning rate (the peak rate of onecycle)."),
        click.option("--momentum", type=Number(positive=False), default=0.9, show_default=recipe_default("momentum"),
                     help="SGD momentum."),
        click.option("--weight-decay", type=Number(positive=False), default=0.0,
                     show_default=recipe_default("weight_decay")),
        click.option("--nesterov/--no-nesterov", default=False, show_default=True, help="Nesterov momentum (SGD)."),
        click.option("--schedule", type=click.Choice(SCHEDULES), default="constant",
                     show_default=recipe_default("schedule"),
                     help="Learning-rate schedule; multistep with --milestones 100,150 is the piecewise schedule "
                          "of Madry and Rice et al.; onecycle steps per batch and cycles the learning rate only (the "
                          "momentum stays --momentum)."),
        click.option("--milestones", type=IntegerList("epochs"), default="", help="Epochs at which multistep decays."),
        click.option("--gamma", type=Number(), default=0.1,
                     show_default=recipe_default("gamma"), help="multistep's factor."),
        click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=recipe_default("seed")),
        click.option("--train-samples", type=click.IntRange(min=1), default=None,
                     help="Train on the first n training images only."),
        click.option("--augment/--no-augment", default=None,
                     help="Random crop (4-pixel padding) and horizontal flip [default: on for CIFAR, off "
                          "otherwise]."),
        click.option("--standardise/--no-standardise", default=False, show_default=True,
                     help="Standardise per channel with the training set's mean and std (inside ART's "
                          "preprocessing, so ε stays in pixel space)."),
        click.option("--select", type=click.Choice(SELECTIONS), default="last", show_default=True,
                     help="Keep the last epoch, or the one with the best PGD-10 accuracy on a held-out "
                          "validation split (against robust overfitting)."),
        click.option("--validation-samples", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Training images held out for --select best-robust."),
        click.option("--amp/--no-amp", default=False, show_default=True,
                     help="Mixed precision (torch.amp: float16 with a gradient scaler on CUDA, bfloat16 on CPU); "
                          "refused by defences that cannot train in it."),
        click.option("--micro-batch-size", type=click.IntRange(min=1), default=None,
                     help="Split each batch into micro-batches of this size whose gradients accumulate before one "
                          "optimizer step (less memory; batch norm then normalises each micro-batch) [default: "
                          "whole batches]."),
        click.option("--batch-norm", type=click.Choice(BATCH_NORM_MODES), default="batch", show_default=True,
                     help="Statistics batch norm uses in a defence's extra passes (regularizer or attack): the "
                          "batch's, or the running ones (eval); refused on a model without batch norm."),
        click.option("--channels-last/--no-channels-last", default=False, show_default=True,
                     help="channels_last memory format (faster convolutions on recent GPUs)."),
        click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Data-loader processes."),
        click.option("--sync-batch-norm/--no-sync-batch-norm", default=False, show_default=True,
                     help="Under torchrun, batch norm over the whole global batch (SyncBatchNorm, CUDA only)."),
    ]):
        command = decorator(command)
    return command


def device_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--device``, checked against the devices torch sees before any work starts."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        try:
            resolve_device(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error
        return value

    return click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, callback=check,
                        help="Where to run; auto picks CUDA when torch sees a GPU.")(command)


def _quiet_unless_terminal(ctx: click.Context, param: click.Parameter, quiet: bool) -> bool:
    """Progress bars only on a terminal: redrawn into a file, they fill it with carriage-return lines."""
    return quiet or not sys.stderr.isatty()


def output_options(default: str) -> Decorator:
    """``--out``, ``--overwrite`` and ``--quiet``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option("--quiet", is_flag=True, callback=_quiet_unless_terminal,
                               help="No progress bars (always the case when stderr is not a terminal, so that "
                                    "logs hold no bars).")(command)
        command = click.option("--overwrite", is_flag=True,
                               help="Replace runs in --out that were made with other settings.")(command)
        return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help=f"Output folder [default: {default}]. A rerun reuses what matches its settings "
                                 "and resumes what was interrupted.")(command)

    return decorate


def tracking_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--log-dir`` (TensorBoard), ``--mlflow``, ``--mlflow-uri`` and ``--mlflow-experiment``."""
    for decorator in reversed([
        click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Log each model's settings, per-epoch records and final evaluation to TensorBoard, one run "
                          "per model under this folder (needs art-sor[tensorboard]). Logging changes no result."),
        click.option("--mlflow", is_flag=True,
                     help="Log the same to MLflow, one run per model (needs art-sor[mlflow])."),
        click.option("--mlflow-uri", default=None,
                     help="MLflow tracking URI; implies --mlflow [default: $MLFLOW_TRACKING_URI, else MLflow's "
                          "default]."),
        click.option("--mlflow-experiment", default=EXPERIMENT, show_default=True, help="MLflow experiment."),
    ]):
        command = decorator(command)
    return command


def tracking_from(ctx: click.Context, options: TrainingOptions) -> Tracking:
    """The tracking options as a checked :class:`~art_sor.runs.tracking.Tracking`, its libraries imported.

    :raises click.BadParameter: For an experiment without MLflow.
    :raises SettingError: Naming ``mlflow_uri``, for a store MLflow refuses.
    :raises ImportError: Naming the extra to install.
    """
    mlflow = options.mlflow or options.mlflow_uri is not None
    if given(ctx, "mlflow_experiment") and not mlflow:
        raise click.BadParameter("--mlflow-experiment names an MLflow experiment; pass --mlflow too, or it would "
                                 "have no effect", param_hint="--mlflow-experiment")
    tracking = Tracking(options.log_dir, mlflow, options.mlflow_uri, options.mlflow_experiment)
    tracking.check()  # a store MLflow refuses is a SettingError naming mlflow_uri
    return tracking


def recipe_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--recipe``."""
    return click.option("--recipe", default=None,
                        help="A built-in recipe (art-sor recipes) or a TOML file; explicit flags override it "
                             "[default: the dataset's recipe if there is one, else 'default']. A default shown as "
                             f"'from recipe {DEFAULT_DATASET}' is that recipe's; another --dataset or --recipe may "
                             "set another.")(command)


def defence_option(default: tuple[str, ...]) -> Decorator:
    """``--defence`` (repeatable)."""
    return click.option("--defence", "defences", multiple=True, type=SpecType(DEFENCES), default=default,
                        show_default=True,
                        help=f"Defence spec, repeatable, e.g. 'sor:iterations=3'. Installed: {_names(DEFENCES)}.")


def attack_option(default: tuple[str, ...] | None, help_text: str) -> Decorator:
    """``--attack`` (repeatable)."""
    return click.option("--attack", "attacks", multiple=True, type=SpecType(ATTACKS), default=default,
                        show_default=default is not None, help=f"{help_text} Installed: {_names(ATTACKS)}.")


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user set option ``name`` (on the command line or in the environment)."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def apply_recipe(ctx: click.Context, values: dict[str, Any]) -> tuple[dict[str, Any], Recipe]:
    """Fill the options the user did not give from the recipe (``--recipe``, else the dataset's or ``default``).

    Recipe values go through the options' own types, so they are checked like flags.

    :raises click.BadParameter: For a recipe that cannot be read, or a key no command knows.
    """
    try:
        recipe = load_recipe(values["recipe"]) if values.get("recipe") else None
        if recipe is None:
            dataset = values["dataset"] if given(ctx, "dataset") else None
            recipe = recipe_for(dataset.name if dataset is not None else DEFAULT_DATASET)
    except RecipeError as error:
        raise click.BadParameter(str(error), param_hint="--recipe") from error
    parameters = {param.name: param for param in ctx.command.params if param.name not in _NOT_IN_RECIPES}
    unknown = sorted(set(recipe.values) - set(parameters))
    if unknown:
        raise click.BadParameter(f"recipe {recipe.name}: art-sor {ctx.command.name} takes no key "
                                 f"{', '.join(unknown)}; its keys are {', '.join(sorted(parameters))}",
                                 param_hint="--recipe")
    merged = dict(values)
    for key, value in recipe.values.items():
        problem = _recipe_type_problem(parameters[key], value)
        if problem:
            raise click.BadParameter(f"recipe {recipe.name}, key {key}: {problem}", param_hint="--recipe")
        if not given(ctx, key):
            try:
                merged[key] = parameters[key].type_cast_value(ctx, value)
            except click.BadParameter as error:
                raise click.BadParameter(f"recipe {recipe.name}, key {key}: {error.message}",
                                         param_hint="--recipe") from error
    return merged, recipe


# Options that name the recipe or the run's output (and where it is logged) rather than a setting.
_NOT_IN_RECIPES = ("recipe", "out", "overwrite", "quiet", "log_dir", "mlflow", "mlflow_uri",
                   "mlflow_experiment")


def _recipe_type_problem(param: click.Parameter, value: Any) -> str | None:
    """Why ``value`` is not of the option's type as TOML writes it, or ``None``; nothing is coerced.

    TOML has integers, floats, booleans, strings and lists, so a recipe states its types: ``epochs = 1.9`` or
    ``lr = true`` is refused rather than truncated or read as 1.
    """
    kind = param.type
    if isinstance(value, dict):
        return "a table is not a value (recipes are flat: key = value)"
    if getattr(param, "multiple", False) or isinstance(kind, IntegerList):
        items = value if isinstance(value, list) else [value]
        wanted = int if isinstance(kind, IntegerList) else str
        if isinstance(value, str) and wanted is int:
            return None  # "100,150", as on the command line
        bad = [item for item in items if isinstance(item, bool) or not isinstance(item, wanted)]
        return f"expected a list of {wanted.__name__}s, got {value!r}" if bad else None
    if isinstance(value, list):
        return f"expected one value, got the list {value!r}"
    if getattr(param, "is_flag", False) or isinstance(kind, click.types.BoolParamType):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(value, bool):
        return f"expected a {kind.name}, got the boolean {value!r}"
    if isinstance(kind, (click.types.IntParamType, click.IntRange)):
        return None if isinstance(value, int) else f"expected an integer, got {value!r}"
    if isinstance(kind, Number):
        return None if isinstance(value, (int, float, str)) else f"expected a number, got {value!r}"
    return None if isinstance(value, str) else f"expected a string, got {value!r}"


def setup_from(options: TrainingOptions, default_augmentation: str) -> TrainingSetup:
    """The training setup of the command's options.

    :raises click.BadParameter: Naming the option whose value is out of range.
    """
    try:
        optimizer = OptimizerSettings(options.optimizer, options.lr, options.momentum, options.weight_decay,
                                      options.nesterov)
        schedule = ScheduleSettings(options.schedule, tuple(options.milestones), options.gamma)
        augment = options.augment
        augmentation = default_augmentation if augment is None else ("crop-flip" if augment else "none")
        return TrainingSetup(epochs=options.epochs, batch_size=options.batch_size, optimizer=optimizer,
                             schedule=schedule, seed=options.seed, architecture=options.architecture,
                             train_samples=options.train_samples, augmentation=augmentation,
                             standardise=options.standardise, select=options.select,
                             validation_samples=options.validation_samples,
                             step_settings=StepSettings(amp=options.amp, batch_norm=options.batch_norm,
                                                        micro_batch_size=options.micro_batch_size),
                             channels_last=options.channels_last, sync_batch_norm=options.sync_batch_norm,
                             device=options.device, workers=options.workers)
    except (ValueError, TypeError) as error:
        raise option_error(error) from error


# Library arguments whose option has another Python name; every other setting's option has the setting's name.
_OPTION_NAMES = {"root": "data_root", "out_dir": "out", "data": "dataset", "source": "checkpoint",
                 "standardisation": "mean", "augmentation": "augment"}


def option_of(setting: str) -> str | None:
    """The current command's option (or argument) for a library setting's Python name, ``None`` if it has none.

    The one place where a :class:`~art_sor.core.errors.SettingError`'s setting becomes a command-line name:
    ``batch_size`` is ``--batch-size``, ``defences`` is ``--defence``, ``root`` is ``--data-root``.
    """
    context = click.get_current_context(silent=True)
    name = _OPTION_NAMES.get(setting, setting)
    for param in context.command.params if context is not None else ():
        if param.name == name:
            return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
    return None


def option_error(error: Exception) -> click.BadParameter:
    """A ``BadParameter`` with ``error``'s message, naming the option of a ``SettingError``'s setting."""
    setting = error.setting if isinstance(error, SettingError) else None
    return click.BadParameter(str(error), param_hint=option_of(setting) if setting is not None else None)

