"""Gradient-obfuscation diagnostics, each a pass/fail verdict with the numbers behind it.

In the spirit of Athalye, Carlini & Wagner (2018) and Carlini et al. (2019), "On evaluating adversarial
robustness": a defence whose gradients are masked looks robust to gradient attacks but not to the checks below.

| Paper link: https://arxiv.org/abs/1902.06705
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier
from art.metrics.gradient_check import loss_gradient_check

from art_sor.classifiers.inputs import to_index_labels
from art_sor.evaluation.curves import SecurityCurve
from art_sor.evaluation.robustness import AttackResult, RobustnessResult


@dataclass
class Check:
    """One diagnostic: ``passed`` is ``None`` when the attacks it needs did not run."""

    name: str
    passed: bool | None
    detail: str
    values: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def gradient_check(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, tolerance: float = 0.02,
                   verbose: bool = False) -> Check:
    """ART's ``loss_gradient_check``: no NaN or inf gradients, and zero gradients on at most ``tolerance``."""
    labels = to_index_labels(y, classifier.nb_classes)
    # ART's PyTorch loss_gradient reduces tensor labels with argmax, so it needs one-hot rows here.
    one_hot = np.eye(classifier.nb_classes, dtype=np.float32)[labels]
    flags = loss_gradient_check(classifier, x, one_hot, verbose=verbose)
    zero, nan, inf = (float(v) for v in flags.mean(axis=0))
    return Check("gradients are finite and non-zero", nan == 0 and inf == 0 and zero <= tolerance,
                 f"ART loss_gradient_check on {len(x)} samples: zero {zero:.1%}, NaN {nan:.1%}, inf {inf:.1%}",
                 {"zero": zero, "nan": nan, "inf": inf, "samples": float(len(x))})


def obfuscation_checks(result: RobustnessResult, curve: SecurityCurve | None = None, tolerance: float = 0.02
                       ) -> list[Check]:
    """The attack-based diagnostics; accuracies may differ by ``tolerance`` before a check fails.

    The ensemble check has its own threshold, :func:`ensemble_gap_threshold`, which grows with the sampling error.
    """
    return [_iterative_beats_single_step(result, tolerance), _white_box_beats_black_box(result, tolerance),
            _more_budget_never_helps(result, tolerance), ensemble_check(result),
            _unbounded_reaches_chance(curve, tolerance), _monotone_in_eps(curve, tolerance)]


ENSEMBLE_GAP = 0.03
"""The share of samples an ensemble (AutoAttack) may break beyond the reference attack (PGD) on an honest model."""
ENSEMBLE_CHECK = "ensembles do not break far more than the reference attack"


def ensemble_gap_threshold(samples: int) -> float:
    """How far an ensemble may fall below the reference attack on ``samples`` images before it is flagged.

    :data:`ENSEMBLE_GAP` plus two standard errors of a rate of :data:`ENSEMBLE_GAP` measured on ``samples``
    images: 6.4 points on 100 images, 4.1 on 1000. On 100 images an honest model's gap of a few points is noise.
    """
    return ENSEMBLE_GAP + 2 * math.sqrt(ENSEMBLE_GAP * (1 - ENSEMBLE_GAP) / samples)


def ensemble_check(result: RobustnessResult) -> Check:
    """Whether the strongest ensemble stays within :func:`ensemble_gap_threshold` of the reference attack.

    A gap beyond it means the reference attack (PGD) misses many adversarial examples: masked gradients, or a
    weak attack for the norm (ART's PGD in L1).
    """
    gap = result.ensemble_gap
    if gap is None:
        return Check(ENSEMBLE_CHECK, None, "needs an ensemble (autoattack-standard) and a single iterative "
                     "white-box attack (pgd) on every sample")
    ensemble = min((r for r in result.attacks if r.ensemble and r.samples == len(result.clean)),
                   key=lambda r: r.accuracy)
    reference = result.reference
    threshold = ensemble_gap_threshold(len(result.clean))
    return Check(ENSEMBLE_CHECK, gap <= threshold,
                 f"{ensemble.label} {100 * gap:.1f} points below {reference.label} (threshold {100 * threshold:.1f} "
                 f"on {len(result.clean)} images)", {"gap": gap, "threshold": threshold})


