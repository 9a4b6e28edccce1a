"""The explanation plan: every field checked on creation, naming the field; the images it shows."""

from __future__ import annotations

import pytest

from art_sor.core.errors import SettingError
from art_sor.explain.counterfactuals import DEFAULT_STEPS
from art_sor.explain.plan import ExplanationPlan


def test_defaults_and_canonical_norm():
    plan = ExplanationPlan(images=[3, 1], eps=2, norm="L2")
    assert plan.images == (3, 1) and plan.eps == 2.0 and isinstance(plan.eps, float) and plan.norm == "l2"
    assert ExplanationPlan().steps == DEFAULT_STEPS and ExplanationPlan(norm="linf").norm == "inf"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"images": []}, "images"), ({"images": 3}, "images"), ({"images": (0, -1)}, "images"),
    ({"images": (0, 1.5)}, "images"), ({"eps": 0}, "eps"), ({"eps": float("inf")}, "eps"),
    ({"norm": "l3"}, "norm"), ({"norm": "l1"}, "eps"), ({"steps": 0}, "steps"), ({"score_samples": 0}, "score_samples"),
    ({"counterfactual_samples": 0}, "counterfactual_samples"), ({"name": 3}, "name"),
])
def test_bad_fields_are_refused_naming_them(kwargs, field):
    with pytest.raises(SettingError) as caught:
        ExplanationPlan(**kwargs)
    assert caught.value.setting == field


def test_l1_needs_its_budget():
    assert ExplanationPlan(norm="l1", eps=5.0).norm == "l1"


def test_shown_images():
    assert ExplanationPlan().shown(20) == list(range(8))
    assert ExplanationPlan().shown(3) == [0, 1, 2]
    assert ExplanationPlan(images=(4, 0)).shown(5) == [4, 0]
    with pytest.raises(SettingError, match=r"images \[5\] are out of range for 5 inputs \(indices 0 to 4\)"):
        ExplanationPlan(images=(4, 5)).shown(5)
