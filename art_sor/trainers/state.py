"""Training state on disk, and the random streams it must carry for a resumed run to repeat an uninterrupted one.

The state is written atomically, with a checksum, after every epoch, so that no finished epoch is lost and a
corrupted file is refused rather than trained on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from art_sor.storage import load_checked, save_checked

STATE_FILE = "training_state.pt"


class ResumeMismatchError(ValueError):
    """A ``checkpoint_dir`` whose saved state is not the run being resumed (other settings, data or model)."""


def save_training_state(directory: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``directory/training_state.pt`` (atomic, checksummed) and return the path."""
    return save_checked(Path(directory) / STATE_FILE, state)


def load_training_state(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read the state saved in ``directory``, or return ``None`` when there is none.

    :raises art_sor.storage.CorruptFileError: If the file is damaged.
    """
    path = Path(directory) / STATE_FILE
    return load_checked(path, "training state") if path.exists() else None


def random_streams() -> dict[str, Any]:
    """The states of torch's (CPU and CUDA) and NumPy's global generators; ART's attacks draw from NumPy's."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    streams: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # weights_only loading accepts tensors and plain numbers, not NumPy arrays.
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
    }
    if torch.cuda.is_available():
        streams["cuda"] = torch.cuda.get_rng_state_all()
    return streams


def restore_random_streams(streams: dict[str, Any]) -> None:
    """Set the global generators to the states :func:`random_streams` returned."""
    torch.set_rng_state(streams["torch"])
    numpy = streams["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    if "cuda" in streams and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(streams["cuda"])


def differing_settings(saved: Any, current: Any, path: str = "") -> list[str]:
    """Dotted paths at which two nested settings dicts differ, each with both values (``lr: 0.1 → 0.01``)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        found: list[str] = []
        for key in sorted(set(saved) | set(current), key=str):
            found += differing_settings(saved.get(key), current.get(key), f"{path}.{key}" if path else str(key))
        return found
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)) and len(saved) == len(current):
        # Element by element, so that one changed learning rate is reported, not every optimizer setting.
        return [difference for index, (a, b) in enumerate(zip(saved, current, strict=True))
                for difference in differing_settings(a, b, f"{path}[{index}]")]
    return [] if saved == current else [f"{path}: {saved!r} → {current!r}"]


def optimizer_settings(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's type and hyperparameters per parameter group, as plain values (no parameters, no state)."""

    def plain(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.item() if value.numel() == 1 else value.tolist()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {"type": type(optimizer).__name__,
            "param_groups": [{key: plain(value) for key, value in group.items() if key != "params"}
                             for group in optimizer.param_groups]}
