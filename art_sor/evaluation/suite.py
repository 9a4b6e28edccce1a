"""One call that evaluates any ART ``PyTorchClassifier``: attacks, security curve, diagnostics and geometry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.core.norms import Norm, parse_norm
from art_sor.evaluation.attacks import AUTOATTACK_NOTE, DEFAULT_ATTACKS
from art_sor.evaluation.curves import SecurityCurve, security_curve
from art_sor.evaluation.diagnostics import Check, gradient_check, obfuscation_checks
from art_sor.evaluation.geometry import Geometry, geometry_metrics
from art_sor.evaluation.robustness import AttackResult, RobustnessResult, evaluate_attacks
from art_sor.specs import Spec
from art_sor.validation import check_dataset


@dataclass
class Evaluation:
    """Everything :func:`evaluate_classifier` measured."""

    robustness: RobustnessResult
    curve: SecurityCurve | None = None
    checks: list[Check] = field(default_factory=list)
    geometry: Geometry | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def obfuscation_suspected(self) -> bool:
        """True if any diagnostic failed."""
        return any(check.passed is False for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "metadata": self.metadata,
            "robustness": self.robustness.to_dict(),
            "security_curve": self.curve.to_dict() if self.curve else None,
            "checks": [check.to_dict() for check in self.checks],
            "obfuscation_suspected": self.obfuscation_suspected,
            "geometry": self.geometry.to_dict() if self.geometry else None,
            "notes": [AUTOATTACK_NOTE],
        }


def strongest_attack(result: RobustnessResult) -> AttackResult:
    """The single gradient attack (no ensemble, no minimal-perturbation attack) with the lowest accuracy."""
    candidates = [r for r in result.attacks if r.white_box and not r.ensemble and not r.minimal
                  and r.samples == len(result.clean)]
    if not candidates:
        raise ValueError("attacks: a security curve needs at least one gradient attack on all samples")
    return min(candidates, key=lambda r: (r.accuracy, -r.strength))


def evaluate_classifier(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, eps: float,
                        norm: object = "inf", attacks: Sequence[str | Spec] | None = None, curve: bool = True,
                        curve_points: int = 9, curve_samples: int | None = 500, geometry: bool = True,
                        geometry_samples: int = 200, gradient_check_samples: int = 200, tolerance: float = 0.02,
                        batch_size: int = 128, verbose: bool = True) -> Evaluation:
    """Evaluate robustness honestly: per-sample worst case over attacks, then the obfuscation diagnostics.

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: Test inputs; never modified.
    :param y: Labels, class indices or one-hot.
    :param eps: Radius of the threat model.
    :param norm: ``"inf"`` or ``"l2"``.
    :param attacks: Attack specs; by default :data:`~art_sor.evaluation.attacks.DEFAULT_ATTACKS` for the norm.
    :param curve: Compute the security curve with the strongest gradient attack, from 0 to the unbounded ε.
    :param curve_points: Number of ε values on the curve.
    :param curve_samples: Leading samples used for the curve (``None`` for all).
    :param geometry: Measure gradient norm, Hessian eigenvalue and linearity gap.
    :param geometry_samples: Leading samples used for the geometry.
    :param gradient_check_samples: Leading samples for ART's ``loss_gradient_check``.
    :param tolerance: Accuracy difference a diagnostic tolerates before it fails.
    :param batch_size: Batch size of attacks and predictions.
    :param verbose: Show progress bars.
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    norm_name: Norm = parse_norm(norm)
    specs = list(attacks) if attacks is not None else list(DEFAULT_ATTACKS[norm_name])
    robustness = evaluate_attacks(classifier, x, labels, eps, norm_name, specs, batch_size=batch_size,
                                  verbose=verbose)
    security = None
    if curve:
        n = curve_samples or len(x)
        security = security_curve(classifier, x[:n], labels[:n], norm_name, attack=strongest_attack(robustness).spec,
                                  points=curve_points, batch_size=batch_size, verbose=verbose)
    checks = obfuscation_checks(robustness, security, tolerance)
    checks.append(gradient_check(classifier, x[:gradient_check_samples], labels[:gradient_check_samples],
                                 tolerance))
    shape = geometry_metrics(classifier, x[:geometry_samples], labels[:geometry_samples], eps, norm_name,
                             batch_size=batch_size) if geometry else None
    labels_of_specs = [s.label if isinstance(s, Spec) else s for s in specs]
    return Evaluation(robustness=robustness, curve=security, checks=checks, geometry=shape,
                      metadata={"eps": eps, "norm": norm_name, "samples": len(x), "attacks": labels_of_specs,
                                "tolerance": tolerance})
