"""The evaluation plan: what :func:`~art_sor.evaluation.full_evaluation.evaluate_classifier` measures, checked once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from art_sor.core.checks import check_bool, check_count
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.attacks import default_attacks
from art_sor.evaluation.randomness import ATTACK_SEED
from art_sor.specs import Spec


@dataclass(frozen=True)
class EvaluationPlan:
    """How a classifier is evaluated; equal plans give comparable numbers. Every field is checked on creation.

    :param threat: The threat model.
    :param attacks: Attack specs (``art-sor list attacks``), or ``None`` for :func:`default_attacks`; specs are
                    kept as their labels.
    :param samples: Leading samples of the data that are attacked, or ``None`` for all.
    :param curve: Compute the security curve with the strongest gradient attack, from 0 to the unbounded ε, with
                  the evaluated ε among its points.
    :param curve_points: Number of ε values on the curve.
    :param curve_samples: Leading samples used for the curve (``None`` for all attacked ones).
    :param geometry: Measure gradient norm, Hessian eigenvalue and linearity gap.
    :param geometry_samples: Leading samples used for the geometry.
    :param gradient_check_samples: Leading samples for ART's ``loss_gradient_check``.
    :param tolerance: Accuracy difference a diagnostic tolerates before it fails.
    :param batch_size: Batch size of attacks and predictions.
    :raises SettingError: Naming the field at fault.
    """

    threat: ThreatModel
    attacks: tuple[str, ...] | None = None
    samples: int | None = None
    curve: bool = True
    curve_points: int = 9
    curve_samples: int | None = 500
    geometry: bool = True
    geometry_samples: int = 200
    gradient_check_samples: int = 200
    tolerance: float = 0.02
    batch_size: int = 128

    def __post_init__(self) -> None:
        if not isinstance(self.threat, ThreatModel):
            raise SettingTypeError(f"threat must be a ThreatModel, got {type(self.threat).__name__}", "threat")
        if self.attacks is not None:
            object.__setattr__(self, "attacks", _attack_labels(self.attacks))
        for name in ("samples", "curve_samples"):
            if getattr(self, name) is not None:
                check_count(getattr(self, name), name)
        check_bool(self.curve, "curve")
        check_bool(self.geometry, "geometry")
        check_count(self.curve_points, "curve_points", minimum=2)
        check_count(self.geometry_samples, "geometry_samples")
        check_count(self.gradient_check_samples, "gradient_check_samples")
        check_count(self.batch_size, "batch_size")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) \
                or not 0 <= self.tolerance <= 1:
            raise SettingError(f"tolerance must be a number in [0, 1], got {self.tolerance!r}", "tolerance")
        object.__setattr__(self, "tolerance", float(self.tolerance))

    @property
    def attack_specs(self) -> list[str]:
        """The attacks that run."""
        return list(self.attacks) if self.attacks is not None else default_attacks(self.threat)

    def key(self) -> dict[str, Any]:
        """What the numbers depend on besides the model and the data (the attacks' seed included), as plain JSON."""
        return {"threat": self.threat.to_dict(), "attacks": self.attack_specs, "samples": self.samples,
                "curve": self.curve, "curve_points": self.curve_points, "curve_samples": self.curve_samples,
                "geometry": self.geometry, "geometry_samples": self.geometry_samples,
                "gradient_check_samples": self.gradient_check_samples, "tolerance": self.tolerance,
                "attack_seed": ATTACK_SEED}


def _attack_labels(attacks: Sequence[str | Spec]) -> tuple[str, ...]:
    """``attacks`` as text, each parsed once to refuse a malformed spec or one given twice, naming ``attacks``."""
    if isinstance(attacks, (str, Spec)):
        raise SettingTypeError(f"attacks must be a sequence of specs, got the single spec {attacks!r}; pass "
                               f"({attacks!r},)", "attacks")
    labels = []
    for attack in attacks:
        try:
            spec = Spec.of(attack)
        except (TypeError, ValueError) as error:
            raise SettingError(f"attacks: {error}", "attacks") from error
        labels.append(attack if isinstance(attack, str) else spec.label)
    if not labels:
        raise SettingError("attacks is empty, so nothing would be attacked; pass None for the default attacks",
                           "attacks")
    parsed = [Spec.of(label).label for label in labels]
    repeated = sorted({label for label in parsed if parsed.count(label) > 1})
    if repeated:
        raise SettingError(f"{', '.join(repeated)} given more than once", "attacks")
    return tuple(labels)
