"""The threat model: the perturbation budget defences train for and attacks evaluate at."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from art_sor.core.checks import check_positive
from art_sor.core.norms import GEOMETRIES, Norm, NormGeometry, parse_norm

# Radii in 8-bit pixel steps (8/255) are written as such; others as short decimals.
_PIXEL_LEVELS = 255
_DIGITS = 4


def format_radius(eps: float) -> str:
    """A radius as a person would write it: ``0.1``, ``8/255`` (not ``0.0313725``), else four significant digits.

    A number that four significant digits give back exactly prints that way; one that is a whole number of 8-bit
    pixel steps prints as ``k/255``.
    """
    short = f"{eps:.{_DIGITS}g}"
    if float(short) == eps:
        return short
    steps = eps * _PIXEL_LEVELS
    if abs(steps - round(steps)) < 1e-9 * _PIXEL_LEVELS and round(steps) > 0:
        fraction = Fraction(round(steps), _PIXEL_LEVELS)  # 85/255 reads as 1/3
        return f"{fraction.numerator}/{fraction.denominator}"
    return short


@dataclass(frozen=True)
class ThreatModel:
    """An ε-ball in the L∞, L2 or L1 norm, in the classifier's raw input space.

    The ball's geometry (steepest step, projection, random start, dual norm, distance) is :attr:`geometry`'s.

    :param eps: Radius, a finite number > 0 (stored as a plain ``float``).
    :param norm: ``np.inf``, ``"inf"``, ``2``, ``"l2"``, ``1`` or ``"l1"`` (stored as ``"inf"``, ``"l2"`` or ``"l1"``).
    """

    eps: float
    norm: Norm

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        object.__setattr__(self, "norm", parse_norm(self.norm))

    @property
    def geometry(self) -> NormGeometry:
        """The norm's geometry."""
        return GEOMETRIES[self.norm]

    @property
    def label(self) -> str:
        """The budget for people to read, e.g. ``"L∞ ε = 0.1"``."""
        return f"{self.geometry.label} ε = {format_radius(self.eps)}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"eps": self.eps, "norm": self.norm}
