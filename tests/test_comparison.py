"""The comparison harness: equal budgets, same attacks, resumable, honest flags."""

from __future__ import annotations

import json

from click.testing import CliRunner

from art_sor.cli import main
from art_sor.comparison import ComparisonPlan, ComparisonRow, comparison_table, run_comparison, write_comparison
from art_sor.defences import ThreatModel
from art_sor.experiment import TrainingSetup

PLAN = ComparisonPlan(threat=ThreatModel(0.2, "inf"), setup=TrainingSetup(epochs=8, batch_size=64, device="cpu"),
                      attacks=("fgsm", "pgd:steps=10"), eval_samples=100, diagnostics=False, extras="count v1")


def test_comparison_resumes_without_retraining_or_reevaluating(digits, tmp_path):
    calls = []

    def extra(classifier, data, threat):
        calls.append(1)
        return {"score": 0.5}

    rows = run_comparison(["standard", "sor"], digits, PLAN, tmp_path, extra_metrics=extra, verbose=False,
                          announce=lambda message: None)
    assert [r.defence for r in rows] == ["standard", "sor"] and len(calls) == 2
    model_times = {d: (tmp_path / d / "model.pt").stat().st_mtime_ns for d in ("standard", "sor")}
    messages = []
    again = run_comparison(["standard", "sor"], digits, PLAN, tmp_path, extra_metrics=extra, verbose=False,
                           announce=messages.append)
    assert len(calls) == 2, "cached extra metrics must be reused"
    assert not any("evaluating" in m for m in messages)
    assert sum("evaluation reused" in m for m in messages) == 2
    assert {d: (tmp_path / d / "model.pt").stat().st_mtime_ns for d in model_times} == model_times
    assert [r.to_dict()["attacks"] for r in again] == [r.to_dict()["attacks"] for r in rows]
    changed = ComparisonPlan(**{**vars(PLAN), "extras": "count v2"})
    run_comparison(["sor"], digits, changed, tmp_path, extra_metrics=extra, verbose=False, announce=lambda m: None)
    assert len(calls) == 3, "new extra-metric settings recompute only the extras"


def test_sor_beats_standard_in_the_table(digits, tmp_path):
    rows = run_comparison(["standard", "sor"], digits, PLAN, tmp_path, verbose=False, announce=lambda m: None)
    standard, sor = rows
    assert sor.accuracy("PGD-10") > standard.accuracy("PGD-10") + 0.2
    assert sor.worst_case_accuracy <= min(sor.attacks.values())
    paths = write_comparison(rows, PLAN, digits, tmp_path, "art-sor compare --test")
    table = paths["markdown"].read_text()
    assert "| sor |" in table and "not the canonical" in table and "art-sor compare --test" in table
    assert paths["plot"].stat().st_size > 0
    assert json.loads(paths["json"].read_text())["rows"][1]["defence"] == "sor"
    header = paths["csv"].read_text().splitlines()[0]
    assert header.startswith("defence,s/epoch,× standard,clean,FGSM,PGD-10")


def test_flags_autoattack_gap_and_failed_checks():
    row = ComparisonRow(defence="x", seconds_per_epoch=1.0, clean_accuracy=0.9,
                        attacks={"PGD-20": 0.60, "AutoAttack (ART ensemble)": 0.50}, worst_case_accuracy=0.5,
                        checks=[{"name": "gradients are finite and non-zero", "passed": False}], geometry=None,
                        history=[])
    assert row.flags[0].startswith("AutoAttack 10.0 points below PGD-20")
    assert "failed: gradients are finite and non-zero" in row.flags
    honest = ComparisonRow(defence="y", seconds_per_epoch=1.0, clean_accuracy=0.9,
                           attacks={"PGD-20": 0.60, "AutoAttack (ART ensemble)": 0.58}, worst_case_accuracy=0.58,
                           checks=[], geometry=None, history=[])
    assert honest.flags == []
    _, cells = comparison_table([honest])
    assert cells[0][-1] == "none"


def test_compare_cli(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "--defence", "standard", "--defence", "sor", "--epochs", "1", "--attack", "fgsm",
            "--attack", "pgd:steps=2", "--eval-samples", "30", "--no-diagnostics", "--no-alignment", "--quiet",
            "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "results.md").exists() and (out / "robust_vs_time.png").exists()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "evaluation reused" in again.output
