"""The threat model: the perturbation budget defences train for and attacks evaluate at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from art_sor.core.checks import check_positive
from art_sor.core.errors import SettingTypeError
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

    The radius and the norm are checked here, once; trainers, regularizers and attacks take the whole threat model.
    The ball's geometry (steepest step, projection, random start, dual norm, distance) is :attr:`geometry`'s,
    resolved once. ``dataclasses.replace(threat, eps=...)`` gives the same norm at another radius.

    :param eps: Radius, a finite number > 0 (stored as a plain ``float``).
    :param norm: ``np.inf``, ``"inf"``, ``2``, ``"l2"``, ``1`` or ``"l1"`` (stored as ``"inf"``, ``"l2"`` or ``"l1"``).
    """

    eps: float
    norm: Norm

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        object.__setattr__(self, "norm", parse_norm(self.norm))

    @cached_property
    def geometry(self) -> NormGeometry:
        """The norm's geometry, looked up once per threat model."""
        return GEOMETRIES[self.norm]

    @property
    def label(self) -> str:
        """The budget for people to read, e.g. ``"L∞ ε = 0.1"``."""
        return f"{self.geometry.label} ε = {format_radius(self.eps)}"

    def check_box(self, clip_values: tuple[Any, Any] | None, input_shape: Sequence[int]) -> None:
        """Refuse a radius that reaches the centre of the data box from every input.

        There no classifier beats chance and every robust accuracy measured is meaningless (an L∞ ε of 8 on data in
        [0, 1], meant as 8/255).

        :param clip_values: The data box ``(low, high)``, scalars or per-feature arrays; ``None`` checks nothing.
        :param input_shape: Shape of one input.
        :raises ValueError: Naming ``eps``, the box, and the radius meant if ``eps`` counts 8-bit pixel levels.
        """
        if clip_values is None:
            return
        low, high = (np.broadcast_to(np.asarray(v, dtype=np.float64), tuple(input_shape)) for v in clip_values)
        centre = float(self.geometry.size(((high - low) / 2).reshape(1, -1))[0])
        if self.eps < centre:
            return
        levels = self.eps / _PIXEL_LEVELS
        hint = (f"; radii are in the data's units: for 8-bit images scaled to [0, 1], {format_radius(self.eps)} "
                f"levels is eps={format_radius(levels)}" if self.eps >= 1 and levels < centre else "")
        raise ValueError(f"eps {format_radius(self.eps)} ({self.geometry.label}) reaches the centre of the data box "
                         f"[{format_radius(float(low.min()))}, {format_radius(float(high.max()))}] from every input "
                         f"(from eps {format_radius(centre)} on no classifier beats chance), so robustness at it "
                         f"means nothing{hint}")

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"eps": self.eps, "norm": self.norm}

    @classmethod
    def for_dataset(cls, dataset: str, norm: Norm | float | str = "inf") -> ThreatModel:
        """The standard threat model of ``dataset`` in ``norm`` (see :data:`STANDARD_RADII`).

        :param dataset: A dataset name (``"cifar10"``) or spec (``"npz:PATH"``: no radius of its own, so the
                        fallback's).
        :param norm: ``"inf"``, ``"l2"`` or ``"l1"`` (or ``np.inf``, ``2``, ``1``).
        """
        return cls(standard_radius(dataset, norm).eps, norm)


def check_threat(threat: object, name: str = "threat") -> ThreatModel:
    """Return ``threat`` if it is a :class:`ThreatModel`, else raise :class:`SettingTypeError` naming ``name``."""
    if not isinstance(threat, ThreatModel):
        raise SettingTypeError(f"{name} must be a ThreatModel, e.g. ThreatModel(0.1, 'inf'), got "
                               f"{type(threat).__name__} {threat!r}", name)
    return threat


@dataclass(frozen=True)
class Radius:
    """A standard radius and where it comes from (a paper, or the measurement that chose it)."""

    eps: float
    source: str


_TRAMER_BONEH = "Tramèr & Boneh 2019 and Maini et al. 2020 (MNIST: L∞ 0.3, L2 2, L1 10)"
_CIFAR = {
    "inf": Radius(8 / 255, "Madry et al. 2018; RobustBench's L∞ threat model"),
    "l2": Radius(0.5, "RobustBench's L2 threat model (Rony et al. 2019, Croce & Hein 2020)"),
    "l1": Radius(12.0, "Maini et al. 2020; Croce & Hein 2021, 'Mind the box' (CIFAR-10 L1 ε = 12)"),
}


def _chosen(attack: str, accuracy: str) -> str:
    return (f"chosen here: standard training with the dataset's recipe falls to {accuracy} under {attack} at this "
            "radius (200 test images; docs/results.rst)")


_SAME_SCALE_AS_CIFAR = "assumed: CIFAR-10's radius, the same 3×32×32 inputs in [0, 1]"

STANDARD_RADII: dict[str, dict[str, Radius]] = {
    "mnist": {
        "inf": Radius(0.3, f"Madry et al. 2018; {_TRAMER_BONEH}"),
        "l2": Radius(2.0, _TRAMER_BONEH),
        "l1": Radius(10.0, _TRAMER_BONEH),
    },
    "fashion-mnist": {
        "inf": Radius(0.1, _chosen("PGD-20", "2.0 %")),
        "l2": Radius(1.5, _chosen("PGD-20", "2.0 %")),
        "l1": Radius(12.0, _chosen("L1-APGD-CE", "2.0 %")),
    },
    "digits": {
        "inf": Radius(0.2, _chosen("PGD-20", "1.5 %")),
        "l2": Radius(1.0, _chosen("PGD-20", "1.0 %")),
        "l1": Radius(3.0, _chosen("L1-APGD-CE", "1.0 %")),
    },
    "cifar10": _CIFAR,
    "cifar10-foolbox": _CIFAR,
    "cifar100": {norm: Radius(radius.eps, f"{radius.source}; used for CIFAR-100 too") for norm, radius in
                 _CIFAR.items()},
    "svhn": {
        "inf": Radius(8 / 255, "the SOR paper; Rice et al. 2020"),
        "l2": Radius(0.5, _SAME_SCALE_AS_CIFAR),
        "l1": Radius(12.0, _SAME_SCALE_AS_CIFAR),
    },
}
"""Standard radii per dataset and norm, with their sources; measured choices are in docs/results.rst."""

FALLBACK_RADII: dict[str, Radius] = {
    norm: Radius(radius.eps, f"assumed: no radius is known for this dataset, so CIFAR-10's ({radius.source})")
    for norm, radius in _CIFAR.items()}
"""The radii of a dataset without an entry in :data:`STANDARD_RADII` (the user's own data, a plugin's)."""


def standard_radius(dataset: str, norm: Norm | float | str = "inf") -> Radius:
    """The standard radius of ``dataset`` (a name or spec) in ``norm``, with its source."""
    name = dataset.partition(":")[0]
    return STANDARD_RADII.get(name, FALLBACK_RADII)[parse_norm(norm)]
