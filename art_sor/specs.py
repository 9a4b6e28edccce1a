"""``name:key=value,...`` specs, the command-line spelling of defences and attacks with their options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """A name with options, as written on the command line: ``sor:iterations=3`` or ``pgd:steps=50,restarts=3``."""

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
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label)

    @classmethod
    def parse(cls, text: str) -> Spec:
        """Parse ``name[:key=value,...]``; values become int, float or bool where they read as such."""
        name, _, rest = text.strip().partition(":")
        if not name:
            raise ValueError(f"spec {text!r} has no name")
        options = []
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"spec {text!r}: option {item!r} is not key=value")
            options.append((key.strip(), _parse_value(value.strip())))
        return cls(name, tuple(options))


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
