"""Each sample's worst-case adversarial example over the attacks of an evaluation, kept for saving (``.npz``).

The worst case of a sample is, among its unperturbed input and every in-budget example of the attacks that ran on
all samples (those the per-sample worst case of :class:`~art_sor.evaluation.robustness.RobustnessResult` counts),
a misclassified one if there is any, and the one of lowest margin (true-class logit minus the largest other)
among those. A sample the report counts as robust therefore has a saved example whose prediction is its label,
and every other sample one whose prediction is not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.core.threat import ThreatModel
from art_sor.storage import atomic_write

UNPERTURBED = "none"
"""The attack name of a sample whose worst case is its own input (misclassified already, or no attack did worse)."""


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """True-class output minus the largest other output, per sample (negative when misclassified)."""
    rows = np.arange(len(labels))
    true = logits[rows, labels]
    others = logits.astype(np.float64, copy=True)
    others[rows, labels] = -np.inf
    return true - others.max(axis=1)


class WorstCaseExamples:
    """Collects each sample's worst-case example as the attacks run (see the module's docstring)."""

    def __init__(self) -> None:
        self.attacks: list[str] = [UNPERTURBED]
        self.x_adv: np.ndarray | None = None
        self.labels = self.clean_prediction = self.prediction = np.empty(0, dtype=np.int64)
        self._margin = np.empty(0)
        self._attack = np.empty(0, dtype=np.int64)

    def begin(self, x: np.ndarray, labels: np.ndarray, clean_logits: np.ndarray) -> None:
        """Start from the unperturbed inputs (copied) and their outputs."""
        self.x_adv = np.array(x, copy=True)
        self.labels = np.asarray(labels, dtype=np.int64).copy()
        self.clean_prediction = clean_logits.argmax(axis=1)
        self.prediction = self.clean_prediction.copy()
        self._margin = margins(clean_logits, self.labels)
        self._attack = np.zeros(len(x), dtype=np.int64)

    def offer(self, index: slice, x_adv: np.ndarray, logits: np.ndarray, inside: np.ndarray, attack: str) -> None:
        """Keep the examples of samples ``index`` that are inside the threat model and worse than the current ones."""
        if attack not in self.attacks:
            self.attacks.append(attack)
        labels = self.labels[index]
        prediction, margin = logits.argmax(axis=1), margins(logits, labels)
        fooled, was_fooled = prediction != labels, self.prediction[index] != labels
        better = inside & ((fooled & ~was_fooled) | ((fooled == was_fooled) & (margin < self._margin[index])))
        where = np.arange(index.start, index.stop)[better]
        self.x_adv[where] = x_adv[better]
        self.prediction[where] = prediction[better]
        self._margin[where] = margin[better]
        self._attack[where] = self.attacks.index(attack)

    @property
    def attack(self) -> np.ndarray:
        """The name of the attack that produced each sample's worst case (:data:`UNPERTURBED` for none)."""
        return np.array(self.attacks)[self._attack]

    @property
    def robust(self) -> np.ndarray:
        """Whether each sample's worst case is still classified correctly."""
        return self.prediction == self.labels

    def save(self, path: str | os.PathLike[str], threat: ThreatModel, key: dict[str, Any]) -> Path:
        """Write the arrays to ``path`` (``.npz``, atomically) with the threat model and ``key`` (what produced them).

        Fields: ``x_adv``, ``attack``, ``prediction``, ``label``, ``clean_prediction``, ``robust``, ``margin``,
        ``eps``, ``norm`` and ``key`` (JSON text).
        """
        if self.x_adv is None:
            raise RuntimeError("no evaluation has run")
        arrays = {"x_adv": self.x_adv, "attack": self.attack, "prediction": self.prediction, "label": self.labels,
                  "clean_prediction": self.clean_prediction, "robust": self.robust, "margin": self._margin,
                  "eps": np.float64(threat.eps), "norm": np.str_(threat.norm), "key": np.str_(json.dumps(key))}
        return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
