"""Robust accuracy of an ART classifier under several attacks, sample by sample.

A sample is robust only if it is classified correctly and no attack broke it; an attack breaks a sample only with
an adversarial example inside the threat model (the ε-ball and the classifier's clip values), which this module
verifies itself rather than trusting each attack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from art_sor.classifiers.inputs import check_dataset, check_finite_outputs, check_input_dtype
from art_sor.core.checks import check_count
from art_sor.core.norms import Norm, geometry_of
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.attacks import PreparedAttack, prepare_attack
from art_sor.evaluation.randomness import seeded
from art_sor.evaluation.worst_case import WorstCaseExamples
from art_sor.specs import Spec

# Slack for float32 round-off when checking that a perturbation is inside the ball.
_BUDGET_SLACK = 1e-5


def _bits(robust: np.ndarray) -> str:
    return "".join("1" if value else "0" for value in robust)


def _from_bits(bits: str) -> np.ndarray:
    return np.frombuffer(bits.encode(), dtype=np.uint8) == ord("1")


@dataclass
class AttackResult:
    """One attack's outcome, with the kind of attack it is (declared by its factory).

    :ivar label: Attack name.
    :ivar spec: The spec it was built from.
    :ivar family: The spec's name (``pgd``, ``apgd-ce``, ...): attacks of one family differ only in budget.
    :ivar robust: Per-sample robustness on the samples it ran on (the first ``len(robust)``).
    :ivar white_box: Whether it used gradients.
    :ivar iterative: Whether it took more than one step.
    :ivar ensemble: Whether it is an ensemble of attacks.
    :ivar minimal: Whether it is a minimal-perturbation attack.
    :ivar strength: Total gradient steps, to order attacks of one family.
    :ivar seconds: Wall time.
    :ivar out_of_budget: Adversarial examples it returned outside the threat model (not counted as breaks).
    """

    label: str
    spec: str
    family: str
    robust: np.ndarray
    white_box: bool = True
    iterative: bool = True
    ensemble: bool = False
    minimal: bool = False
    strength: int = 1
    seconds: float = 0.0
    out_of_budget: int = 0

    @property
    def accuracy(self) -> float:
        """Robust accuracy on the samples it ran on."""
        return float(self.robust.mean())

    @property
    def samples(self) -> int:
        """Number of samples it ran on."""
        return len(self.robust)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, per-sample results included (as a string of 0s and 1s)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "robust"}
        return {**values, "accuracy": self.accuracy, "samples": self.samples, "robust": _bits(self.robust)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackResult:
        """Inverse of :meth:`to_dict`."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name != "robust"}
        return cls(robust=_from_bits(data["robust"]), **values)


@dataclass
class RobustnessResult:
    """Clean and adversarial correctness of every sample under every attack."""

    threat: ThreatModel
    clean: np.ndarray
    attacks: list[AttackResult] = field(default_factory=list)

    @property
    def clean_accuracy(self) -> float:
        """Accuracy without attack."""
        return float(self.clean.mean())

    def worst_case(self, gradient_only: bool = False) -> np.ndarray:
        """Per-sample robustness against every attack that ran on all samples.

        :param gradient_only: Only white-box attacks that are not ensembles (which may contain black-box Square).
        """
        robust = self.clean.copy()
        for result in self.attacks:
            if result.samples == len(self.clean) and (not gradient_only or (result.white_box and not result.ensemble)):
                robust &= result.robust
        return robust

    def worst_case_accuracy(self, gradient_only: bool = False) -> float:
        """Accuracy when a sample counts only if it survived every full-set attack."""
        return float(self.worst_case(gradient_only).mean())

    @property
    def reference(self) -> AttackResult | None:
        """The first single white-box iterative attack on all samples (PGD by default): what ensembles are held to."""
        return next((r for r in self.attacks if r.white_box and r.iterative and not r.ensemble and not r.minimal
                     and r.samples == len(self.clean)), None)

    @property
    def ensemble_gap(self) -> float | None:
        """Accuracy of :attr:`reference` minus that of the strongest ensemble (``None`` without both)."""
        ensembles = [r.accuracy for r in self.attacks if r.ensemble and r.samples == len(self.clean)]
        reference = self.reference
        return None if reference is None or not ensembles else reference.accuracy - min(ensembles)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, per-sample results included."""
        return {"threat": self.threat.to_dict(), "samples": len(self.clean), "clean_accuracy": self.clean_accuracy,
                "worst_case_accuracy": self.worst_case_accuracy(), "clean": _bits(self.clean),
                "attacks": [r.to_dict() for r in self.attacks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobustnessResult:
        """Inverse of :meth:`to_dict`."""
        return cls(threat=ThreatModel(**data["threat"]), clean=_from_bits(data["clean"]),
                   attacks=[AttackResult.from_dict(r) for r in data["attacks"]])


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray, norm: Norm) -> np.ndarray:
    """Per-sample ``‖x_adv − x‖`` in the threat model's norm."""
    diff = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    return geometry_of(norm).size(diff)


