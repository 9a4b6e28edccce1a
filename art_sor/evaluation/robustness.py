"""Robust accuracy of an ART classifier under several attacks, sample by sample.

A sample is robust only if it is classified correctly and no attack broke it; an attack breaks a sample only with
an adversarial example inside the threat model (the ε-ball and the classifier's clip values), which this module
verifies itself rather than trusting each attack.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from art_sor.core.norms import Norm, parse_norm
from art_sor.evaluation.attacks import PreparedAttack, prepare_attack
from art_sor.evaluation.randomness import seeded
from art_sor.specs import Spec
from art_sor.validation import check_count, check_dataset, check_positive

# Slack for float32 round-off when checking that a perturbation is inside the ball.
_BUDGET_SLACK = 1e-5


@dataclass
class AttackResult:
    """One attack's outcome.

    :ivar label: Attack name.
    :ivar spec: The spec it was built from.
    :ivar robust: Per-sample robustness on the samples it ran on (the first ``len(robust)``).
    :ivar white_box: Whether it used gradients.
    :ivar strength: Total gradient steps, to order attacks of one family.
    :ivar seconds: Wall time.
    :ivar out_of_budget: Adversarial examples it returned outside the threat model (not counted as breaks).
    :ivar family: The spec's name (``pgd``, ``apgd-ce``, ...): attacks of one family differ only in budget.
    :ivar ensemble: Whether it is an ensemble of attacks.
    :ivar minimal: Whether it is a minimal-perturbation attack.
    """

    label: str
    spec: str
    robust: np.ndarray
    white_box: bool
    strength: int
    seconds: float
    out_of_budget: int = 0
    family: str = ""
    ensemble: bool = False
    minimal: bool = False

    @property
    def accuracy(self) -> float:
        """Robust accuracy on the samples it ran on."""
        return float(self.robust.mean())

    @property
    def samples(self) -> int:
        """Number of samples it ran on."""
        return len(self.robust)


@dataclass
class RobustnessResult:
    """Clean and adversarial correctness of every sample under every attack."""

    eps: float
    norm: Norm
    clean: np.ndarray
    attacks: list[AttackResult] = field(default_factory=list)

    @property
    def clean_accuracy(self) -> float:
        """Accuracy without attack."""
        return float(self.clean.mean())

    def worst_case(self, gradient_only: bool = False) -> np.ndarray:
        """Per-sample robustness against every attack that ran on all samples.

        :param gradient_only: Only white-box attacks that are not ensembles (ART's AutoAttack contains Square).
        """
        robust = self.clean.copy()
        for result in self.attacks:
            if result.samples == len(self.clean) and (not gradient_only or (result.white_box and not result.ensemble)):
                robust &= result.robust
        return robust

    def worst_case_accuracy(self, gradient_only: bool = False) -> float:
        """Accuracy when a sample counts only if it survived every full-set attack."""
        return float(self.worst_case(gradient_only).mean())

    def find(self, label: str) -> AttackResult | None:
        """The result of the attack with this label, if it ran."""
        return next((result for result in self.attacks if result.label == label), None)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly summary (accuracies, not per-sample arrays)."""
        return {
            "eps": self.eps, "norm": self.norm, "samples": len(self.clean), "clean_accuracy": self.clean_accuracy,
            "worst_case_accuracy": self.worst_case_accuracy(),
            "attacks": [{"label": r.label, "spec": r.spec, "accuracy": r.accuracy, "samples": r.samples,
                         "white_box": r.white_box, "seconds": r.seconds, "out_of_budget": r.out_of_budget}
                        for r in self.attacks],
        }


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray, norm: Norm) -> np.ndarray:
    """Per-sample ``‖x_adv − x‖`` in the threat model's norm."""
    diff = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    return np.abs(diff).max(axis=1) if norm == "inf" else np.linalg.norm(diff, axis=1)


def evaluate_attacks(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, eps: float, norm: object,
                     attacks: Sequence[str | Spec], batch_size: int = 128, chunk_size: int = 500,
                     verbose: bool = True) -> RobustnessResult:
    """Run each attack on ``(x, y)`` in chunks on the classifier's device and record per-sample robustness.

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: Inputs; never modified.
    :param y: Labels, class indices or one-hot.
    :param eps: Radius of the threat model.
    :param norm: ``"inf"`` or ``"l2"``.
    :param attacks: Attack specs (see :mod:`art_sor.evaluation.attacks`).
    :param batch_size: Batch size inside ART's attacks.
    :param chunk_size: Samples handed to an attack at a time (the progress bar advances per chunk).
    :param verbose: Show a progress bar.
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    norm, eps = parse_norm(norm), check_positive(eps, "eps")
    chunk_size = check_count(chunk_size, "chunk_size")
    prepared = [(spec if isinstance(spec, Spec) else Spec.parse(spec)) for spec in attacks]
    built = [(spec, prepare_attack(spec, classifier, eps, norm, batch_size)) for spec in prepared]
    clean = classifier.predict(x, batch_size=batch_size).argmax(axis=1) == labels
    result = RobustnessResult(eps=eps, norm=norm, clean=clean)
    total = sum(_chunks(min(len(x), attack.subset or len(x)), chunk_size) for _, attack in built)
    with tqdm(total=total, desc="attacks", disable=not verbose) as progress:
        for spec, attack in built:
            progress.set_postfix(attack=attack.label)
            result.attacks.append(_run(attack, spec, classifier, x, labels, clean, eps, norm, batch_size,
                                       chunk_size, progress))
    return result


def _chunks(n: int, size: int) -> int:
    return -(-n // size)


def _run(attack: PreparedAttack, spec: Spec, classifier: PyTorchClassifier, x: np.ndarray, labels: np.ndarray,
         clean: np.ndarray, eps: float, norm: Norm, batch_size: int, chunk_size: int, progress: tqdm
         ) -> AttackResult:
    n = min(len(x), attack.subset or len(x))
    robust = clean[:n].copy()
    out_of_budget = 0
    start = time.perf_counter()
    for begin in range(0, n, chunk_size):
        index = slice(begin, min(begin + chunk_size, n))
        x_chunk, y_chunk = x[index], labels[index]
        with seeded():
            x_adv = attack.attack.generate(x_chunk.copy(), y=y_chunk)
        fooled = classifier.predict(x_adv, batch_size=batch_size).argmax(axis=1) != y_chunk
        inside = perturbation_norms(x_chunk, x_adv, norm) <= eps * (1 + _BUDGET_SLACK) + _BUDGET_SLACK
        if classifier.clip_values is not None:
            low, high = classifier.clip_values
            inside &= np.all((x_adv >= low - _BUDGET_SLACK) & (x_adv <= high + _BUDGET_SLACK),
                             axis=tuple(range(1, x.ndim)))
        if not attack.minimal:
            out_of_budget += int(np.sum(fooled & ~inside))
        robust[index] &= ~(fooled & inside)
        progress.update(1)
    return AttackResult(label=attack.label, spec=spec.label, robust=robust, white_box=attack.white_box,
                        strength=attack.strength, seconds=time.perf_counter() - start, out_of_budget=out_of_budget,
                        family=spec.name, ensemble=attack.ensemble, minimal=attack.minimal)
