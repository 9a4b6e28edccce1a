"""Models kept at fractions of a compute budget: the first epoch crossing each, a row per fraction, resumable."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from art_sor.classifiers.checkpoints import load_checkpoint
from art_sor.cli import main
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.budget_fractions import check_budget_fractions, fraction_folder
from art_sor.runs.comparison import run_comparison
from art_sor.runs.comparison_job import comparison_job
from art_sor.runs.comparison_report import comparison_report
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.reports import write_report
from art_sor.runs.summaries import comparison_table, summarise
from art_sor.runs.training_setup import TrainingSetup
from art_sor.trainers.base import EpochTrainer

THREAT = ThreatModel(0.2, "inf")
FRACTIONS = (0.125, 0.25, 0.5, 1.0)
EPOCH_SECONDS = 0.5
"""What every epoch costs by the fake CPU clock: the budget below is four epochs' worth."""
PLAN = ComparisonPlan(setup=TrainingSetup(epochs=10, batch_size=32, train_samples=64, device="cpu"),
                      evaluation=EvaluationPlan(THREAT, attacks=("fgsm",), samples=20, curve=False, geometry=False),
                      budget=Budget(4 * EPOCH_SECONDS, "cpu"), monitor_samples=10, budget_fractions=FRACTIONS)
KEPT = [(0.125, 1), (0.25, 1), (0.5, 2), (1.0, 4)]
"""The first epoch whose cumulative time crosses each fraction: 0.25 s, 0.5 s, 1 s and 2 s."""
QUIET = JobContext(verbose=False, announce=lambda message: None)


@pytest.fixture
def fake_clock(monkeypatch):
    """The trainer's CPU clock advances by half of EPOCH_SECONDS per reading: two readings an epoch."""
    ticks = iter(range(1_000_000))
    clock = SimpleNamespace(perf_counter=time.perf_counter, process_time=lambda: next(ticks) * EPOCH_SECONDS)
    monkeypatch.setattr("art_sor.trainers.base.time", clock)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("fractions", [(), (0.5, 0.25, 1), (0.5, 0.5, 1), (0.25, 0.5), (0, 1), (0.5, 1.5),
                                       (float("nan"), 1), ("half", 1)])
def test_bad_fractions_are_refused_naming_the_argument(fractions):
    with pytest.raises(SettingError) as error:
        check_budget_fractions(fractions)
    assert error.value.setting == "budget_fractions"
    if fractions:
        with pytest.raises(SettingError, match="budget_fractions"):
            replace(PLAN, budget_fractions=fractions)


