"""Appending benchmark results to a JSON list, so that separate launches build one file."""

from __future__ import annotations

import json
from typing import Any


def append_json(path: str, item: Any) -> None:
    """Append ``item`` to the JSON list stored at ``path`` (created when missing)."""
    try:
        with open(path) as f:
            stored = json.load(f)
    except FileNotFoundError:
        stored = []
    with open(path, "w") as f:
        json.dump([*stored, item], f, indent=1)
