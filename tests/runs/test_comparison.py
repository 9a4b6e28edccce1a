"""The comparison harness: equal epochs or equal compute, same attacks, resumable, honest flags."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.diagnostics import Check, ensemble_gap_threshold
from art_sor.evaluation.full_evaluation import FullEvaluation
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.evaluation.robustness import AttackResult, RobustnessResult
from art_sor.runs.comparison import run_comparison
from art_sor.runs.comparison_report import comparison_report
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.evaluating import TestSetEvaluation
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.reports import write_report
from art_sor.runs.run_key import RunKey
from art_sor.runs.summaries import ComparisonRow, TrainingSummary, summarise
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec

THREAT = ThreatModel(0.2, "inf")
PLAN = ComparisonPlan(setup=TrainingSetup(epochs=8, batch_size=64, device="cpu"),
                      evaluation=EvaluationPlan(THREAT, attacks=("fgsm", "pgd:steps=10"), samples=100, curve=False,
                                                geometry=False),
                      monitor_samples=50, extras="count v1")


QUIET = JobContext(verbose=False, announce=lambda message: None)


@pytest.mark.slow
def test_comparison_resumes_without_retraining_or_reevaluating(digits, tmp_path):
    calls = []

    def extra(classifier, data, threat):
        calls.append(1)
        return {"score": 0.5}

    rows = run_comparison(["standard", "sor"], digits, PLAN, tmp_path, QUIET, extra_metrics=extra)
    assert [r.defence for r in rows] == ["standard", "sor"] and len(calls) == 2
    models = {d: tmp_path / d / "seed-0" / "model.pt" for d in ("standard", "sor")}
    stamps = {d: path.stat().st_mtime_ns for d, path in models.items()}
    evaluations = {d: (path.parent / "evaluation.json").stat().st_mtime_ns for d, path in models.items()}
    said = []
    again = run_comparison(["standard", "sor"], digits, PLAN, tmp_path,
                           JobContext(verbose=False, announce=said.append), extra_metrics=extra)
    assert len(calls) == 2, "cached extra metrics must be reused"
    assert not [m for m in said if m.endswith((": training", ": evaluating"))], said
    assert sum("reused the finished model" in m for m in said) == 2
    assert sum(m.endswith("reused its evaluation") for m in said) == 2
    assert {d: path.stat().st_mtime_ns for d, path in models.items()} == stamps
    assert {d: (path.parent / "evaluation.json").stat().st_mtime_ns for d, path in models.items()} == evaluations
    assert [r.to_dict() for r in again] == [r.to_dict() for r in rows]
    run_comparison(["sor"], digits, replace(PLAN, extras="count v2"), tmp_path, QUIET, extra_metrics=extra)
    assert len(calls) == 3, "new extra-metric settings recompute only the extras"


@pytest.mark.slow
def test_sor_beats_standard_in_the_table(digits, tmp_path):
    rows = run_comparison(["standard", "sor"], digits, PLAN, tmp_path, QUIET)
    standard, sor = (row.result.evaluation.robustness.attacks[1].accuracy for row in rows)
    assert sor > standard + 0.2
    assert all(row.worst_case_accuracy <= min(a.accuracy for a in row.result.evaluation.robustness.attacks)
               for row in rows)
    # Per-epoch monitor: one point per epoch, with cumulative time.
    curve = rows[1].curve
    assert [p["epoch"] for p in curve] == list(range(1, 9))
    assert all(b["seconds"] > a["seconds"] for a, b in itertools.pairwise(curve))
    paths = write_report(comparison_report(rows, PLAN, digits, "art-sor compare --test"), tmp_path, stem="results")
    table = paths["markdown"].read_text()
    assert "| sor |" in table and "art-sor compare --test" in table and "wall-clock" in table
    assert paths["robust_vs_compute.png"].stat().st_size > 0
    assert json.loads(paths["json"].read_text())["rows"][1]["defence"] == "sor"
    assert paths["results.csv"].read_text().splitlines()[0].startswith("defence,seeds,epochs,train s")


@pytest.mark.slow
def test_budget_stops_each_defence_at_its_time(digits, tmp_path):
    # A cap far above what 3 CPU seconds buy, so that the budget stops training (on a fast idle machine 50 epochs of
    # standard training took under 3 s).
    plan = replace(PLAN, setup=replace(PLAN.setup, epochs=10_000), budget=Budget(3.0, "cpu"))
    rows = run_comparison(["standard", "sor"], digits, plan, tmp_path, QUIET)
    for row in rows:
        assert row.training.epochs < 10_000
        spent = row.seconds_by_clock
        last_epoch = row.curve[-1]["seconds"] - (row.curve[-2]["seconds"] if len(row.curve) > 1 else 0.0)
        assert spent >= 3.0 and spent - last_epoch < 3.0  # whole epochs until the budget is reached
    standard, sor = rows
    assert standard.training.epochs > sor.training.epochs  # SOR's epochs cost more


def _row(defence: str, seconds: float, robust: float, pgd: float = 0.6, ensemble: float | None = None,
         failed: bool = False, n: int = 100) -> ComparisonRow:
    clean = np.ones(n, dtype=bool)

    def attack(label, accuracy, **kind):
        robust_samples = np.arange(n) < round(accuracy * n)
        return AttackResult(label, label.lower(), label.lower(), robust_samples, **kind)

    attacks = [attack("PGD-20", pgd), attack("Square", robust, white_box=False)]
    if ensemble is not None:
        attacks.append(attack("AutoAttack (ART ensemble)", ensemble, ensemble=True))
    checks = [Check("gradients are finite and non-zero", not failed, "")]
    result = TestSetEvaluation(0.9, FullEvaluation(RobustnessResult(THREAT, clean, attacks), checks=checks), 1000)
    training = TrainingSummary(defence, RunKey({}, {}, {}, {}, {}, {}), 1, 1, seconds, seconds, 1, None, [], "wall",
                               seconds)
    return ComparisonRow(defence, 0, training, result)


def test_flags_ensemble_gap_and_failed_checks():
    row = _row("x", 1.0, 0.5, pgd=0.6, ensemble=0.5, failed=True)
    assert row.flags[0] == "AutoAttack (ART ensemble) 10.0 points below PGD-20 (threshold 6.4 on 100 images)"
    assert "failed: gradients are finite and non-zero" in row.flags
    assert _row("y", 1.0, 0.58, pgd=0.6, ensemble=0.58).flags == []


def test_the_ensemble_gap_threshold_allows_for_the_sampling_error():
    # Honest PGD-AT at 100 images: AutoAttack 4 points below PGD-20 is within two standard errors, not a flag.
    assert _row("pgd-at", 1.0, 0.5, pgd=0.5, ensemble=0.46).flags == []
    # The L1 standard model: PGD-20 60 %, canonical AutoAttack 26.7 % on 30 images.
    assert _row("standard", 1.0, 0.2, pgd=0.6, ensemble=0.267, n=30).flags[0].startswith(
        "AutoAttack (ART ensemble) 33.3 points below PGD-20")
    assert ensemble_gap_threshold(100) == pytest.approx(0.064, abs=5e-4)
    assert ensemble_gap_threshold(1000) < ensemble_gap_threshold(100)


def test_pareto_front():
    rows = [_row("cheap", 1.0, 0.2), _row("dominated", 5.0, 0.2), _row("robust", 10.0, 0.5),
            _row("slow", 20.0, 0.5)]
    front = {s.defence for s in summarise(rows) if s.on_front}
    assert front == {"cheap", "robust"}


def test_compare_cli(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "--defence", "standard", "--defence", "sor", "--epochs", "1", "--attack", "fgsm",
            "--attack", "pgd:steps=2", "--eval-samples", "30", "--monitor-samples", "20", "--no-diagnostics",
            "--no-alignment", "--quiet", "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "results.md").exists() and (out / "robust_vs_compute.png").exists()
    first = json.loads((out / "results.json").read_text())["rows"]
    stamp = (out / "sor" / "seed-0" / "model.pt").stat().st_mtime_ns
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["rows"] == first
    assert (out / "sor" / "seed-0" / "model.pt").stat().st_mtime_ns == stamp


def test_interrupted_evaluation_keeps_and_reuses_what_it_measured(digits, tmp_path, monkeypatch):
    from art_sor.runs.evaluating import evaluate_model
    from art_sor.runs.training import train_defence

    trained = train_defence("standard", digits, THREAT, TrainingSetup(epochs=1, batch_size=64, device="cpu"),
                            verbose=False)
    plan = EvaluationPlan(THREAT, attacks=("fgsm", "pgd:steps=3"), samples=40, curve=False, geometry=False)
    cache = tmp_path / "evaluation.json"
    import art_sor.evaluation.robustness as robustness

    real_prepare, calls = robustness.prepare_attack, []

    def prepare_interrupting(spec, *args):
        # Each ART attack's generate is counted, and the first PGD is interrupted: 40 samples are one chunk.
        prepared = real_prepare(spec, *args)
        generate = prepared.attack.generate

        def interrupted(*generate_args, **kwargs):
            calls.append(Spec.of(spec).label)
            if calls == ["fgsm", "pgd:steps=3"]:
                raise KeyboardInterrupt
            return generate(*generate_args, **kwargs)

        prepared.attack.generate = interrupted
        return prepared

    monkeypatch.setattr(robustness, "prepare_attack", prepare_interrupting)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(trained.classifier, digits, plan, {"model": 1}, cache, verbose=False)
    stored = json.loads(cache.read_text())
    assert stored["complete"] is False
    assert [a["spec"] for a in stored["result"]["evaluation"]["robustness"]["attacks"]] == ["fgsm"]
    result = evaluate_model(trained.classifier, digits, plan, {"model": 1}, cache, verbose=False)
    assert calls == ["fgsm", "pgd:steps=3", "pgd:steps=3"]  # fgsm was not run again
    assert json.loads(cache.read_text())["complete"] is True
    assert [a.label for a in result.evaluation.robustness.attacks] == ["FGSM", "PGD-3"]


def test_diagnostics_count_only_the_checks_that_ran():
    from art_sor.runs.comparison_report import checks_passed

    checks = [Check("a", True, ""), Check("b", True, ""), Check("c", None, "needs a curve"), Check("d", False, "")]
    assert checks_passed(checks) == "2/3 (1 not run)"  # not "2/4", which reads as two failures
    assert checks_passed(checks[:2]) == "2/2"
