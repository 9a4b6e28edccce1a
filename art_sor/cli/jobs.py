"""What ``train`` and ``compare`` check before any work: recipe, data, threat model, setup, specs, folder."""

from __future__ import annotations

import itertools
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic

import click
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.checkpoints import load_classifier
from art_sor.classifiers.opening import OpenedModel, Standardisation, open_model, recorded_dataset
from art_sor.classifiers.published import RobustBenchModel
from art_sor.cli.options import CompareOptions, Options, TrainingOptions
from art_sor.cli.params import DEFAULT_DATASET, apply_recipe, given, option_error, option_of, setup_from, tracking_from
from art_sor.core.errors import SettingError
from art_sor.core.norms import parse_norm
from art_sor.core.threat import Radius, ThreatModel, standard_radius
from art_sor.data import Dataset, dataset_spec, load_dataset
from art_sor.explain.scores import check_judge
from art_sor.runs.folders import FolderError, check_writable
from art_sor.runs.job_context import JobContext
from art_sor.runs.recipes import Recipe
from art_sor.runs.tracking import Tracking
from art_sor.runs.training_setup import TrainingSetup
from art_sor.runs.validation import validate_job
from art_sor.specs import Spec, safe_folder


@dataclass
class Job(Generic[Options]):
    """A checked job: everything a command needs, built from its options and recipe."""

    options: Options
    recipe: Recipe
    recipe_sources: dict[str, str]
    data: Dataset
    threat: ThreatModel
    setup: TrainingSetup
    defences: list[Spec]
    out: Path
    context: JobContext


def prepare_job(ctx: click.Context, values: dict[str, Any], kind: type[Options], default_out: str,
                attacks: Callable[[Options], Sequence[str | Spec]]) -> Job[Options]:
    """Merge the recipe into the command's typed options, load the data, check every setting, spec and the folder.

    :param values: The command's click values.
    :param kind: The command's options.
    :param attacks: The job's attacks, from its options.

    :raises click.ClickException: Naming the option at fault, before any training or attack.
    """
    merged, recipe = apply_recipe(ctx, values)
    options = kind.of(merged)
    data = open_dataset(options.dataset, options.data_root, options.download)
    if len(data.x_train) == 0:
        raise click.BadParameter(f"{data.name} has no training split (it holds test images for evaluation only); "
                                 "train on another dataset, e.g. cifar10", param_hint="--dataset")
    radius = default_radius(ctx, options, recipe, data)
    threat = ThreatModel(options.eps if radius is None else radius.eps, options.norm)
    refuse_settings_without_effect(options, {key for key in values if given(ctx, key)} | set(recipe.values))
    setup = setup_from(options, data.augmentation)
    tracking = tracking_from(ctx, options)
    out = options.out or Path("art-sor-runs") / default_out.format(dataset=folder_name(data.name), norm=threat.norm)
    try:
        check_writable(out)
    except FolderError as error:
        raise click.BadParameter(str(error), param_hint=option_of(error.setting)) from error
    validate_job(data, threat, setup, list(options.defences), list(attacks(options)))  # SettingError: its option
    # Where the values the recipe set come from; a flag the user gave is the user's own.
    sources = {key: source for key, source in recipe.sources.items()
               if key in recipe.values and not given(ctx, key)}
    if radius is not None:
        sources["eps"] = f"{threat.label}: {radius.source}"
    return Job(options, recipe, sources, data, threat, setup, list(options.defences), Path(out),
               job_context(options.quiet, options.overwrite, tracking))


def job_context(quiet: bool, overwrite: bool, tracking: Tracking | None = None) -> JobContext:
    """The context of a command's job: ``--quiet``, ``--overwrite``, messages on stderr, and tracking that logs."""
    return JobContext(verbose=not quiet, overwrite=overwrite, announce=_to_stderr,
                      tracking=tracking if tracking is not None and tracking.active else None)


def _to_stderr(message: str) -> None:
    click.echo(message, err=True)


def default_radius(ctx: click.Context, options: TrainingOptions, recipe: Recipe,
                   data: Dataset) -> Radius | None:
    """The dataset's standard radius in the norm, unless ``--eps`` or the recipe sets the radius.

    A recipe's ``eps`` belongs to the recipe's ``norm`` (L∞ when it names none): with another ``--norm`` the
    dataset's radius in that norm applies instead (:func:`~art_sor.core.threat.standard_radius`).

    :return: The radius and where it comes from when it is the dataset's, else ``None`` (``options.eps`` holds it).
    """
    if given(ctx, "eps"):
        return None
    recipe_norm = parse_norm(recipe.values.get("norm", "inf"))
    if "eps" in recipe.values and parse_norm(options.norm) == recipe_norm:
        return None
    return standard_radius(data.name, options.norm)