def test_fractions_need_a_budget_and_the_last_epoch_before_any_work(digits, tmp_path):
    with pytest.raises(SettingError, match="budget_fractions") as error:
        replace(PLAN, setup=replace(PLAN.setup, select="best-robust"))
    assert error.value.setting == "budget_fractions"
    unbudgeted = replace(PLAN, budget=None)
    with pytest.raises(SettingError, match="budget_fractions"):
        run_comparison(["standard"], digits, unbudgeted, tmp_path / "a", QUIET)
    with pytest.raises(SettingError, match="budget_fractions"):
        comparison_job([], digits, unbudgeted, tmp_path / "b", "art-sor compare", QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert check_budget_fractions([0.125, 0.25, 0.5, 1]) == FRACTIONS


def test_crossings_are_the_first_epoch_reaching_each_fraction():
    history = [{"epoch": e, "cpu_seconds": s} for e, s in enumerate([0.5, 2.0, 0.1, 3.0], 1)]
    assert Budget(4.0, "cpu").crossings(history, FRACTIONS) == {0.125: 1, 0.25: 2, 0.5: 2, 1.0: 4}
    assert Budget(4.0, "cpu").crossings(history[:3], FRACTIONS) == {0.125: 1, 0.25: 2, 0.5: 2}
    # The whole budget is crossed where the budget stops training.
    assert Budget(4.0, "cpu").reached(history[:4]) and not Budget(4.0, "cpu").reached(history[:3])


def test_each_run_keeps_the_first_epoch_crossing_each_fraction(digits, tmp_path, fake_clock):
    rows = run_comparison(["standard"], digits, PLAN, tmp_path, QUIET)
    assert [(row.budget_fraction, row.training.epochs) for row in rows] == KEPT
    where = tmp_path / "standard" / "seed-0"
    for fraction, epoch in KEPT:
        path = fraction_folder(where, fraction) / "model.pt"
        stored = load_checkpoint(path)["metadata"]
        assert (stored["budget_fraction"], stored["epoch"]) == (fraction, epoch)
        assert json.loads((path.parent / "evaluation.json").read_text())["key"]["model"]["budget_fraction"] == fraction
    # The model kept at the whole budget is the final one; the one of epoch 2 is not.
    final = _weights(where / "model.pt")
    assert _same(_weights(fraction_folder(where, 1.0) / "model.pt"), final)
    assert not _same(_weights(fraction_folder(where, 0.5) / "model.pt"), final)
    assert [row.seconds_by_clock for row in rows] == [0.5, 0.5, 1.0, 2.0]
    assert [len(row.curve) for row in rows] == [1, 1, 2, 4]
    assert [row.to_dict()["budget_fraction"] for row in rows] == list(FRACTIONS)

    table = comparison_table(summarise(rows))
    assert table.header[:3] == ["defence", "budget", "seeds"]
    assert [cells[:4] for cells in table.rows] == [["standard", "12.5 %", "1", "1"], ["standard", "25 %", "1", "1"],
                                                   ["standard", "50 %", "1", "2"], ["standard", "100 %", "1", "4"]]
    paths = write_report(comparison_report(rows, PLAN, digits, "art-sor compare --test"), tmp_path, stem="results")
    markdown = paths["markdown"].read_text()
    assert "| standard | 12.5 % |" in markdown and "| standard | 100 % |" in markdown
    assert json.loads(paths["json"].read_text())["budget_fractions"] == list(FRACTIONS)
    assert paths["robust_vs_compute.png"].stat().st_size > 0

    said = []
    again = run_comparison(["standard"], digits, PLAN, tmp_path, JobContext(verbose=False, announce=said.append))
    assert [row.to_dict() for row in again] == [row.to_dict() for row in rows]
    assert sum(message.endswith("reused its evaluation") for message in said) == len(FRACTIONS), said


def test_a_run_that_stops_at_its_cap_keeps_the_fractions_it_crossed(digits, tmp_path, fake_clock):
    plan = replace(PLAN, setup=replace(PLAN.setup, epochs=2))
    rows = run_comparison(["standard"], digits, plan, tmp_path, QUIET)
    assert [(row.budget_fraction, row.training.epochs) for row in rows] == KEPT[:3]
    report = comparison_report(rows, plan, digits, "art-sor compare --test").markdown()
    assert "stopped at the cap of 2 epochs before crossing 100 % of the budget" in report


@pytest.mark.parametrize("killed", ["after the epoch's state", "between the kept model and the state"])
def test_a_killed_and_resumed_comparison_keeps_the_same_epochs(digits, tmp_path, monkeypatch, fake_clock, killed):
    whole = run_comparison(["standard"], digits, PLAN, tmp_path / "whole", QUIET)
    save, killed_once = EpochTrainer._save, []

    def dying_save(trainer, *args):
        # Killed once, at the end of epoch 2 (the first to cross 0.5 of the budget): after or before its state.
        if len(trainer.history) == 2 and not killed_once:
            killed_once.append(1)
            if killed == "after the epoch's state":
                save(trainer, *args)
            raise KeyboardInterrupt
        save(trainer, *args)

    monkeypatch.setattr(EpochTrainer, "_save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run_comparison(["standard"], digits, PLAN, tmp_path / "resumed", QUIET)
    where = tmp_path / "resumed" / "standard" / "seed-0"
    assert not (where / "model.pt").exists() and (fraction_folder(where, 0.5) / "model.pt").exists()
    first = (fraction_folder(where, 0.125) / "model.pt").stat().st_mtime_ns
    resumed = run_comparison(["standard"], digits, PLAN, tmp_path / "resumed", QUIET)
    assert [(row.budget_fraction, row.training.epochs) for row in resumed] == KEPT
    assert (fraction_folder(where, 0.125) / "model.pt").stat().st_mtime_ns == first  # epoch 1 was not trained again
    for fraction, _ in KEPT:
        assert _same(_weights(fraction_folder(where, fraction) / "model.pt"),
                     _weights(fraction_folder(tmp_path / "whole" / "standard" / "seed-0", fraction) / "model.pt"))
    assert ([(row.result.clean_accuracy, row.worst_case_accuracy) for row in resumed]
            == [(row.result.clean_accuracy, row.worst_case_accuracy) for row in whole])


CLI = ["compare", "--dataset", "digits", "--defence", "standard", "--epochs", "10", "--train-samples", "64",
       "--batch-size", "32", "--attack", "fgsm", "--eval-samples", "20", "--monitor-samples", "10", "--no-diagnostics",
       "--no-alignment", "--quiet", "--device", "cpu"]


def test_compare_cli_keeps_a_row_per_fraction(tmp_path, fake_clock):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, [*CLI, "--budget-of", "standard:2", "--clock", "cpu", "--budget-fractions",
                                       "0.5,1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(row["budget_fraction"], row["training"]["epochs"]) for row in rows] == [(0.5, 1), (1.0, 2)]
    markdown = (out / "results.md").read_text()
    assert "| standard | 50 % |" in markdown and "| standard | 100 % |" in markdown
    assert (out / "standard" / "seed-0" / "budget-0.5" / "model.pt").exists()


@pytest.mark.parametrize("extra", [["--budget-fractions", "0.5,0.25,1"], ["--budget-fractions", "0.5"],
                                   ["--budget-fractions", "0,1"], ["--budget-fractions", "0.5,1"],
                                   ["--budget", "1", "--budget-fractions", "0.5,1", "--select", "best-robust"]])
def test_compare_cli_refuses_bad_fractions_naming_the_option(tmp_path, extra):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, [*CLI, *extra, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "--budget-fractions" in result.output
    assert not (out / "standard").exists()
