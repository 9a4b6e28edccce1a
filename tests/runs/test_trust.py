"""Trustworthy runs: no result from other settings, repeatable defences, one process per folder, checksummed files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from art_sor.classifiers.checkpoints import load_classifier
from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.folders import FolderError, exclusive
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.run_key import RunMismatchError
from art_sor.runs.training import train_defence
from art_sor.runs.training_job import QUICK_FILE
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import CorruptFileError, read_checked_json
from art_sor.trainers.state import STATE_FILE

QUICK = ["--eval-samples", "20", "--attack-steps", "2", "--quiet", "--device", "cpu", "--train-samples", "200"]
THREAT = ThreatModel(0.2, "inf")
SMALL = TrainingSetup(epochs=2, batch_size=50, train_samples=200, device="cpu")


def report(out: Path) -> list[dict]:
    return json.loads((out / "report.json").read_text())["results"]


# ---- run identity ----

def test_rerun_with_more_epochs_extends_and_reports_the_truth(tmp_path):
    out = str(tmp_path / "run")
    assert CliRunner().invoke(main, ["train", *QUICK, "--epochs", "2", "--defence", "sor", "--out", out]).exit_code == 0
    result = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "3", "--defence", "sor", "--out", out])
    assert result.exit_code == 0, result.output
    row = report(tmp_path / "run")[0]["training"]
    assert row["epochs"] == 3 and "| sor | 3 |" in result.output
    fewer = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "1", "--defence", "sor", "--out", out])
    assert fewer.exit_code == 1 and "setup.epochs" in fewer.output and "--overwrite" in fewer.output


def test_a_folder_holds_one_job(tmp_path):
    out = tmp_path / "run"
    train = ["train", *QUICK, "--epochs", "1", "--out", str(out)]
    assert CliRunner().invoke(main, [*train, "--defence", "standard"]).exit_code == 0
    before = (out / "report.json").read_bytes()
    model = str(out / "standard" / "model.pt")
    for command, named in [([*train, "--defence", "gr"], "defences[0]: 'standard' → 'gr'"),
                           ([*train, "--defence", "standard", "--defence", "gr"], "defences"),
                           (["evaluate", model, "--attack", "fgsm", "--no-curve", "--no-geometry", "--quiet",
                             "--eval-samples", "10", "--out", str(out)], "command train (defences standard)"),
                           (["compare", "--defence", "standard", "--attack", "fgsm", "--no-alignment",
                             "--no-diagnostics", "--quiet", "--device", "cpu", "--train-samples", "200",
                             "--eval-samples", "20", "--epochs", "1", "--out", str(out)], "not of compare")]:
        refused = CliRunner().invoke(main, command)
        assert refused.exit_code == 1 and named in refused.output and "--overwrite" in refused.output, refused.output
        assert (out / "report.json").read_bytes() == before
    # An evaluation's folder is not a training's either; --overwrite replaces the other job.
    evaluation = tmp_path / "evaluation"
    assert CliRunner().invoke(main, ["evaluate", model, "--attack", "fgsm", "--no-curve", "--no-geometry", "--quiet",
                                     "--eval-samples", "10", "--out", str(evaluation)]).exit_code == 0
    refused = CliRunner().invoke(main, [*train[:-1], str(evaluation), "--defence", "standard"])
    assert refused.exit_code == 1 and "command evaluate, not of train" in refused.output, refused.output
    replaced = CliRunner().invoke(main, [*train, "--defence", "gr", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["gr"]
    assert [row["training"]["defence"] for row in report(out)] == ["gr"]


def test_refusals_of_the_run_loop_come_as_one_line(digits, tmp_path):
    # An interrupted run of another defence in the folder: a run mismatch, not a trainer's ValueError.
    train_defence("standard", digits, THREAT, SMALL, tmp_path / "run", verbose=False)
    (tmp_path / "run" / "model.pt").unlink()
    with pytest.raises(RunMismatchError, match=r"holds an interrupted run that is not this one.*Overwrite it"):
        train_defence("sor", digits, THREAT, SMALL, tmp_path / "run", verbose=False)
    # A best-robust run whose best epoch was lost cannot choose one: said before any work.
    best = replace(SMALL, select="best-robust", validation_samples=50)
    train_defence("standard", digits, THREAT, best, tmp_path / "best", verbose=False)
    for name in ("model.pt", "best_robust.pt"):
        (tmp_path / "best" / name).unlink()
    with pytest.raises(FileNotFoundError, match=r"best_robust\.pt is missing"):
        train_defence("standard", digits, THREAT, best, tmp_path / "best", verbose=False)
    budget = CliRunner().invoke(main, ["compare", "--defence", "standard", "--attack", "fgsm", "--no-alignment",
                                       "--no-diagnostics", "--budget-of", "fbf:1", "--norm", "l2", "--eps", "0.5",
                                       "--quiet", "--device", "cpu", "--out", str(tmp_path / "compare")])
    assert budget.exit_code == 2 and "Invalid value for --budget-of" in budget.output, budget.output
    assert not (tmp_path / "compare" / "budget-reference").exists()
    gamma = CliRunner().invoke(main, ["train", *QUICK, "--optimizer", "sgd", "--schedule", "multistep",
                                      "--milestones", "1", "--gamma", "1e308", "--out", str(tmp_path / "gamma")])
    assert gamma.exit_code == 2 and "Invalid value for --gamma" in gamma.output, gamma.output


def test_budgeted_run_is_reused_only_where_the_cap_allows(digits, tmp_path):
    def train(epochs: int, budget: Budget) -> int:
        setup = replace(SMALL, epochs=epochs)
        return len(train_defence("standard", digits, THREAT, setup, tmp_path / "run", verbose=False,
                                 budget=budget).history)

    ample = Budget(1e9, "cpu")  # never reached: the cap stops the run
    assert train(2, ample) == 2
    assert train(3, ample) == 3  # the cap was raised before the budget was reached: extended
    with pytest.raises(RunMismatchError, match=r"setup\.epochs: 3 → 2"):
        train(2, ample)  # the run went past today's cap
    (tmp_path / "run").rename(tmp_path / "old")  # another budget is another key
    tiny = Budget(1e-9, "cpu")  # reached after the first epoch
    assert train(4, tiny) == 1
    assert train(9, tiny) == 1  # reached its budget within both caps: reused


@pytest.mark.parametrize("change,key", [(["--eps", "0.05"], "threat.eps"), (["--lr", "0.01"], "setup.optimizer.lr"),
                                        (["--seed", "3"], "setup.seed"),
                                        (["--defence", "sor:lam=2"], "defence.config.lam")])
def test_rerun_with_other_settings_is_refused_or_overwritten(tmp_path, change, key):
    out = str(tmp_path / "run")
    first = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "1", "--defence", "sor", "--out", out])
    assert first.exit_code == 0, first.output
    args = ["train", *QUICK, "--epochs", "1", "--out", out, *change]
    if change[0] != "--defence":
        args += ["--defence", "sor"]
    else:  # another spec is another folder: same-named folders are what must not be confused
        (tmp_path / "run" / "sor").rename(tmp_path / "run" / "sor_lam_2")
        (tmp_path / "run" / "job.json").unlink()  # past the folder's job (another defence set): the run's key
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and key in refused.output and "--overwrite" in refused.output, refused.output
    replaced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    run = report(tmp_path / "run")[0]["training"]["run"]
    section, *path = key.split(".")
    value = run[section]
    for part in path:
        value = value[part]
    assert str(value) in " ".join(change) or value == pytest.approx(float(change[1].split("=")[-1]))


def test_interrupted_run_with_other_settings_is_not_resumed(digits, tmp_path):
    train_defence("sor", digits, THREAT, SMALL, tmp_path, verbose=False)
    (tmp_path / "model.pt").unlink()  # as if killed after its last epoch was saved
    with pytest.raises(ValueError, match=r"tags.run.setup.seed: 0 → 1"):
        train_defence("sor", digits, THREAT, replace(SMALL, seed=1), tmp_path, verbose=False)
    with pytest.raises(ValueError, match=r"config.eps: 0.2 → 0.1"):
        train_defence("sor", digits, ThreatModel(0.1, "inf"), SMALL, tmp_path, verbose=False)


def test_evaluation_cache_is_keyed_on_the_model(digits, tmp_path):
    # A cache written for one model is planted where another model's evaluation will look: it must be
    # recomputed (and rewritten under the new key), not reported. No --overwrite, which would delete it first.
    runner = CliRunner()
    args = ["train", *QUICK, "--epochs", "1", "--defence", "standard"]
    assert runner.invoke(main, [*args, "--out", str(tmp_path / "first")]).exit_code == 0
    planted = tmp_path / "second" / "standard" / QUICK_FILE
    planted.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "first" / "standard" / QUICK_FILE, planted)
    assert read_checked_json(planted)["key"]["model"]["setup"]["seed"] == 0
    result = runner.invoke(main, [*args, "--seed", "1", "--out", str(tmp_path / "second")])
    assert result.exit_code == 0, result.output
    cache = read_checked_json(planted)
    assert cache["key"]["model"]["setup"]["seed"] == 1
    second = report(tmp_path / "second")[0]
    assert second["training"]["run"]["setup"]["seed"] == 1
    classifier, _ = load_classifier(tmp_path / "second" / "standard" / "model.pt", device="cpu")
    clean = float(np.mean(classifier.predict(digits.x_test).argmax(axis=1) == digits.y_test))
    assert second["clean_accuracy"] == pytest.approx(clean) == cache["result"]["clean_accuracy"]
    # The control: under the same key the cache is reused, so the test above would catch a reuse.
    written = planted.stat().st_mtime_ns
    again = runner.invoke(main, [*args, "--seed", "1", "--out", str(tmp_path / "second")])
    assert again.exit_code == 0 and planted.stat().st_mtime_ns == written
    assert report(tmp_path / "second")[0]["clean_accuracy"] == second["clean_accuracy"]


# ---- repeatable defences, resume after kill -9 ----

DEFENCES_TO_REPEAT = ["standard", "sor", "gr", "cure", "llr", "pgd-at:steps=2", "fgsm-rs", "madry-pgd:steps=2",
                      "trades:steps=2", "fbf", "awp:steps=2"]


def weights(classifier) -> torch.Tensor:
    return torch.cat([v.detach().flatten().double() for v in classifier.model.state_dict().values()])


@pytest.mark.parametrize("spec", DEFENCES_TO_REPEAT)
def test_same_seed_gives_identical_weights(digits, spec):
    setup = TrainingSetup(epochs=1, batch_size=50, train_samples=150, device="cpu")
    first, second = (train_defence(spec, digits, THREAT, setup, verbose=False) for _ in range(2))
    torch.testing.assert_close(weights(first.classifier), weights(second.classifier), rtol=0, atol=0)


KILLABLE = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from art_sor.core.threat import ThreatModel
    from art_sor.data.bundled import load_digits
    from art_sor.runs.training_setup import TrainingSetup
    from art_sor.runs.training import train_defence
    setup = TrainingSetup(epochs=3, batch_size=50, train_samples=400, device="cpu")
    train_defence(sys.argv[1], load_digits(), ThreatModel(0.2, "inf"), setup, sys.argv[2], verbose=False)
""")


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["sor", "madry-pgd:steps=3", "trades:steps=2"])
def test_kill_mid_epoch_then_resume_is_bit_identical(digits, tmp_path, spec):
    folder = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", KILLABLE, spec, str(folder)])
    state = folder / STATE_FILE
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)  # in the second epoch, or saving the first
    child.wait()
    assert state.exists() and not (folder / "model.pt").exists()
    torch.set_num_threads(1)
    try:
        setup = TrainingSetup(epochs=3, batch_size=50, train_samples=400, device="cpu")
        resumed = train_defence(spec, digits, THREAT, setup, folder, verbose=False)
        straight = train_defence(spec, digits, THREAT, setup, tmp_path / "straight", verbose=False)
    finally:
        torch.set_num_threads(2)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    torch.testing.assert_close(weights(resumed.classifier), weights(straight.classifier), rtol=0, atol=0)


