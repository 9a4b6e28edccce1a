"""A trained model, its history, and the files a run folder holds for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_sor.runs.run_key import RunKey
from art_sor.specs import Spec
from art_sor.tables import Table

MODEL_FILE = "model.pt"


HISTORY_FILE = "history.csv"
"""Beside ``model.pt`` (which carries the run's key): one row per epoch."""


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

    def to_markdown(self, last: int = 5) -> str:
        """A short summary: defence, epochs, cost, and the history of the ``last`` epochs as a table."""
        shown = self.history[-last:]
        window = f"last {len(shown)} of {self.epochs} epochs" if len(shown) < self.epochs else "every epoch"
        lines = [f"{self.spec.label} on {self.key.dataset_spec}: {self.epochs} epochs in "
                 f"{self.training_seconds:.1f} s, selected epoch {self.selected_epoch}"
                 + (f", saved to {self.path}" if self.path else "") + f"; history ({window}):", "",
                 *history_table(shown, digits=4).markdown()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def history_table(history: Sequence[dict[str, Any]], digits: int = 6) -> Table:
    """The per-epoch records as a table: one row per epoch, one column per entry (in order of first appearance).

    :param digits: Significant digits of the numbers.
    """
    columns = list(dict.fromkeys(key for record in history for key in record))

    def cell(value: Any) -> str:
        if isinstance(value, list):  # warnings
            return "; ".join(map(str, value))
        return "" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    return Table(columns, [[cell(record.get(column)) for column in columns] for record in history])
