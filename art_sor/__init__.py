"""art-sor: second-order regularization (SOR) for adversarial robustness, as a plugin for ART.

The trainers are imported lazily, so that ``art_sor.core`` (pure torch) can be used without importing ART.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

# Public names and the modules that implement them.
_LAZY = {"EpochTrainer": "art_sor.trainers", "RegularizedTrainer": "art_sor.trainers",
         "SORTrainer": "art_sor.trainers", "StandardTrainer": "art_sor.trainers", "StepSettings": "art_sor.trainers",
         "ThreatModel": "art_sor.core.threat"}

__all__ = ["EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer", "StepSettings", "ThreatModel",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'art_sor' has no attribute {name!r}")