# ---- one process per folder, and checksummed files ----

@pytest.mark.slow
def test_second_process_on_one_folder_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom art_sor.runs.folders import exclusive\n"
                               "with exclusive(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(30)\n",
                               str(tmp_path)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    try:
        with pytest.raises(FolderError, match="another art-sor process"), exclusive(tmp_path):
            pass
        result = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "1", "--out", str(tmp_path)])
        assert result.exit_code == 1 and "another art-sor process" in result.output
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path):
        pass


@pytest.mark.parametrize("target", ["model.pt", STATE_FILE])
def test_bit_flips_are_refused(digits, tmp_path, target):
    train_defence("standard", digits, THREAT, SMALL, tmp_path, verbose=False)
    if target == STATE_FILE:
        (tmp_path / "model.pt").unlink()
    path = tmp_path / target
    state = torch.load(path, weights_only=True)
    key = "model" if target == STATE_FILE else "state_dict"
    name = next(iter(state[key]))
    state[key][name].view(-1)[0] += 1e-3  # one flipped value, checksum left as it was
    torch.save(state, path)
    with pytest.raises(CorruptFileError, match="checksum"):
        train_defence("standard", digits, THREAT, SMALL, tmp_path, verbose=False)
    path.write_bytes(path.read_bytes()[:200])  # a truncated copy
    with pytest.raises(CorruptFileError, match="cannot be read"):
        train_defence("standard", digits, THREAT, SMALL, tmp_path, verbose=False)


