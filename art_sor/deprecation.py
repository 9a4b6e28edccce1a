"""Old spellings of moved modules and renamed names: they keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any


class _MovedModule(types.ModuleType):
    """Stands in for a module that moved; each attribute is read from the new module on first use."""

    def __init__(self, old: str, new: str, renamed: dict[str, str]) -> None:
        super().__init__(old, f"Deprecated spelling of :mod:`{new}`.")
        self._new, self._renamed = new, renamed

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._renamed.get(name, name)
        module = importlib.import_module(self._new)
        if not hasattr(module, target):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        warnings.warn(f"{self.__name__}.{name} is deprecated: use {self._new}.{target}", DeprecationWarning,
                      stacklevel=2)
        return getattr(module, target)


def moved_module(old: str, new: str, renamed: dict[str, str] | None = None) -> None:
    """Make ``import old`` give a stand-in that forwards to ``new`` (``renamed`` maps old attribute names to new).

    Nothing is imported until an attribute is used, so registering costs nothing at start-up.
    """
    sys.modules.setdefault(old, _MovedModule(old, new, renamed or {}))


def moved_names(module: str, homes: dict[str, str]) -> Any:
    """A module ``__getattr__`` for names that moved or were renamed: each is read from its new home, with a warning.

    :param module: The old module's name.
    :param homes: The new home of each old name: ``"package.module"`` (same name) or ``"package.module:NewName"``.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, _, new_name = homes[name].partition(":")
        new_name = new_name or name
        warnings.warn(f"{module}.{name} is deprecated: use {new_module}.{new_name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__
