"""Saved worst-case adversarial examples: inside the threat model, and exactly what the report counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from art_sor.core.threat import ThreatModel
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.evaluation.robustness import perturbation_norms
from art_sor.evaluation.worst_case import UNPERTURBED
from art_sor.runs.evaluating import evaluate_model
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup

ATTACKS = ("fgsm", "pgd:steps=5", "deepfool:steps=10,subset=60", "cw-l2:steps=3,search_steps=1,subset=20")


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    setup = TrainingSetup(epochs=8, batch_size=64, train_samples=600, device="cpu")
    return train_defence("standard", digits, ThreatModel(0.1, "inf"), setup,
                         tmp_path_factory.mktemp("run") / "standard", verbose=False)


@pytest.mark.parametrize("threat", [ThreatModel(0.1, "inf"), ThreatModel(0.8, "l2")], ids=["linf", "l2"])
def test_saved_examples_match_the_report_and_stay_in_the_ball(trained, digits, tmp_path, threat):
    plan = EvaluationPlan(threat, attacks=ATTACKS, samples=60, curve=False, geometry=False)
    path = tmp_path / "adversarial.npz"
    result = evaluate_model(trained.classifier, digits, plan, {"test": 1}, tmp_path / "evaluation.json",
                            verbose=False, adversarial=path)
    saved = np.load(path)
    x, y = digits.x_test[:60], digits.y_test[:60]
    robust = result.evaluation.robustness.worst_case()
    assert 0 < robust.sum() < len(robust), "the test needs robust and broken samples"
    np.testing.assert_array_equal(saved["robust"], robust)
    np.testing.assert_array_equal(saved["label"], y)
    # A sample counted robust has no saved example that changes its prediction; every other sample has one.
    np.testing.assert_array_equal(saved["prediction"] == y, robust)
    # The predictions are those of the saved examples, inside the ε-ball and the image range.
    np.testing.assert_array_equal(trained.classifier.predict(saved["x_adv"]).argmax(axis=1), saved["prediction"])
    np.testing.assert_array_equal(trained.classifier.predict(x).argmax(axis=1), saved["clean_prediction"])
    assert perturbation_norms(x, saved["x_adv"], threat.norm).max() <= threat.eps * (1 + 1e-5) + 1e-5
    assert saved["x_adv"].min() >= 0 and saved["x_adv"].max() <= 1
    # Attacks on a subset are no part of the worst case; the unperturbed input stands for itself.
    assert set(saved["attack"]) <= {UNPERTURBED, "fgsm", "pgd:steps=5", "deepfool:steps=10,subset=60"}
    none = saved["attack"] == UNPERTURBED
    np.testing.assert_array_equal(saved["x_adv"][none], x[none])
    assert float(saved["eps"]) == threat.eps and str(saved["norm"]) == threat.norm
    assert json.loads(str(saved["key"]))["plan"] == plan.key()
    assert not np.shares_memory(saved["x_adv"], digits.x_test)


