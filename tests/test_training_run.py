"""A short real run on digits: SOR must clearly beat standard training under ART's PGD."""

from __future__ import annotations

import pytest

from art_sor.core.threat import ThreatModel
from art_sor.data.bundled import load_digits
from art_sor.evaluation import accuracy, evaluate_attacks
from art_sor.runs.setup import TrainingSetup
from art_sor.runs.training import train_defence


@pytest.mark.slow
def test_sor_beats_standard_training_under_pgd():
    data = load_digits()
    threat = ThreatModel(0.2, "inf")
    setup = TrainingSetup(epochs=25, batch_size=64, device="cpu")
    results = {}
    for method in ("standard", "sor"):
        classifier = train_defence(method, data, threat, setup, verbose=False).classifier
        pgd = evaluate_attacks(classifier, data.x_test, data.y_test, threat, ["pgd"], verbose=False)
        results[method] = (accuracy(classifier, data.x_test, data.y_test), pgd.attacks[0].accuracy)
    (standard_clean, standard_pgd), (sor_clean, sor_pgd) = results["standard"], results["sor"]
    assert standard_clean > 0.95 and sor_clean > 0.85
    assert standard_pgd < 0.10
    assert sor_pgd > standard_pgd + 0.15, results
