"""art-sor: second-order regularization (SOR) for adversarial robustness, as a plugin for ART.

The trainers are imported lazily, so that ``art_sor.core`` (pure torch) can be used without importing ART.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

import importlib
from typing import Any

from art_sor.deprecation import moved_module

__version__ = "0.2.0"

# Public names and the modules that implement them.
_LAZY = {"EpochTrainer": "art_sor.trainers", "RegularizedTrainer": "art_sor.trainers",
         "SORTrainer": "art_sor.trainers", "StandardTrainer": "art_sor.trainers", "ThreatModel": "art_sor.core.threat"}

__all__ = ["EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer", "ThreatModel", "__version__"]


# Modules that moved in 0.3, under their old names for one release.
moved_module("art_sor.estimators", "art_sor.classifiers")
for _old, _new in {"view": "view", "inputs": "inputs", "checkpoints": "checkpoints", "classifiers": "wrapping"}.items():
    moved_module(f"art_sor.estimators.{_old}", f"art_sor.classifiers.{_new}")
moved_module("art_sor.evaluation.suite", "art_sor.evaluation.full_evaluation")
moved_module("art_sor.explain.suite", "art_sor.explain.full_explanation")
moved_module("art_sor.runs.train_suite", "art_sor.runs.training_job",
             {"train_suite": "train_defences", "TrainSuiteResult": "TrainingJobResult"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'art_sor' has no attribute {name!r}")
