"""The evaluation plan: every field checked when it is made, and a key that holds everything the numbers depend on."""

from __future__ import annotations

import pytest
from conftest import make_classifier
from torch import nn

from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.evaluation import EvaluationPlan, default_attacks, evaluate_classifier
from art_sor.specs import Spec

THREAT = ThreatModel(0.1, "inf")


@pytest.mark.parametrize(("fields", "setting"), [
    ({"attacks": ()}, "attacks"), ({"attacks": "pgd"}, "attacks"), ({"attacks": ("pgd", "pgd")}, "attacks"),
    ({"attacks": ("pgd:steps",)}, "attacks"), ({"samples": 0}, "samples"), ({"curve_points": 1}, "curve_points"),
    ({"curve_samples": 0}, "curve_samples"), ({"geometry_samples": 0}, "geometry_samples"),
    ({"gradient_check_samples": 0}, "gradient_check_samples"), ({"tolerance": 1.5}, "tolerance"),
    ({"batch_size": 0}, "batch_size"), ({"curve": "no"}, "curve")])
def test_a_plan_refuses_a_bad_field_naming_it(fields, setting):
    with pytest.raises(SettingError) as raised:
        EvaluationPlan(THREAT, **fields)
    assert raised.value.setting == setting


def test_a_plan_needs_a_threat_model():
    with pytest.raises(TypeError, match="threat must be a ThreatModel"):
        EvaluationPlan(0.1)


def test_a_plan_keeps_attack_specs_as_text_and_defaults_to_the_norms_set():
    assert EvaluationPlan(THREAT, attacks=[Spec.parse("pgd:steps=3"), "fgsm"]).attacks == ("pgd:steps=3", "fgsm")
    assert EvaluationPlan(THREAT).attack_specs == default_attacks(THREAT)


def test_the_key_changes_with_every_setting_the_numbers_depend_on():
    base = EvaluationPlan(THREAT, attacks=("fgsm",)).key()
    for change in [{"samples": 10}, {"curve": False}, {"curve_points": 5}, {"curve_samples": 10},
                   {"geometry": False}, {"geometry_samples": 10}, {"gradient_check_samples": 10},
                   {"tolerance": 0.05}, {"attacks": ("pgd",)}]:
        assert EvaluationPlan(THREAT, **{"attacks": ("fgsm",)} | change).key() != base, change
    assert EvaluationPlan(THREAT, attacks=("fgsm",), batch_size=7).key() == base  # batches change no number


def test_evaluate_classifier_attacks_the_plans_leading_samples(digits):
    classifier = make_classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), clip_values=(0.0, 1.0))
    plan = EvaluationPlan(THREAT, attacks=("fgsm",), samples=12, curve=False, geometry=False,
                          gradient_check_samples=4)
    report = evaluate_classifier(classifier, digits.x_test[:30], digits.y_test[:30], plan, verbose=False)
    assert len(report.robustness.clean) == 12 and report.robustness.attacks[0].samples == 12
