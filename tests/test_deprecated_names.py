"""Public names that moved keep working under their old spelling for one release, with a DeprecationWarning."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

CHECK = """
import importlib, json, sys, warnings
for old, new, name, new_name in json.loads(sys.argv[1]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), new_name), (old, name)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught), (old, name)
print("ok")
"""

MOVED = [
    ("art_sor.estimators.view", "art_sor.classifiers.view", "ClassifierView", "ClassifierView"),
    ("art_sor.estimators.classifiers", "art_sor.classifiers.wrapping", "wrap_model", "wrap_model"),
    ("art_sor.estimators.checkpoints", "art_sor.classifiers.checkpoints", "load_classifier", "load_classifier"),
    ("art_sor.evaluation.suite", "art_sor.evaluation.full_evaluation", "evaluate_classifier", "evaluate_classifier"),
    ("art_sor.explain.suite", "art_sor.explain.full_explanation", "explain_classifier", "explain_classifier"),
    ("art_sor.runs.train_suite", "art_sor.runs.training_job", "train_suite", "train_defences"),
    ("art_sor.runs.train_suite", "art_sor.runs.training_job", "TrainedDefence", "TrainingJobRow"),
    ("art_sor.evaluation", "art_sor.evaluation.full_evaluation", "Evaluation", "FullEvaluation"),
    ("art_sor.runs.evaluating", "art_sor.runs.evaluating", "ModelEvaluation", "TestSetEvaluation"),
    ("art_sor.runs.training", "art_sor.runs.epoch_hooks", "CLOCKS", "CLOCKS"),
    ("art_sor.runs.evaluating", "art_sor.classifiers.opening", "open_model", "open_model"),
    ("art_sor.runs.comparison", "art_sor.runs.plans", "COMPARE_ATTACKS", "COMPARE_ATTACKS"),
    ("art_sor.runs.comparison", "art_sor.runs.summaries", "summarise", "summarise"),
    ("art_sor.runs.comparison", "art_sor.runs.comparison_report", "comparison_report", "comparison_report"),
]


def test_moved_names_still_work_and_say_where_they_went():
    # A fresh interpreter, so that the old spellings are the first imports.
    result = subprocess.run([sys.executable, "-c", CHECK, json.dumps(MOVED)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-1500:]


def test_penalty_mode_is_a_deprecated_spelling_of_perturbation_mode():
    from conftest import digits_cnn, make_classifier

    from art_sor.classifiers.view import ClassifierView

    view = ClassifierView(make_classifier(digits_cnn(), (1, 8, 8)))
    with pytest.warns(DeprecationWarning, match="perturbation_mode"), view.penalty_mode("eval"):
        assert not view.model.training


def test_an_unknown_name_is_still_an_attribute_error():
    from art_sor.runs import training

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        training.nothing  # noqa: B018
    import art_sor.estimators.view as old_view

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an attribute that exists nowhere is no use of a deprecated name
        assert getattr(old_view, "nothing", None) is None