def refuse_settings_without_effect(options: TrainingOptions, chosen: set[str]) -> None:
    """Refuse an option that was chosen (given, or set by the recipe) but that the other settings would ignore.

    A setting without effect would still be recorded in the run's key and report, beside results it did not
    produce.

    :param options: The command's options, the recipe merged.
    :param chosen: The options the user gave or the recipe set.
    :raises click.BadParameter: Naming the option and the setting it depends on.
    """
    rules = [
        ("momentum", options.optimizer != "sgd", f"--momentum applies to SGD, not to {options.optimizer}"),
        ("milestones", options.schedule != "multistep",
         f"--milestones apply to the multistep schedule, not to {options.schedule}"),
        ("gamma", options.schedule != "multistep",
         f"--gamma applies to the multistep schedule, not to {options.schedule}"),
        ("validation_samples", options.select != "best-robust",
         "--validation-samples sizes the split of --select best-robust; without it no images are held out"),
        ("seed", isinstance(options, CompareOptions),
         "compare trains one run per seed of --seeds; pass --seeds 5 instead"),
        ("budget_fractions", isinstance(options, CompareOptions) and options.budget is None
         and options.budget_of is None, "--budget-fractions are fractions of --budget or --budget-of, and neither "
         "was given"),
    ]
    for name, ignored, reason in rules:
        if ignored and name in chosen:
            raise click.BadParameter(f"{reason}, so it would have no effect", param_hint="--" + name.replace("_", "-"))


def folder_name(dataset: str) -> str:
    """A folder name for a dataset: its registry name, or ``npz-NAME``/``folder-NAME`` for the user's own data."""
    kind, _, path = dataset.partition(":")
    return safe_folder(f"{kind}-{Path(path).stem}" if path else kind)


def command_line() -> str:
    """The command as the user typed it, for reports, with what it needs to run again.

    With a ``--architecture module:callable``, the ``PYTHONPATH`` that made the module importable comes first; with
    MLflow logging, ``MLFLOW_ALLOW_FILE_STORE`` when it is set (MLflow 3 refuses a local store without it); under
    ``torchrun``, its launcher with the number of processes in place of ``art-sor``.
    """
    arguments = sys.argv[1:]
    architectures = [value for flag, value in itertools.pairwise(arguments) if flag == "--architecture"]
    architectures += [a.removeprefix("--architecture=") for a in arguments if a.startswith("--architecture=")]
    path = os.environ.get("PYTHONPATH")
    prefix = f"PYTHONPATH={shlex.quote(path)} " if path and any(":" in a for a in architectures) else ""
    file_store = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if file_store and any(a in ("--mlflow", "--mlflow-uri") or a.startswith("--mlflow-uri=") for a in arguments):
        prefix += f"MLFLOW_ALLOW_FILE_STORE={shlex.quote(file_store)} "
    return prefix + _launcher() + " " + " ".join(shlex.quote(argument) for argument in arguments)


def _launcher() -> str:
    """``art-sor``, or under ``torchrun`` the launcher line that starts as many processes again."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return "art-sor"
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    nodes = f"--nnodes {world // local} " if world != local else "--standalone "
    return f"torchrun {nodes}--nproc-per-node {local} -m art_sor.cli"


def load_judge(path: Path, data: Dataset, device: str) -> tuple[PyTorchClassifier, dict[str, Any]]:
    """The ``--judge`` checkpoint's classifier and contents, refused unless it takes ``data``'s inputs and classes.

    :raises SettingError: Naming ``judge`` (the command maps it to ``--judge``).
    """
    classifier, state = load_classifier(path, device=device)
    check_judge(classifier, data.input_shape, data.nb_classes)  # a SettingError naming judge
    return classifier, state


def open_checkpoint(checkpoint: Path | RobustBenchModel, data: Dataset, architecture: str | None, device: str,
                    standardisation: Standardisation | None, model_dir: Path | None, download: bool) -> OpenedModel:
    """The CHECKPOINT of ``evaluate`` and ``explain`` (see :func:`~art_sor.classifiers.opening.open_model`).

    :raises click.ClickException: For missing RobustBench weights, naming ``--download`` and ``--model-dir``.
    """
    try:
        return open_model(checkpoint, data, architecture, device, standardisation, model_dir, download)
    except FileNotFoundError as error:  # the message speaks of download=True and the model folder
        raise click.ClickException(f"{error} (options --download, --model-dir)") from error


def model_dataset(checkpoint: Path | RobustBenchModel, dataset: Spec | None) -> Spec:
    """``--dataset`` if given, else the dataset an art-sor checkpoint records, else the default dataset.

    :raises click.BadParameter: Naming ``--dataset`` when the recorded dataset is not installed here.
    """
    if dataset is not None:
        return dataset
    recorded = recorded_dataset(checkpoint)
    try:
        return dataset_spec(recorded or DEFAULT_DATASET)
    except ValueError as error:
        raise click.BadParameter(f"the checkpoint was trained on {recorded!r}, which cannot be read here ({error}); "
                                 "pass the --dataset to evaluate it on", param_hint="--dataset") from error


def open_dataset(dataset: Spec, data_root: Path | None, download: bool) -> Dataset:
    """The dataset of ``--dataset``, ``--data-root`` and ``--download``; malformed user data blames ``--dataset``.

    A missing copy raises ``FileNotFoundError``, whose message says how to get it; ``--data-root`` or
    ``--download`` for a dataset that reads neither is refused.
    """
    try:
        return load_dataset(dataset, data_root, download)
    except FileNotFoundError as error:  # the message speaks of download=True and root: say which options they are
        raise click.ClickException(f"{error} (options --download, --data-root)") from error
    except SettingError as error:
        raise option_error(error) from error
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--dataset") from error
