"""The error of a refused setting: it carries the setting's Python name, so that a front end names its own option."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting whose value is refused; the message speaks of arguments, never of command-line options.

    :ivar setting: The setting's Python name: an argument (``batch_size``) or a key of a spec (``steps``). A
                   front end maps it to its own name for the setting (the CLI to ``--batch-size``).
    """

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class SettingTypeError(SettingError, TypeError):
    """A setting of the wrong type (``"no"`` where ``True`` or ``False`` is expected)."""
