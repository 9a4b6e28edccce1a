"""Training a defence into a folder: augmentation and streaming, and the selection of the best robust epoch."""

from __future__ import annotations

import json

import numpy as np
import torch

from art_sor.core.threat import ThreatModel
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup


def test_augmentation_and_streaming_train(digits):
    setup = TrainingSetup(epochs=2, batch_size=64, train_samples=256, augmentation="crop-flip", device="cpu")
    history = train_defence("sor", digits, ThreatModel(0.1, "inf"), setup, verbose=False).history
    assert len(history) == 2 and history[1]["loss"] < history[0]["loss"] + 0.5


def test_best_robust_selection_keeps_the_best_validation_epoch(digits, tmp_path):
    setup = TrainingSetup(epochs=3, batch_size=64, select="best-robust", validation_samples=100, device="cpu")
    trained = train_defence("sor", digits, ThreatModel(0.2, "inf"), setup, tmp_path / "run", verbose=False)
    accuracies = [r["validation_robust_accuracy"] for r in trained.history]
    assert trained.selected_epoch == 1 + int(np.argmax(accuracies))
    saved = json.loads(json.dumps(torch.load(tmp_path / "run" / "model.pt", weights_only=True)["metadata"]
                                  ["selected_epoch"]))
    assert saved == trained.selected_epoch
    assert len(trained.key.setup) and trained.key.setup["select"] == "best-robust"
