"""Training state on disk: written atomically after every epoch so that no finished epoch is lost."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "training_state.pt"


def save_training_state(directory: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``directory/training_state.pt`` through a temporary file and an atomic rename.

    :return: The path written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_training_state(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read the state saved in ``directory``, or return ``None`` when there is none."""
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
