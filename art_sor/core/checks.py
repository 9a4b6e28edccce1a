"""Range checks for hyperparameters; each error is a :class:`~art_sor.core.errors.SettingError` naming the argument."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

from art_sor.core.errors import SettingError, SettingTypeError


def _check_number(value: object, name: str, kind: type = numbers.Real) -> None:
    """Refuse a value of the wrong type (a tensor, a string, a bool) as a type error, not blamed on its value."""
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "an integer" if kind is numbers.Integral else "a number (int or float)"
        raise SettingTypeError(f"{name} must be {wanted}, got {type(value).__name__} {value!r}"
                               + ("; pass float(...) or int(...) of it" if hasattr(value, "item") else ""), name)


def check_positive(value: object, name: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise :class:`SettingError` naming it."""
    _check_number(value, name)
    if not 0 < value < math.inf:
        raise SettingError(f"{name} must be a finite number > 0, got {value!r}", name)
    return float(value)


def check_non_negative(value: object, name: str) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise :class:`SettingError` naming it."""
    _check_number(value, name)
    if not 0 <= value < math.inf:
        raise SettingError(f"{name} must be a finite number >= 0, got {value!r}", name)
    return float(value)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise :class:`SettingError` naming it."""
    _check_number(value, name, numbers.Integral)
    if value < minimum:
        raise SettingError(f"{name} must be an integer >= {minimum}, got {value!r}", name)
    return int(value)


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a ``bool``, else raise :class:`SettingTypeError` naming it (``"no"`` is no bool)."""
    if not isinstance(value, bool):
        raise SettingTypeError(f"{name} must be True or False, got {value!r}", name)
    return value


def check_choice(value: object, choices: Collection[str], name: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :class:`SettingError` naming it."""
    if value not in choices:
        raise SettingError(f"{name} must be one of {tuple(choices)}, got {value!r}", name)
    return str(value)
