"""Results of runs print as short Markdown tables: a model's evaluation, its training, and the job rows."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import table_row

from art_sor.core.threat import ThreatModel
from art_sor.evaluation import EvaluationPlan, evaluate_classifier
from art_sor.runs.evaluating import TestSetEvaluation
from art_sor.runs.summaries import ComparisonResult, ComparisonRow, TrainingJobRow, TrainingSummary
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.tables import percent

THREAT = ThreatModel(0.2, "inf")


@pytest.fixture(scope="module")
def trained(digits):
    setup = TrainingSetup(epochs=3, batch_size=64, train_samples=300, device="cpu")
    return train_defence("standard", digits, THREAT, setup, verbose=False)


@pytest.fixture(scope="module")
def evaluation(trained, digits):
    plan = EvaluationPlan(THREAT, attacks=["fgsm", "pgd:steps=3"], curve=False, geometry=False)
    return evaluate_classifier(trained.classifier, digits.x_test[:40], digits.y_test[:40], plan, verbose=False)


def test_model_evaluation_training_and_comparison_summaries(trained, evaluation):
    result = TestSetEvaluation(0.875, evaluation, 450)
    assert str(result).startswith("Clean accuracy on all 450 test images: 87.5 %.")
    assert str(evaluation) in str(result)

    text = str(trained)
    assert text.startswith("standard on digits: 3 epochs in ") and "selected epoch 3" in text
    assert table_row(text, "epoch").startswith("| epoch | loss | clean_loss | train_accuracy |")
    assert [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and "epoch" not in line] \
        == ["| 1", "| 2", "| 3"]
    short = trained.to_markdown(last=1)
    assert "last 1 of 3 epochs" in short and table_row(short, "3")

    training = replace(TrainingSummary.of(trained), training_seconds=3.0, clock="wall", training_seconds_by_clock=3.0)
    trained_row = TrainingJobRow(training, result)
    assert table_row(str(trained_row), "standard") == (f"| standard | 3 | 1.00 | 87.5 | "
                                                       f"{percent(evaluation.robustness.attacks[0].accuracy)} |")
    comparison = ComparisonResult([ComparisonRow("standard", 0, training, result)])
    row = table_row(str(comparison), "standard").split(" | ")
    assert row[1:4] == ["1", "3", "3"] and percent(evaluation.robustness.worst_case_accuracy()) in row
    assert str(comparison[0]) == str(comparison) and str(ComparisonResult()) == "(no rows)"


def test_training_summaries_keep_the_report_layout_and_read_back(trained):
    summary = TrainingSummary.of(trained)
    assert list(summary.to_dict()) == ["defence", "run", "epochs", "selected_epoch", "training_seconds",
                                       "training_cpu_seconds", "world_size", "path", "history"]
    assert summary.run == trained.key and summary.epochs == 3 and summary.defence == "standard"
    timed = replace(summary, clock="cpu", training_seconds_by_clock=1.5, logs={"tensorboard": "tb"})
    assert list(timed.to_dict())[-3:] == ["training_seconds_by_clock", "clock", "logs"]
    assert TrainingSummary.from_dict(json.loads(json.dumps(timed.to_dict()))) == timed