# ---- plans and cached evaluations ----

def test_equal_epoch_comparisons_measure_the_clock_asked_for():
    evaluation = EvaluationPlan(THREAT, attacks=("pgd",))
    assert ComparisonPlan(SMALL, evaluation, clock="cpu").timing_clock == "cpu"
    assert ComparisonPlan(SMALL, evaluation).timing_clock == "wall"
    assert replace(ComparisonPlan(SMALL, evaluation), budget=Budget(5.0, "cpu")).timing_clock == "cpu"
    with pytest.raises(ValueError, match="budget is measured in 'cpu'"):
        ComparisonPlan(SMALL, evaluation, budget=Budget(5.0, "cpu"), clock="wall")


def test_a_cached_evaluation_without_its_checksum_is_refused(tmp_path):
    # Deleting the checksum key along with an edit must not pass: a file without a checksum is refused.
    from art_sor.runs.reuse import stored_evaluation
    from art_sor.storage import CHECKSUM_KEY, CorruptFileError, write_checked_json

    key = {"model": {"spec": "sor"}, "plan": {"samples": 60}}
    path = write_checked_json(tmp_path / "evaluation.json", {"key": key, "result": {"accuracy": 0.624}})
    assert stored_evaluation(path, key)["result"]["accuracy"] == 0.624
    payload = json.loads(path.read_text())
    del payload[CHECKSUM_KEY]
    payload["result"]["accuracy"] = 0.669
    path.write_text(json.dumps(payload))
    with pytest.raises(CorruptFileError, match=r"carries no checksum.*delete the file and run what wrote it again"):
        stored_evaluation(path, key)
