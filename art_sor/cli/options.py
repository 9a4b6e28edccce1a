"""Options and helpers shared by the ``art-sor`` commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers import load_checkpoint, load_classifier, wrap_model
from art_sor.data import DATASETS, Dataset, load_dataset
from art_sor.models import ARCHITECTURES, build_model

# Per-dataset defaults: ε and epochs at which a minute of CPU shows the effect on digits, and the
# issue's benchmark setting on Fashion-MNIST.
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"eps": 0.2, "epochs": 40, "batch_size": 64},
    "fashion-mnist": {"eps": 0.1, "epochs": 3, "batch_size": 128},
}


def dataset_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--dataset``, ``--data-root`` and ``--download``."""
    command = click.option("--download", is_flag=True,
                           help="Let torchvision download Fashion-MNIST if no local copy is found.")(command)
    command = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                           help="Folder holding FashionMNIST/raw (default: $ART_SOR_DATA or ~/.cache/art-sor); "
                                "for cifar10-foolbox, foolbox's wheel or its data folder.")(
        command)
    return click.option("--dataset", type=click.Choice(DATASETS), default="digits", show_default=True,
                        help="Dataset; digits is bundled with scikit-learn and needs no download.")(command)


def device_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--device``."""
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                        help="Where to run; auto picks CUDA when torch sees a GPU.")(command)


class Budget(click.ParamType):
    """A positive number, written as a decimal or a fraction such as ``8/255``."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Parse ``value``."""
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            try:
                number = float(Fraction(str(value).strip()))
            except (ValueError, ZeroDivisionError):
                self.fail(f"{value!r} is not a number or fraction", param, ctx)
        if not 0 < number < float("inf"):
            self.fail(f"{value!r} must be > 0", param, ctx)
        return number


def load_data(dataset: str, data_root: Path | None, download: bool) -> Dataset:
    """Load a dataset, turning a missing local copy into a CLI error."""
    try:
        return load_dataset(dataset, data_root, download)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error


def load_model(checkpoint: Path, architecture: str | None, data: Dataset, device: str
               ) -> tuple[PyTorchClassifier, dict[str, Any]]:
    """Load an art-sor checkpoint, or a bare ``state_dict`` of ``architecture`` (inputs in [0, 1], no preprocessing).

    :return: The classifier and the checkpoint's metadata (empty for a bare ``state_dict``).
    """
    if architecture is None:
        try:
            classifier, state = load_classifier(checkpoint, device=device)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="CHECKPOINT") from error
        if tuple(state["input_shape"]) != data.input_shape:
            raise click.BadParameter(f"the checkpoint expects inputs of shape {tuple(state['input_shape'])}, but "
                                     f"{data.name} has {data.input_shape}", param_hint="--dataset")
        return classifier, state["metadata"]
    try:
        load_checkpoint(checkpoint)
    except (ValueError, RuntimeError, OSError):
        pass
    else:
        raise click.BadParameter("this is an art-sor checkpoint; drop --architecture", param_hint="--architecture")
    model = build_model(architecture, data.input_shape, data.nb_classes)
    try:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    except RuntimeError as error:
        raise click.BadParameter(f"the state_dict does not fit {architecture}: {error}",
                                 param_hint="--architecture") from error
    model.eval()
    return wrap_model(model, data.input_shape, data.nb_classes, lr=None, clip_values=data.clip_values,
                      device=device), {}


def architecture_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--architecture`` for bare state_dicts."""
    return click.option("--architecture", type=click.Choice(sorted(ARCHITECTURES)), default=None,
                        help="Architecture of a bare state_dict (art-sor checkpoints name their own).")(command)


def write_json(path: Path, payload: Any) -> None:
    """Write indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def percent(value: float) -> str:
    """Format a fraction as a percentage with one decimal."""
    return f"{100 * value:.1f}%"
