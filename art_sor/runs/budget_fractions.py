"""Models kept at fractions of a compute budget: the fractions' check, the epoch hook that saves them, reading them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from art_sor.classifiers.checkpoints import load_classifier, save_classifier
from art_sor.core.errors import SettingError
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.run_key import RunKey, RunMismatchError
from art_sor.runs.trained_model import MODEL_FILE, TrainedModel
from art_sor.trainers.base import EpochTrainer


def check_budget_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """``fractions`` as floats, checked: in (0, 1], sorted, distinct, the last 1 (the whole budget).

    :raises SettingError: Naming ``budget_fractions``.
    """
    try:
        values = tuple(float(fraction) for fraction in fractions)
    except (TypeError, ValueError) as error:
        raise SettingError(f"budget_fractions must be numbers, got {fractions!r}", "budget_fractions") from error
    if not values or not all(math.isfinite(v) and 0 < v <= 1 for v in values):
        raise SettingError(f"budget_fractions must be numbers in (0, 1], got {list(values)}", "budget_fractions")
    if list(values) != sorted(set(values)):
        raise SettingError(f"budget_fractions must be sorted and distinct, got {list(values)}", "budget_fractions")
    if values[-1] != 1:
        raise SettingError(f"budget_fractions must end with 1 (the whole budget), got {list(values)}",
                           "budget_fractions")
    return values


def fraction_folder(run_folder: Path, fraction: float) -> Path:
    """Where a run keeps its model of ``fraction``: ``budget-0.25`` in the run's folder."""
    text = f"{fraction:g}"
    return run_folder / f"budget-{text if float(text) == fraction else repr(fraction)}"


class FractionKeeper:
    """Epoch hook: saves the model of the first epoch whose cumulative training time crosses each budget fraction.

    Each model goes to ``budget-<fraction>/model.pt`` in the run's folder (atomically, checksummed, like the run's
    final model) with the run's key, its fraction and its epoch. It is saved before the epoch's training state, so
    that a run killed in between trains the epoch again and saves it again; which epochs are kept is read back from
    the history of the training state (:meth:`~art_sor.runs.epoch_hooks.Budget.crossings`), never from this hook.

    :param budget: The budget.
    :param fractions: Its fractions (:func:`check_budget_fractions`).
    :param folder: The run's folder.
    :param architecture: The model's architecture, for the checkpoints.
    :param key: The run's key.
    """

    def __init__(self, budget: Budget, fractions: Sequence[float], folder: Path, architecture: str,
                 key: RunKey) -> None:
        self.budget, self.fractions, self.folder = budget, tuple(fractions), folder
        self.architecture, self.key = architecture, key

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> None:
        """Save the model for each fraction that this epoch is the first to cross (rank 0 only)."""
        if not trainer.parallel.leader:
            return
        for fraction, epoch in self.budget.crossings([*trainer.history, record], self.fractions).items():
            if epoch == record["epoch"]:
                save_classifier(fraction_folder(self.folder, fraction) / MODEL_FILE, trainer.get_classifier(),
                                self.architecture, metadata={"run": self.key.to_dict(), "budget_fraction": fraction,
                                                             "epoch": epoch})


@dataclass
class KeptModel:
    """A run's model at a fraction of its budget.

    :ivar fraction: The fraction.
    :ivar model: The model of the first epoch whose cumulative training time crossed it, with the history up to
                 that epoch.
    """

    fraction: float
    model: TrainedModel


def kept_models(trained: TrainedModel, budget: Budget, fractions: Sequence[float], folder: Path,
                device: str) -> list[KeptModel]:
    """The kept model of each fraction that ``trained``'s history crosses, in the order of ``fractions``.

    A fraction that the run did not reach within its epochs has none.

    :raises RunMismatchError: If a kept model is missing, or is another run's or another epoch's.
    """
    models = []
    for fraction, epoch in budget.crossings(trained.history, fractions).items():
        path = fraction_folder(folder, fraction) / MODEL_FILE
        if not path.exists():
            raise RunMismatchError(f"{path} is missing: it held epoch {epoch}, the first to cross {fraction:g} of "
                                   "the budget. Overwrite the run to train it again")
        classifier, state = load_classifier(path, device=device)
        stored = state["metadata"]
        differences = trained.key.differences(RunKey.from_dict(stored["run"]))
        if differences or stored["epoch"] != epoch:
            found = (f"another run's model ({', '.join(differences)})" if differences
                     else f"epoch {stored['epoch']}")
            raise RunMismatchError(f"{path} holds {found}, not epoch {epoch}, the first to cross {fraction:g} of the "
                                   "budget. Overwrite the run to train it again")
        models.append(KeptModel(fraction, replace(trained, classifier=classifier, history=trained.history[:epoch],
                                                  selected_epoch=epoch, path=path)))
    return models
