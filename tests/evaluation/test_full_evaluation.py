"""The full evaluation: what it prints, and the attack its security curve uses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import table_row

from art_sor.core.threat import ThreatModel
from art_sor.evaluation import EvaluationPlan, evaluate_classifier
from art_sor.evaluation.full_evaluation import curve_attack
from art_sor.evaluation.robustness import AttackResult, RobustnessResult
from art_sor.tables import percent

THREAT = ThreatModel(0.2, "inf")


@pytest.fixture
def evaluation(digits_classifier, digits):
    plan = EvaluationPlan(THREAT, attacks=["fgsm", "pgd:steps=3"], curve=False, geometry=False)
    return evaluate_classifier(digits_classifier, digits.x_test[:40], digits.y_test[:40], plan, verbose=False)


def test_evaluation_prints_a_short_table_not_arrays(evaluation):
    text = str(evaluation)
    assert text == evaluation.to_markdown()
    assert "array(" not in text and "True" not in text and len(text.splitlines()) <= 12
    r = evaluation.robustness
    assert table_row(text, "clean") == f"| clean | 40 | {percent(r.clean_accuracy)} |  |"
    assert table_row(text, "PGD-3").split(" | ")[2] == percent(r.attacks[1].accuracy)
    assert table_row(text, "worst case over all full-set attacks").split(" | ")[2] == \
        percent(r.worst_case_accuracy())
    assert r.threat.label in text and "Obfuscation diagnostics" in text


def test_black_box_only_evaluation_draws_its_curve_with_pgd():
    clean = np.ones(4, dtype=bool)
    square = AttackResult("Square", "square", "square", clean, white_box=False)
    assert curve_attack(RobustnessResult(THREAT, clean, [square])) == "pgd"
    pgd = AttackResult("PGD-50", "pgd:steps=50", "pgd", clean, strength=50)
    assert curve_attack(RobustnessResult(THREAT, clean, [square, pgd])) == "pgd:steps=50"
