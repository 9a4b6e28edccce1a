"""One call that evaluates any ART ``PyTorchClassifier``: attacks, security curve, diagnostics and geometry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_dataset
from art_sor.evaluation.curves import SecurityCurve, security_curve
from art_sor.evaluation.diagnostics import Check, gradient_check, obfuscation_checks
from art_sor.evaluation.geometry import Geometry, geometry_metrics
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.evaluation.robustness import RobustnessResult, evaluate_attacks
from art_sor.evaluation.worst_case import WorstCaseExamples
from art_sor.tables import Table, percent


@dataclass
class FullEvaluation:
    """Everything :func:`evaluate_classifier` measured."""

    robustness: RobustnessResult
    curve: SecurityCurve | None = None
    checks: list[Check] = field(default_factory=list)
    geometry: Geometry | None = None

    @property
    def obfuscation_suspected(self) -> bool:
        """True if any diagnostic failed."""
        return any(check.passed is False for check in self.checks)

    def attack_table(self) -> Table:
        """Accuracy per attack, between the clean accuracy and the per-sample worst case (reports show it too)."""
        r = self.robustness
        return Table(["attack", "samples", "accuracy (%)", "seconds"],
                     [["clean", str(len(r.clean)), percent(r.clean_accuracy), ""],
                      *[[a.label, str(a.samples), percent(a.accuracy), f"{a.seconds:.0f}"] for a in r.attacks],
                      ["worst case over all full-set attacks", str(len(r.clean)), percent(r.worst_case_accuracy()),
                       ""]])

    def to_markdown(self) -> str:
        """A short summary: the threat model, the attack table, the diagnostics' verdict and the geometry."""
        failed = [check.name for check in self.checks if check.passed is False]
        ran = [check for check in self.checks if check.passed is not None]
        verdict = (f"**possible gradient obfuscation**: failed {', '.join(failed)}" if failed
                   else f"{len(ran)} of {len(self.checks)} ran, all passed")
        lines = [f"Evaluation at {self.robustness.threat.label} on {len(self.robustness.clean)} samples "
                 "(a sample is robust only if no attack broke it):", "", *self.attack_table().markdown(), "",
                 f"Obfuscation diagnostics: {verdict}."]
        if self.curve is not None:
            lines.append(f"Security curve ({self.curve.attack}): {len(self.curve.eps)} points up to ε = "
                         f"{max(self.curve.eps):.4g}.")
        if self.geometry is not None:
            g = self.geometry
            lines.append(f"Geometry ({g.samples} samples): ‖∇ₓℓ‖₂ {g.gradient_norm:.4g}, top Hessian eigenvalue "
                         f"{g.hessian_eigenvalue:.4g}, linearity gap {g.linearity_gap:.4g}.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"robustness": self.robustness.to_dict(),
                "security_curve": self.curve.to_dict() if self.curve else None,
                "checks": [check.to_dict() for check in self.checks],
                "obfuscation_suspected": self.obfuscation_suspected,
                "geometry": self.geometry.to_dict() if self.geometry else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FullEvaluation:
        """Inverse of :meth:`to_dict`."""
        return cls(robustness=RobustnessResult.from_dict(data["robustness"]),
                   curve=SecurityCurve.from_dict(data["security_curve"]) if data["security_curve"] else None,
                   checks=[Check.from_dict(c) for c in data["checks"]],
                   geometry=Geometry.from_dict(data["geometry"]) if data["geometry"] else None)


def curve_attack(result: RobustnessResult) -> str:
    """The attack of the security curve: the strongest single gradient attack, else PGD-20.

    Single gradient attacks are those that use gradients, on all samples, with an ε (no ensemble, no
    minimal-perturbation attack); PGD-20 stands in when none of them ran (a black-box-only evaluation).
    """
    candidates = [r for r in result.attacks if r.white_box and not r.ensemble and not r.minimal
                  and r.samples == len(result.clean)]
    if not candidates:
        return "pgd"
    return min(candidates, key=lambda r: (r.accuracy, -r.strength)).spec


def evaluate_classifier(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, plan: EvaluationPlan, *,
                        verbose: bool = True, on_partial: Callable[[FullEvaluation], None] | None = None,
                        previous: FullEvaluation | None = None, examples: WorstCaseExamples | None = None
                        ) -> FullEvaluation:
    """Evaluate robustness honestly: per-sample worst case over attacks, then the obfuscation diagnostics.

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: Test inputs; never modified. The plan's ``samples`` leading ones are attacked.
    :param y: Labels, class indices or one-hot.
    :param plan: What is measured: the threat model, the attacks, the curve, the geometry and their samples.
    :param verbose: Show progress bars.
    :param on_partial: Called with the evaluation so far after each attack, so that an interrupted run keeps what
                       it measured.
    :param previous: A partial evaluation with the same plan; its finished attacks are not run again (unless
                     ``examples`` is given).
    :param examples: Collects each sample's worst-case adversarial example (see
                     :mod:`~art_sor.evaluation.worst_case`).
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes,
                              clip_values=classifier.clip_values)
    x, labels = x[:plan.samples], labels[:plan.samples]
    threat, batch_size = plan.threat, plan.batch_size
    threat.check_box(classifier.clip_values, classifier.input_shape)
    report = None if on_partial is None else (lambda partial: on_partial(FullEvaluation(robustness=partial)))
    robustness = evaluate_attacks(classifier, x, labels, threat, plan.attack_specs, batch_size=batch_size,
                                  verbose=verbose, on_result=report,
                                  previous=previous.robustness if previous else None, examples=examples)
    security = None
    if plan.curve:
        n = plan.curve_samples or len(x)
        security = security_curve(classifier, x[:n], labels[:n], threat, attack=curve_attack(robustness),
                                  points=plan.curve_points, batch_size=batch_size, verbose=verbose)
    checks = obfuscation_checks(robustness, security, plan.tolerance)
    checks.append(gradient_check(classifier, x[:plan.gradient_check_samples], labels[:plan.gradient_check_samples],
                                 plan.tolerance))
    shape = geometry_metrics(classifier, x[:plan.geometry_samples], labels[:plan.geometry_samples], threat,
                             batch_size=batch_size) if plan.geometry else None
    return FullEvaluation(robustness=robustness, curve=security, checks=checks, geometry=shape)
