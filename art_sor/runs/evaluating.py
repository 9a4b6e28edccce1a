"""Evaluations of saved models: run once, on the whole test set and an attacked subset, cached under the full key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.data import Dataset
from art_sor.evaluation.full_evaluation import FullEvaluation, evaluate_classifier
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.evaluation.worst_case import WorstCaseExamples
from art_sor.runs.reports import percent
from art_sor.runs.reuse import evaluation_cache_key, saved_examples_match, stored_evaluation
from art_sor.storage import write_checked_json

EVALUATION_FILE = "evaluation.json"
"""A model's cached evaluation in its folder (see :func:`evaluate_model`)."""


@dataclass
class TestSetEvaluation:
    """A model's evaluation and its clean accuracy on the whole test set."""

    clean_accuracy: float
    evaluation: FullEvaluation
    test_images: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"clean_accuracy": self.clean_accuracy, "test_images": self.test_images,
                "evaluation": self.evaluation.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestSetEvaluation:
        """Inverse of :meth:`to_dict`."""
        return cls(clean_accuracy=data["clean_accuracy"], test_images=data["test_images"],
                   evaluation=FullEvaluation.from_dict(data["evaluation"]))

    def metrics(self) -> dict[str, float]:
        """The headline numbers, by name (for experiment trackers): accuracies, worst case and geometry."""
        r = self.evaluation.robustness
        metrics = {"clean_accuracy": self.clean_accuracy, "attacked_clean_accuracy": r.clean_accuracy,
                   **{f"accuracy/{a.spec}": a.accuracy for a in r.attacks},
                   "worst_case_accuracy": r.worst_case_accuracy()}
        g = self.evaluation.geometry
        if g is not None:
            metrics |= {"gradient_norm": g.gradient_norm, "hessian_eigenvalue": g.hessian_eigenvalue,
                        "linearity_gap": g.linearity_gap}
        return metrics

    def to_markdown(self) -> str:
        """A short summary: clean accuracy on the whole test set, then :meth:`FullEvaluation.to_markdown`."""
        return (f"Clean accuracy on all {self.test_images} test images: {percent(self.clean_accuracy)} %.\n"
                f"{self.evaluation.to_markdown()}")

    def __str__(self) -> str:
        return self.to_markdown()


def cached_evaluation(plan: EvaluationPlan, model: dict[str, Any], cache: Path) -> TestSetEvaluation | None:
    """The finished evaluation that :func:`evaluate_model` would reuse from ``cache``, or ``None``."""
    stored = stored_evaluation(cache, evaluation_cache_key(plan, model))
    return TestSetEvaluation.from_dict(stored["result"]) if stored is not None and stored["complete"] else None


def evaluate_model(classifier: PyTorchClassifier, data: Dataset, plan: EvaluationPlan, model: dict[str, Any],
                   cache: Path | None = None, verbose: bool = True,
                   adversarial: Path | None = None,
                   announce: Callable[[str], None] | None = None) -> TestSetEvaluation:
    """Evaluate ``classifier`` on ``data``'s test set with ``plan``, reusing a cached evaluation of the same model.

    The cache file holds the model's key (``model``), the plan's key and the result. It is written after every
    attack, so an interrupted evaluation keeps what it measured and a rerun continues from there; it is reused
    only when both keys are equal.

    :param model: Identifies the model (its run key, or its checkpoint's checksum).
    :param cache: JSON file for the cached evaluation, or ``None``.
    :param adversarial: ``.npz`` file for each attacked sample's worst-case adversarial example (see
                        :mod:`~art_sor.evaluation.worst_case`), saved with the same key. Unless one with this key
                        exists beside a complete cache, every attack runs again, so that the examples and the
                        numbers come from one run.
    :param announce: Told what a cached evaluation gave: everything, or the attacks a resumed one reuses.
    """
    key = evaluation_cache_key(plan, model)
    stored = stored_evaluation(cache, key)
    if adversarial is not None and not saved_examples_match(adversarial, key):
        stored = None
    previous = None
    if stored is not None:
        if stored["complete"]:
            if announce is not None:
                announce(f"reusing the finished evaluation in {cache} (same model and settings): no attack runs again")
            return TestSetEvaluation.from_dict(stored["result"])
        previous = FullEvaluation.from_dict(stored["result"]["evaluation"])
        if announce is not None and previous.robustness.attacks:
            reused = ", ".join(attack.label for attack in previous.robustness.attacks)
            announce(f"resuming the interrupted evaluation in {cache}: reusing {reused}; running the rest")
    clean = float(np.mean(classifier.predict(data.x_test, batch_size=plan.batch_size).argmax(axis=1)
                          == data.y_test))
    test_images = len(data.x_test)

    def save(evaluation: FullEvaluation, complete: bool) -> None:
        if cache is not None:
            result = TestSetEvaluation(clean, evaluation, test_images).to_dict()
            write_checked_json(cache, {"key": key, "complete": complete, "result": result})

    examples = WorstCaseExamples() if adversarial is not None else None
    evaluation = evaluate_classifier(classifier, data.x_test, data.y_test, plan, verbose=verbose,
                                     on_partial=lambda partial: save(partial, False), previous=previous,
                                     examples=examples)
    if examples is not None:
        examples.save(adversarial, plan.threat, key)
    save(evaluation, True)
    return TestSetEvaluation(clean, evaluation, test_images)


