"""The threat model: the perturbation budget defences train for and attacks evaluate at."""

from __future__ import annotations

from dataclasses import dataclass

from art_sor.core.checks import check_positive
from art_sor.core.norms import GEOMETRIES, Norm, NormGeometry, parse_norm


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
        return f"{self.geometry.label} ε = {self.eps:g}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"eps": self.eps, "norm": self.norm}
