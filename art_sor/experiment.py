"""One defence trained on one dataset, reproducibly: the unit of work behind the CLI and the benchmarks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers import build_classifier, load_classifier, save_classifier
from art_sor.data import Dataset
from art_sor.defences import ThreatModel, build_trainer
from art_sor.evaluation.accuracy import accuracy, pgd_accuracy
from art_sor.specs import Spec

MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class TrainingSetup:
    """Everything but the defence that a training run depends on; equal setups make runs comparable."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    architecture: str = "small-cnn"
    device: str = "auto"
    train_samples: int | None = None


@dataclass
class TrainedModel:
    """A trained classifier and how it got there."""

    label: str
    classifier: PyTorchClassifier
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch (validation excluded)."""
        return float(np.mean([record["seconds"] for record in self.history]))


def train_defence(spec: Spec | str, dataset: Dataset, threat: ThreatModel, setup: TrainingSetup,
                  out_dir: str | os.PathLike[str] | None = None, verbose: bool = True) -> TrainedModel:
    """Train one defence from a seeded initialisation.

    With ``out_dir``, the training state is saved after every epoch (a rerun resumes from it) and the finished
    model is written to ``out_dir/model.pt``; a finished model found there is loaded instead of retrained.
    """
    spec = Spec.parse(spec) if isinstance(spec, str) else spec
    model_path = Path(out_dir) / MODEL_FILE if out_dir is not None else None
    if model_path is not None and model_path.exists():
        classifier, state = load_classifier(model_path, device=setup.device)
        return TrainedModel(spec.label, classifier, state["metadata"]["history"])
    torch.manual_seed(setup.seed)
    classifier = build_classifier(setup.architecture, dataset.input_shape, dataset.nb_classes, lr=setup.lr,
                                  clip_values=dataset.clip_values, device=setup.device)
    trainer = build_trainer(spec, classifier, threat)
    x_train, y_train = dataset.x_train[:setup.train_samples], dataset.y_train[:setup.train_samples]
    history = trainer.fit(x_train, y_train, batch_size=setup.batch_size, nb_epochs=setup.epochs, verbose=verbose,
                          checkpoint_dir=out_dir, resume=out_dir is not None)
    if model_path is not None:
        save_classifier(model_path, classifier, setup.architecture,
                        metadata={"defence": spec.label, "dataset": dataset.name, "eps": threat.eps,
                                  "norm": threat.norm, "setup": vars(setup), "history": history})
    return TrainedModel(spec.label, classifier, history)


def clean_and_pgd_accuracy(classifier: PyTorchClassifier, data: Dataset, threat: ThreatModel,
                           eval_samples: int = 1000, steps: int = 20, verbose: bool = False) -> dict[str, float]:
    """Clean accuracy on the whole test set and ART PGD accuracy on the first ``eval_samples`` test images.

    PGD takes ``steps`` steps of ε/8 from one random start: the quick robustness figures of ``art-sor train`` and
    of the benchmarks.
    """
    return {"clean": accuracy(classifier, data.x_test, data.y_test),
            "pgd": pgd_accuracy(classifier, data.x_test[:eval_samples], data.y_test[:eval_samples], threat.eps,
                                threat.norm, steps=steps, verbose=verbose)}
