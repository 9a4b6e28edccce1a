"""Robustness evaluation through ART's attacks and estimator interfaces, for any ART ``PyTorchClassifier``."""

from art_sor.evaluation.accuracy import accuracy
from art_sor.evaluation.attacks import (
    ART_AUTOATTACK_NOTE,
    DEFAULT_ATTACKS,
    PreparedAttack,
    default_attacks,
    prepare_attack,
)
from art_sor.evaluation.curves import SecurityCurve, security_curve
from art_sor.evaluation.diagnostics import Check, gradient_check, obfuscation_checks
from art_sor.evaluation.full_evaluation import FullEvaluation, evaluate_classifier
from art_sor.evaluation.geometry import Geometry, geometry_metrics
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.evaluation.robustness import AttackResult, RobustnessResult, evaluate_attacks

__all__ = [
    "ART_AUTOATTACK_NOTE",
    "DEFAULT_ATTACKS",
    "AttackResult",
    "Check",
    "EvaluationPlan",
    "FullEvaluation",
    "Geometry",
    "PreparedAttack",
    "RobustnessResult",
    "SecurityCurve",
    "accuracy",
    "default_attacks",
    "evaluate_attacks",
    "evaluate_classifier",
    "geometry_metrics",
    "gradient_check",
    "obfuscation_checks",
    "prepare_attack",
    "security_curve",
]