def _full(result: RobustnessResult) -> list[AttackResult]:
    return [r for r in result.attacks if r.samples == len(result.clean) and not r.minimal]


def _iterative_beats_single_step(result: RobustnessResult, tolerance: float) -> Check:
    name = "iterative attacks do at least as well as single-step ones"
    single = [r for r in _full(result) if r.white_box and not r.iterative]
    iterative = [r for r in _full(result) if r.white_box and r.iterative and not r.ensemble]
    if not single or not iterative:
        return Check(name, None, "needs a single-step attack (fgsm) and an iterative white-box attack")
    best = min(iterative, key=lambda r: r.accuracy)
    passed = best.accuracy <= single[0].accuracy + tolerance
    return Check(name, passed, f"{best.label} {best.accuracy:.1%} vs {single[0].label} {single[0].accuracy:.1%}",
                 {"iterative": best.accuracy, "single_step": single[0].accuracy})


def _white_box_beats_black_box(result: RobustnessResult, tolerance: float) -> Check:
    name = "white-box attacks do at least as well as black-box Square"
    black = [r for r in _full(result) if not r.white_box]
    if not black or not any(r.white_box and not r.ensemble for r in _full(result)):
        return Check(name, None, "needs square and a white-box attack")
    white = result.worst_case_accuracy(gradient_only=True)
    best_black = min(r.accuracy for r in black)
    return Check(name, white <= best_black + tolerance,
                 f"white-box worst case {white:.1%} vs black-box {best_black:.1%}",
                 {"white_box": white, "black_box": best_black})


def _more_budget_never_helps(result: RobustnessResult, tolerance: float) -> Check:
    name = "more steps or restarts never raise accuracy"
    families: dict[str, list[AttackResult]] = {}
    for r in _full(result):
        families.setdefault(r.family, []).append(r)
    pairs = []
    for runs in families.values():
        runs = sorted(runs, key=lambda r: r.strength)
        pairs += [(weak, strong) for weak, strong in pairwise(runs) if strong.strength > weak.strength]
    if not pairs:
        return Check(name, None, "needs two budgets of one attack, e.g. pgd and pgd:steps=50,restarts=3")
    worst = max(pairs, key=lambda pair: pair[1].accuracy - pair[0].accuracy)
    rise = worst[1].accuracy - worst[0].accuracy
    return Check(name, rise <= tolerance, f"{worst[1].label} {worst[1].accuracy:.1%} vs {worst[0].label} "
                 f"{worst[0].accuracy:.1%}", {"largest_rise": rise})


def _unbounded_reaches_chance(curve: SecurityCurve | None, tolerance: float) -> Check:
    name = "unbounded ε drives accuracy to chance or below"
    if curve is None:
        return Check(name, None, "needs a security curve")
    final = curve.accuracy[-1]
    return Check(name, final <= curve.chance + tolerance,
                 f"{final:.1%} at ε={curve.eps[-1]:.3g} (chance {curve.chance:.1%})",
                 {"accuracy": final, "eps": curve.eps[-1], "chance": curve.chance})


def _monotone_in_eps(curve: SecurityCurve | None, tolerance: float) -> Check:
    name = "accuracy falls monotonically with ε"
    if curve is None:
        return Check(name, None, "needs a security curve")
    rises = [b - a for a, b in pairwise(curve.accuracy)]
    largest = max(rises, default=0.0)
    return Check(name, largest <= tolerance, f"largest rise between neighbouring ε: {largest:.1%}",
                 {"largest_rise": largest})
