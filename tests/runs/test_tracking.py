"""Experiment tracking: TensorBoard events and MLflow runs read back, history.csv, and the history in report.json."""

from __future__ import annotations

import csv
import json
import sys

import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.comparison import run_comparison
from art_sor.runs.epoch_hooks import RobustnessMonitor
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.run_key import RunMismatchError
from art_sor.runs.tracking import Tracking, epoch_metrics, flat_params, metric_name
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
mlflow_tracking = pytest.importorskip("mlflow.tracking")

THREAT = ThreatModel(0.2, "inf")
TINY = ["--train-samples", "200", "--eval-samples", "30", "--attack-steps", "2", "--defence", "standard",
        "--quiet", "--device", "cpu"]


def scalars(folder, tag):
    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    # MLflow 3 refuses a file store unless told otherwise; tests need no server and no database.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def mlflow_runs(uri):
    client = mlflow_tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("art-sor")
    return client, client.search_runs([experiment.experiment_id])


def test_train_logs_every_epoch_once_to_tensorboard_and_mlflow(tmp_path, mlflow_uri):
    out, logs = tmp_path / "out", tmp_path / "tb"
    args = ["train", *TINY, "--out", str(out), "--log-dir", str(logs), "--mlflow-uri", mlflow_uri]
    result = CliRunner().invoke(main, [*args, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    row = json.loads((out / "report.json").read_text())["results"][0]
    history = row["training"]["history"]
    assert [record["epoch"] for record in history] == [1, 2]

    # history.csv beside the model holds the same records.
    with open(out / "standard" / "history.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in table] == [1, 2]
    assert [float(r["loss"]) for r in table] == pytest.approx([r["loss"] for r in history], rel=1e-5)

    # TensorBoard: the epoch records and the final evaluation, read back from the event files.
    run_dir = logs / "standard"
    assert scalars(run_dir, "train/loss") == [(1, pytest.approx(history[0]["loss"])),
                                              (2, pytest.approx(history[1]["loss"]))]
    assert [step for step, _ in scalars(run_dir, "train/learning_rate")] == [1, 2]
    assert scalars(run_dir, "eval/worst_case_accuracy") == [
        (2, pytest.approx(row["evaluation"]["robustness"]["worst_case_accuracy"]))]

    # MLflow: one run, the run key as parameters, step = epoch.
    client, runs = mlflow_runs(mlflow_uri)
    assert len(runs) == 1 and runs[0].info.run_name == "standard"
    run_id = runs[0].info.run_id
    assert runs[0].data.params["setup.batch_size"] == str(row["training"]["run"]["setup"]["batch_size"])
    assert runs[0].data.params["defence.spec"] == "standard"
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [
        (1, pytest.approx(history[0]["loss"])), (2, pytest.approx(history[1]["loss"]))]
    assert runs[0].data.metrics["eval/clean_accuracy"] == pytest.approx(row["clean_accuracy"])
    assert row["training"]["logs"] == {"tensorboard": str(run_dir.resolve()),
                                       "mlflow": {"uri": mlflow_uri, "experiment": "art-sor", "run_id": run_id}}
    assert f"standard: TensorBoard {run_dir.resolve()}, MLflow run {run_id}" in (out / "report.md").read_text()

    # Extending the run logs only the new epoch, into the same TensorBoard folder and MLflow run; a rerun that
    # reuses the model logs nothing again.
    for _ in range(2):
        result = CliRunner().invoke(main, [*args, "--epochs", "3"])
        assert result.exit_code == 0, result.output
    assert [step for step, _ in scalars(run_dir, "train/loss")] == [1, 2, 3]
    assert [step for step, _ in scalars(run_dir, "eval/worst_case_accuracy")] == [2, 3]
    client, runs = mlflow_runs(mlflow_uri)
    assert [r.info.run_id for r in runs] == [run_id]
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run_id, "eval/worst_case_accuracy")] == [2, 3]
    # Tracking is no part of the run's key: the same run without logging reuses the model.
    stamp = (out / "standard" / "model.pt").stat().st_mtime_ns
    result = CliRunner().invoke(main, ["train", *TINY, "--out", str(out), "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert (out / "standard" / "model.pt").stat().st_mtime_ns == stamp


def test_reused_run_sends_its_history_to_a_new_destination_and_the_monitor_is_logged(digits, tmp_path):
    setup = TrainingSetup(epochs=2, batch_size=64, train_samples=200, device="cpu")
    monitor = RobustnessMonitor(digits.x_test[:20], digits.y_test[:20], THREAT, "fgsm")
    first = train_defence("standard", digits, THREAT, setup, tmp_path / "run", verbose=False, monitor=monitor)
    with Tracking(log_dir=tmp_path / "tb").open("late", tmp_path / "run") as tracker:
        reused = train_defence("standard", digits, THREAT, setup, tmp_path / "run", verbose=False, monitor=monitor,
                               tracker=tracker)
    assert reused.history == first.history
    assert scalars(tmp_path / "tb" / "late", "train/monitor_robust_accuracy") == [
        (r["epoch"], pytest.approx(r["monitor_robust_accuracy"])) for r in first.history]
    # Another run may not write into that TensorBoard folder: its events would mix with these.
    with pytest.raises(RunMismatchError, match="log_dir"), \
            Tracking(log_dir=tmp_path / "tb").open("late", tmp_path / "other") as tracker:
        train_defence("standard", digits, THREAT, setup, tmp_path / "other", verbose=False, tracker=tracker)
    assert not (tmp_path / "other" / "model.pt").exists()


def test_missing_tracking_library_is_named_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    result = CliRunner().invoke(main, ["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "out"), "--mlflow"])
    assert result.exit_code != 0 and "pip install 'art-sor[mlflow]'" in result.output
    assert not (tmp_path / "out" / "standard").exists()
    experiment = CliRunner().invoke(main, ["train", *TINY, "--out", str(tmp_path / "out"),
                                           "--mlflow-experiment", "x"])
    assert experiment.exit_code != 0 and "--mlflow-experiment" in experiment.output


def test_every_comparison_row_is_its_own_run_with_monitor_and_extra_metrics(digits, tmp_path):
    plan = ComparisonPlan(setup=TrainingSetup(epochs=2, batch_size=64, train_samples=200, device="cpu"),
                          evaluation=EvaluationPlan(THREAT, attacks=("fgsm",), samples=30, curve=False,
                                                    geometry=False),
                          seeds=(0, 1), monitor_attack="fgsm", monitor_samples=20, extras="score v1")
    context = JobContext(verbose=False, announce=lambda message: None, tracking=Tracking(log_dir=tmp_path / "tb"))
    rows = run_comparison(["standard"], digits, plan, tmp_path / "out", context,
                          extra_metrics=lambda *_: {"score": 0.25})
    for row in rows:
        run_dir = tmp_path / "tb" / "standard" / f"seed-{row.seed}"
        assert row.training.logs == {"tensorboard": str(run_dir.resolve())}
        assert scalars(run_dir, "train/monitor_robust_accuracy") == [
            (point["epoch"], pytest.approx(point["accuracy"])) for point in row.curve]
        assert scalars(run_dir, "eval/score") == [(2, 0.25)]
        assert scalars(run_dir, "eval/accuracy/fgsm") == [(2, pytest.approx(row.result.evaluation.robustness
                                                                            .attacks[0].accuracy))]


def test_epoch_records_become_metrics_and_names_suit_mlflow():
    record = {"epoch": 3, "loss": 1.5, "first_order": 0.25, "second_order": -0.01, "penalty": 0.24,
              "train_accuracy": 0.5, "learning_rate": 0.1, "seconds": 2.0, "warnings": ["collapsed"]}
    assert epoch_metrics(record) == {"train/loss": 1.5, "train/first_order": 0.25, "train/second_order": -0.01,
                                     "train/penalty": 0.24, "train/train_accuracy": 0.5, "train/learning_rate": 0.1,
                                     "train/seconds": 2.0}
    assert metric_name("eval/accuracy/pgd:steps=50,restarts=3") == "eval/accuracy/pgd_steps_50_restarts_3"
    assert flat_params({"setup": {"lr": 0.1, "milestones": [100, 150], "note": None}}) == {
        "setup.lr": 0.1, "setup.milestones": "[100, 150]", "setup.note": "null"}


class InterruptedOnce(RobustnessMonitor):
    """The robustness monitor, but the first session dies during epoch 2's hooks (before its checkpoint)."""

    died = False

    def __call__(self, trainer, record):
        super().__call__(trainer, record)
        if record["epoch"] == 2 and not InterruptedOnce.died:
            InterruptedOnce.died = True
            raise KeyboardInterrupt


def test_a_resumed_run_logs_each_epoch_once(digits, tmp_path, mlflow_uri):
    setup = TrainingSetup(epochs=3, batch_size=64, train_samples=200, device="cpu")
    monitor = InterruptedOnce(digits.x_test[:20], digits.y_test[:20], THREAT, "fgsm")
    tracking = Tracking(log_dir=tmp_path / "tb", mlflow=True, mlflow_uri=mlflow_uri)
    with pytest.raises(KeyboardInterrupt), tracking.open("run", tmp_path / "run") as tracker:
        train_defence("standard", digits, THREAT, setup, tmp_path / "run", verbose=False, monitor=monitor,
                      tracker=tracker)
    assert [step for step, _ in scalars(tmp_path / "tb" / "run", "train/loss")] == [1]
    with tracking.open("run", tmp_path / "run") as tracker:
        trained = train_defence("standard", digits, THREAT, setup, tmp_path / "run", verbose=False, monitor=monitor,
                                tracker=tracker)
    assert [step for step, _ in scalars(tmp_path / "tb" / "run", "train/loss")] == [1, 2, 3]
    client, runs = mlflow_runs(mlflow_uri)
    assert len(runs) == 1
    assert [(m.step, m.value) for m in client.get_metric_history(runs[0].info.run_id, "train/loss")] == [
        (r["epoch"], pytest.approx(r["loss"])) for r in trained.history]


def logged_steps(folder, tag):
    """Every step at which the event files hold ``tag``, duplicates included (what a reader without purging sees)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return sorted(event.step for path in folder.glob("events.out.tfevents.*") for event in EventFileLoader(
        str(path)).Load() if event.HasField("summary") and any(v.tag == tag for v in event.summary.value))


def test_a_rerun_after_its_ledger_is_lost_logs_nothing_twice(tmp_path, mlflow_uri):
    out, logs = tmp_path / "out", tmp_path / "tb"
    args = ["train", *TINY, "--out", str(out), "--log-dir", str(logs), "--mlflow-uri", mlflow_uri, "--epochs", "2"]
    assert CliRunner().invoke(main, args).exit_code == 0
    (out / "standard" / "tracking.json").unlink()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert logged_steps(logs / "standard", "train/loss") == [1, 2]
    assert logged_steps(logs / "standard", "eval/worst_case_accuracy") == [2]
    client, runs = mlflow_runs(mlflow_uri)
    assert len(runs) == 1
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")] == [1, 2]
    # Extending the run after the ledger is lost again logs only the new epoch, into the same run.
    (out / "standard" / "tracking.json").unlink()
    assert CliRunner().invoke(main, [*args[:-1], "3"]).exit_code == 0
    assert logged_steps(logs / "standard", "train/loss") == [1, 2, 3]
    client, runs = mlflow_runs(mlflow_uri)
    assert len(runs) == 1
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")] == [1, 2, 3]


@pytest.mark.parametrize("option", ["--log-dir", "--mlflow-uri"])
def test_an_unwritable_tracking_destination_is_refused_before_training(tmp_path, option, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    where = str(blocker / "logs") if option == "--log-dir" else (blocker / "mlruns").as_uri()
    result = CliRunner().invoke(main, ["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "out"), option, where])
    assert result.exit_code == 2 and f"Invalid value for {option}" in result.output, result.output
    assert "cannot write" in result.output and not (tmp_path / "out").exists()
