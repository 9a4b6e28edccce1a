"""Robustness evaluation through ART's attacks and estimator interfaces, for any ART ``PyTorchClassifier``."""

from art_sor.evaluation.accuracy import accuracy, pgd_accuracy
from art_sor.evaluation.attacks import AUTOATTACK_NOTE, DEFAULT_ATTACKS, prepare_attack
from art_sor.evaluation.curves import SecurityCurve, security_curve
from art_sor.evaluation.diagnostics import Check, gradient_check, obfuscation_checks
from art_sor.evaluation.geometry import Geometry, geometry_metrics
from art_sor.evaluation.robustness import AttackResult, RobustnessResult, evaluate_attacks
from art_sor.evaluation.suite import Evaluation, evaluate_classifier

__all__ = [
    "AUTOATTACK_NOTE",
    "DEFAULT_ATTACKS",
    "AttackResult",
    "Check",
    "Evaluation",
    "Geometry",
    "RobustnessResult",
    "SecurityCurve",
    "accuracy",
    "evaluate_attacks",
    "evaluate_classifier",
    "geometry_metrics",
    "gradient_check",
    "obfuscation_checks",
    "pgd_accuracy",
    "prepare_attack",
    "security_curve",
]
