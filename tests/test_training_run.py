"""A short real run on digits: SOR must clearly beat standard training under ART's PGD."""

from __future__ import annotations

import pytest

from art_sor.data import load_digits
from art_sor.defences import ThreatModel
from art_sor.evaluation import accuracy, pgd_accuracy
from art_sor.experiment import TrainingSetup, train_defence


@pytest.mark.slow
def test_sor_beats_standard_training_under_pgd():
    data = load_digits()
    threat = ThreatModel(0.2, "inf")
    setup = TrainingSetup(epochs=25, batch_size=64, device="cpu")
    results = {}
    for method in ("standard", "sor"):
        trained = train_defence(method, data, threat, setup, verbose=False)
        results[method] = (accuracy(trained.classifier, data.x_test, data.y_test),
                           pgd_accuracy(trained.classifier, data.x_test, data.y_test, threat.eps, threat.norm))
    (standard_clean, standard_pgd), (sor_clean, sor_pgd) = results["standard"], results["sor"]
    assert standard_clean > 0.95 and sor_clean > 0.85
    assert standard_pgd < 0.10
    assert sor_pgd > standard_pgd + 0.15, results
