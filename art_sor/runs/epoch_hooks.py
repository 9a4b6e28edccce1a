"""Epoch hooks of a run: the compute budget, the robustness monitor and best-robust epoch selection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.core.checks import check_choice, check_positive
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.attacks import quick_attack
from art_sor.evaluation.randomness import seeded
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.storage import load_checked, save_checked
from art_sor.trainers.base import EpochTrainer

CLOCKS = {"wall": "seconds", "cpu": "cpu_seconds"}
"""Budget clocks and the epoch-record entries they sum."""


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

    def crossings(self, history: Sequence[dict[str, Any]], fractions: Sequence[float]) -> dict[float, int]:
        """The first epoch of ``history`` whose cumulative training time reaches each fraction of the budget.

        Fractions that ``history`` does not reach are left out; two fractions may share an epoch.
        """
        found: dict[float, int] = {}
        spent = 0.0
        for record in history:
            spent += record[CLOCKS[self.clock]]
            for fraction in fractions:
                if fraction not in found and spent >= fraction * self.seconds:
                    found[fraction] = int(record["epoch"])
        return found

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> bool:
        """Epoch hook: stop once the epochs so far, this one included, reach the budget."""
        return self.reached([*trainer.history, record])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"seconds": self.seconds, "clock": self.clock}


SELECTION_STEPS = 10
"""Iterations of the attack that picks the best epoch for ``select="best-robust"``: the norm's
:func:`~art_sor.evaluation.attacks.quick_attack` (PGD-10 in L∞ and L2, as in MadryLab's robustness library;
L1-APGD-CE in L1)."""


BEST_FILE = "best_robust.pt"


class RobustnessMonitor:
    """Epoch hook: a cheap attack on a fixed subset of test images after every epoch.

    It gives the robustness-vs-compute curves; the accuracy goes into the epoch's record as
    ``monitor_robust_accuracy``.

    :param x: The fixed images.
    :param y: Their labels.
    :param threat: The threat model.
    :param attack: The attack spec (default the norm's :func:`~art_sor.evaluation.attacks.quick_attack` with 10
                   steps: PGD-10 in L∞ and L2, L1-APGD-CE in L1).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, threat: ThreatModel, attack: str | None = None) -> None:
        self.x, self.y, self.threat = x, y, threat
        self.attack = attack or quick_attack(threat.norm, 10)

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
    """Epoch hook of ``select="best-robust"``: keeps the epoch with the best validation accuracy under attack.

    The attack is the norm's :func:`~art_sor.evaluation.attacks.quick_attack` with :data:`SELECTION_STEPS` steps.

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
            attack = quick_attack(self.threat.norm, SELECTION_STEPS)
            result = evaluate_attacks(classifier, self.x, self.y, self.threat, [attack], verbose=False)
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
