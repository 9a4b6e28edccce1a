"""``name:key=value,...`` specs, the command-line spelling of defences and attacks with their options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_FRACTION = re.compile(r"\d+/\d+")


def safe_folder(text: str) -> str:
    """``text`` as a file-system-safe folder name; no leading or trailing dot can make ``..``.

    Runs of characters other than letters, digits, ``_``, ``.`` and ``-`` become ``_``.
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip(".") or "_"


@dataclass(frozen=True)
class Spec:
    """A name with options, as written on the command line: ``sor:iterations=3`` or ``pgd:steps=50,restarts=3``.

    Names start with a letter or digit and hold only letters, digits, ``-`` and ``_``, so that no name can make a
    path (``..``, ``/``).
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """The spelling used in reports and folder names."""
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{key}={value}" for key, value in self.options)

    @property
    def folder(self) -> str:
        """The label as a file-system-safe folder name (``sor:iterations=3`` → ``sor_iterations_3``)."""
        return safe_folder(self.label)

    @classmethod
    def of(cls, spec: Spec | str) -> Spec:
        """``spec`` itself, or parsed when it is text."""
        return spec if isinstance(spec, Spec) else cls.parse(spec)

    @classmethod
    def parse(cls, text: str) -> Spec:
        """Parse ``name[:key=value,...]``.

        Values are read strictly: ``true``/``false`` are booleans, plain integers are ``int``, decimals, exponents
        and fractions (``8/255``) are ``float``; anything else stays text (so ``1_5`` is the text ``"1_5"``, which the
        defence or attack then rejects).

        :raises ValueError: For a missing or unsafe name, an option that is not ``key=value``, or a repeated key.
        """
        if not isinstance(text, str):
            raise TypeError(f"spec must be text, got {type(text).__name__}")
        name, _, rest = text.strip().partition(":")
        if not _NAME.fullmatch(name):
            raise ValueError(f"spec {text!r}: the name must start with a letter or digit and hold only letters, "
                             "digits, '-' and '_'")
        options: dict[str, Any] = {}
        for item in rest.split(",") if rest else ():
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not _KEY.fullmatch(key):
                raise ValueError(f"spec {text!r}: option {item!r} is not key=value")
            if key in options:
                raise ValueError(f"spec {text!r}: option {key!r} is given twice")
            options[key] = parse_value(value.strip())
        return cls(name, tuple(options.items()))


def parse_value(text: str) -> Any:
    """Read an option value: bool, int, float (decimal, exponent or ``a/b``) or, failing those, the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _FRACTION.fullmatch(text):
        numerator, denominator = text.split("/")
        if int(denominator) != 0:
            return float(Fraction(int(numerator), int(denominator)))
    return text