def evaluate_attacks(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, threat: ThreatModel,
                     attacks: Sequence[str | Spec], batch_size: int = 128, chunk_size: int = 500,
                     verbose: bool = True, on_result: Callable[[RobustnessResult], None] | None = None,
                     previous: RobustnessResult | None = None,
                     examples: WorstCaseExamples | None = None) -> RobustnessResult:
    """Run each attack on ``(x, y)`` in chunks on the classifier's device and record per-sample robustness.

    Every attack is built before the first one runs, so that a typo in the last spec fails at once.

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: Inputs inside the classifier's ``clip_values``; never modified.
    :param y: Labels, class indices or one-hot.
    :param threat: The threat model.
    :param attacks: Attack specs (``art-sor list attacks``).
    :param batch_size: Batch size inside ART's attacks.
    :param chunk_size: Samples handed to an attack at a time (the progress bar advances per chunk).
    :param verbose: Show a progress bar.
    :param on_result: Called with the result so far after each attack, to save partial results.
    :param previous: A partial result of the same evaluation (same samples and threat model); its attacks are
                     reused rather than run again, unless ``examples`` is given.
    :param examples: Collects each sample's worst-case adversarial example; every attack then runs, since a
                     previous result holds no examples.
    :raises TypeError: If ``x`` is of another floating dtype than the model.
    :raises ValueError: If the model's outputs on ``x`` are not finite.
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes,
                              clip_values=classifier.clip_values)
    chunk_size = check_count(chunk_size, "chunk_size")
    built = [(spec, prepare_attack(spec, classifier, threat, batch_size)) for spec in map(Spec.of, attacks)]
    check_input_dtype(classifier, x)
    clean_logits = classifier.predict(x, batch_size=batch_size)
    check_finite_outputs(clean_logits)
    clean = clean_logits.argmax(axis=1) == labels
    if examples is not None:
        examples.begin(x, labels, clean_logits)
    result = RobustnessResult(threat=threat, clean=clean)
    done = {}
    if (examples is None and previous is not None and previous.threat == threat
            and np.array_equal(previous.clean, clean)):
        done = {r.spec: r for r in previous.attacks}
    todo = [(spec, attack) for spec, attack in built if spec.label not in done]
    total = sum(_chunks(min(len(x), attack.subset or len(x)), chunk_size) for _, attack in todo)
    with tqdm(total=total, desc="attacks", disable=not verbose) as progress:
        for spec, attack in built:
            if spec.label in done:
                result.attacks.append(done[spec.label])
                continue
            progress.set_postfix(attack=attack.label)
            result.attacks.append(_run(attack, spec, classifier, x, labels, clean, threat, batch_size, chunk_size,
                                       progress, examples))
            if on_result is not None:
                on_result(result)
    return result


def _chunks(n: int, size: int) -> int:
    return -(-n // size)


def _run(attack: PreparedAttack, spec: Spec, classifier: PyTorchClassifier, x: np.ndarray, labels: np.ndarray,
         clean: np.ndarray, threat: ThreatModel, batch_size: int, chunk_size: int, progress: tqdm,
         examples: WorstCaseExamples | None) -> AttackResult:
    n = min(len(x), attack.subset or len(x))
    # Only attacks on every sample enter the worst case, as in RobustnessResult.worst_case.
    examples = examples if n == len(x) else None
    robust = clean[:n].copy()
    out_of_budget = 0
    start = time.perf_counter()
    for begin in range(0, n, chunk_size):
        index = slice(begin, min(begin + chunk_size, n))
        x_chunk, y_chunk = x[index], labels[index]
        with seeded():
            x_adv = attack.attack.generate(x_chunk.copy(), y=y_chunk)
        logits = classifier.predict(x_adv, batch_size=batch_size)
        fooled = logits.argmax(axis=1) != y_chunk
        inside = perturbation_norms(x_chunk, x_adv, threat.norm) <= threat.eps * (1 + _BUDGET_SLACK) + _BUDGET_SLACK
        if classifier.clip_values is not None:
            low, high = classifier.clip_values
            inside &= np.all((x_adv >= low - _BUDGET_SLACK) & (x_adv <= high + _BUDGET_SLACK),
                             axis=tuple(range(1, x.ndim)))
        if not attack.minimal:
            out_of_budget += int(np.sum(fooled & ~inside))
        robust[index] &= ~(fooled & inside)
        if examples is not None:
            examples.offer(index, x_adv, logits, inside, spec.label)
        progress.update(1)
    return AttackResult(label=attack.label, spec=spec.label, family=spec.name, robust=robust,
                        white_box=attack.white_box, iterative=attack.iterative, ensemble=attack.ensemble,
                        minimal=attack.minimal, strength=attack.strength, seconds=time.perf_counter() - start,
                        out_of_budget=out_of_budget)
