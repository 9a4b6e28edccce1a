"""Threat-model norms: parsing user spellings into one canonical name."""

from __future__ import annotations

import math
from typing import Literal

Norm = Literal["inf", "l2"]

_SPELLINGS: dict[object, Norm] = {"inf": "inf", "linf": "inf", "l2": "l2", "2": "l2"}


def parse_norm(norm: object, name: str = "norm") -> Norm:
    """Map ``np.inf``, ``"inf"``, ``2`` or ``"l2"`` (and a few other spellings) to ``"inf"`` or ``"l2"``.

    :param norm: The user's spelling of the norm.
    :param name: Argument name used in the error message.
    :return: ``"inf"`` or ``"l2"``.
    :raises ValueError: If the norm is not L∞ or L2.
    """
    if isinstance(norm, bool):
        raise ValueError(f"{name} must be np.inf, 'inf', 2 or 'l2', got {norm!r}")
    if isinstance(norm, (int, float)):
        if math.isinf(norm) and norm > 0:
            return "inf"
        if norm == 2:
            return "l2"
    elif isinstance(norm, str) and norm.strip().lower() in _SPELLINGS:
        return _SPELLINGS[norm.strip().lower()]
    raise ValueError(f"{name} must be np.inf, 'inf', 2 or 'l2', got {norm!r}")


def art_norm(norm: Norm) -> float:
    """Return the value ART's attacks expect for ``norm`` (``np.inf`` or ``2``)."""
    return math.inf if norm == "inf" else 2.0


def norm_label(norm: Norm) -> str:
    """Return the name of ``norm`` for people to read: ``"L∞"`` or ``"L2"``."""
    return "L∞" if norm == "inf" else "L2"
