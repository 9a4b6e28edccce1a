"""art-sor: second-order regularization (SOR) for adversarial robustness, as a plugin for ART.

The trainers are imported lazily, so that ``art_sor.core`` (pure torch) can be used without importing ART.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_LAZY = {"EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer"}

__all__ = ["EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("art_sor.trainers"), name)
    raise AttributeError(f"module 'art_sor' has no attribute {name!r}")
