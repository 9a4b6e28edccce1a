"""Trustworthy runs: no result from other settings, repeatable defences, integrity, concurrency, early errors."""

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

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import digits_cnn, make_classifier
from torch import nn

from art_sor import SORTrainer, StandardTrainer
from art_sor.classifiers.checkpoints import load_classifier
from art_sor.cli import main
from art_sor.cli.errors import user_errors
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.full_evaluation import curve_attack
from art_sor.evaluation.robustness import AttackResult, RobustnessResult
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.folders import FolderError, exclusive
from art_sor.runs.plans import ComparisonPlan, EvaluationPlan
from art_sor.runs.run_key import RunMismatchError
from art_sor.runs.training import train_defence
from art_sor.runs.training_job import QUICK_FILE
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import CorruptFileError, load_checked, read_checked_json, save_checked
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


def test_resume_with_another_learning_rate_is_refused(small_digits, tmp_path):
    x, y, _, _ = small_digits
    SORTrainer(make_classifier(digits_cnn(), (1, 8, 8), lr=0.01), eps=0.1).fit(x, y, nb_epochs=1, verbose=False,
                                                                             checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="optimizer"):
        SORTrainer(make_classifier(digits_cnn(), (1, 8, 8), lr=0.1), eps=0.1).fit(
            x, y, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path, resume=True)


def test_numpy_scalar_eps_is_stored_plainly_and_resumes(small_digits, tmp_path):
    x, y, _, _ = small_digits
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), eps=np.float64(0.1))
    assert type(trainer.regularizer.eps) is float
    trainer.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path)
    again = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), eps=np.float64(0.1))
    assert len(again.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path, resume=True)) == 1


def test_second_fit_with_the_same_total_warns(small_digits):
    x, y, _, _ = small_digits
    trainer = StandardTrainer(make_classifier(digits_cnn(), (1, 8, 8)))
    trainer.fit(x, y, nb_epochs=2, verbose=False)
    with pytest.warns(UserWarning, match="nb_epochs=4 for 2 more"):
        assert len(trainer.fit(x, y, nb_epochs=2, verbose=False)) == 2
    assert len(trainer.fit(x, y, nb_epochs=4, verbose=False)) == 4


# ---- integrity and concurrency ----

WRITER = textwrap.dedent("""
    import sys, torch
    from art_sor.storage import save_checked
    for i in range(40):
        save_checked(sys.argv[1], {"value": torch.full((1000,), float(sys.argv[2])), "i": i})
""")


@pytest.mark.slow
def test_concurrent_writers_never_collide_or_tear(tmp_path):
    path = tmp_path / "state.pt"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(k)], stderr=subprocess.PIPE)
               for k in (1, 2)]
    errors = [w.communicate()[1].decode() for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    state = load_checked(path)
    assert state["value"].unique().numel() == 1
    assert not list(tmp_path.glob("*.tmp"))


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


def test_unwritable_output_is_detected_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "1", "--out", str(blocker / "out")])
    assert result.exit_code == 2 and "--out" in result.output and "cannot write" in result.output
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        result = CliRunner().invoke(main, ["train", *QUICK, "--epochs", "1", "--out", str(locked / "out")])
        assert result.exit_code == 2 and "--out" in result.output


def test_save_is_atomic_under_a_unique_name(tmp_path):
    save_checked(tmp_path / "a.pt", {"x": torch.zeros(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


# ---- validation before any work ----

@pytest.mark.parametrize("args,option,message", [
    (["--defence", ".."], "--defence", "name must start"),
    (["--defence", "a/b"], "--defence", "name must start"),
    (["--defence", "sor:lam=1_5"], "--defence", "lam"),
    (["--defence", "sor", "--defence", "sor"], "--defence", "more than once"),
    (["--lr", "nan"], "--lr", "not a number"),
    (["--lr", "0"], "--lr", "> 0"),
    (["--lr", "-1"], "--lr", "> 0"),
    (["--seed", str(2 ** 40)], "--seed", "range"),
    (["--device", "cuda"], "--device", "CUDA"),
    (["--eps", "inf"], "--eps", "not a number"),
    (["--optimizer", "adam", "--nesterov"], "--nesterov", "nesterov"),
    (["--schedule", "multistep"], "--milestones", "needs milestones"),
    (["--architecture", "vgg99"], "--architecture", "unknown architecture"),
])
def test_train_options_are_checked_before_work(tmp_path, args, option, message):
    if option == "--device" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--out", str(out), "--quiet", *args])
    assert result.exit_code != 0 and option in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert not list(out.rglob("*.pt"))


def test_compare_checks_attacks_before_training(tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", "--defence", "standard", "--attack", "pgd", "--attack", "bim",
                                       "--epochs", "1", "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "--attack" in result.output and "unknown attack 'bim'" in result.output
    result = CliRunner().invoke(main, ["compare", "--defence", "standard", "--attack", "pgd:steps=0", "--epochs", "1",
                                       "--no-alignment", "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "--attack" in result.output and "steps" in result.output
    assert not list(out.rglob("*.pt"))


def test_amp_must_be_a_bool(digits_classifier):
    with pytest.raises(TypeError, match="amp"):
        SORTrainer(digits_classifier, eps=0.1, amp="no")


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"just some text\n", "cannot be read"),
                                             (None, "expects inputs of shape"), ("classes", "has 3 classes"),
                                             ("norm", "invalid threat model")])
def test_bad_checkpoints_are_one_clear_line(digits, tmp_path, content, message):
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        from conftest import architecture_classifier

        from art_sor.classifiers.checkpoints import save_classifier

        shape, classes = ((1, 28, 28), 10) if content is None else ((1, 8, 8), 3 if content == "classes" else 10)
        metadata = {"run": {"threat": {"eps": 0.1, "norm": "l7"}, "defence": {"spec": "sor"}}} if content == "norm" \
            else {}
        save_classifier(path, architecture_classifier("small-cnn", shape, classes), "small-cnn", metadata)
    for command in ("evaluate", "explain"):
        result = CliRunner().invoke(main, [command, str(path), "--out", str(tmp_path / command), "--quiet"])
        assert result.exit_code != 0 and message in result.output, (command, result.output)
        assert "Traceback" not in result.output


def test_attack_typo_in_evaluate_is_one_line(tmp_path, digits):
    trained = train_defence("standard", digits, THREAT, SMALL, tmp_path / "m", verbose=False)
    result = CliRunner().invoke(main, ["evaluate", str(trained.path), "--attack", "pgdd", "--quiet", "--out",
                                       str(tmp_path / "e")])
    assert result.exit_code == 2 and "unknown attack 'pgdd'" in result.output and "--attack" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["evaluate", "explain"])
def test_cuda_without_a_gpu_is_refused_before_loading(tmp_path, command):
    result = CliRunner().invoke(main, [command, str(tmp_path / "missing.pt"), "--device", "cuda"])
    assert result.exit_code == 2 and "--device" in result.output and "no CUDA device" in result.output


def test_diverged_training_is_one_line():
    @user_errors
    def diverging() -> None:
        raise FloatingPointError("sor: the training loss became nan; lower the learning rate")

    with pytest.raises(click.ClickException, match="lower the learning rate"):
        diverging()


def test_equal_epoch_comparisons_measure_the_clock_asked_for():
    evaluation = EvaluationPlan(THREAT, attacks=("pgd",))
    assert ComparisonPlan(SMALL, evaluation, clock="cpu").timing_clock == "cpu"
    assert ComparisonPlan(SMALL, evaluation).timing_clock == "wall"
    assert replace(ComparisonPlan(SMALL, evaluation), budget=Budget(5.0, "cpu")).timing_clock == "cpu"
    with pytest.raises(ValueError, match="budget is measured in 'cpu'"):
        ComparisonPlan(SMALL, evaluation, budget=Budget(5.0, "cpu"), clock="wall")


def test_black_box_only_evaluation_draws_its_curve_with_pgd():
    clean = np.ones(4, dtype=bool)
    square = AttackResult("Square", "square", "square", clean, white_box=False)
    assert curve_attack(RobustnessResult(THREAT, clean, [square])) == "pgd"
    pgd = AttackResult("PGD-50", "pgd:steps=50", "pgd", clean, strength=50)
    assert curve_attack(RobustnessResult(THREAT, clean, [square, pgd])) == "pgd:steps=50"


# ---- data sanity in the trainers ----

def test_data_outside_the_clip_values_is_refused(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    with pytest.raises(ValueError, match="outside the classifier's clip_values"):
        SORTrainer(digits_classifier, eps=0.1).fit(x * 255, y, nb_epochs=1, verbose=False)


class Wide(nn.Module):
    def __init__(self, width: int = 12, output: str = "tensor") -> None:
        super().__init__()
        self.fc, self.output = nn.Linear(64, width), output

    def forward(self, x: torch.Tensor):
        logits = self.fc(x.flatten(1))
        return {"tensor": logits, "tuple": (logits, logits), "dict": {"logits": logits}}[self.output]


@pytest.mark.parametrize("model,error,message", [
    (Wide(12), ValueError, r"outputs of shape \(12,\)"),
    (Wide(10, "tuple"), TypeError, "returns a tuple"),
    (Wide(10, "dict"), TypeError, "returns a dict"),
    (Wide(10).double(), TypeError, "x is float32 but the model's parameters are float64"),
])
def test_model_mistakes_fail_before_an_epoch(small_digits, model, error, message):
    x, y, _, _ = small_digits
    trainer = SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), eps=0.1)
    started = time.perf_counter()
    with pytest.raises(error, match=message):
        trainer.fit(x, y, nb_epochs=1, verbose=False)
    assert trainer.history == [] and time.perf_counter() - started < 5


def test_float64_data_for_a_float32_model_is_refused(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    with pytest.raises(TypeError, match="x is float64 but the model's parameters are float32"):
        SORTrainer(digits_classifier, eps=0.1).fit(x.astype(np.float64), y, nb_epochs=1, verbose=False)


def test_batchnorm1d_batch_of_one_is_refused(small_digits):
    x, y, _, _ = small_digits
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    trainer = SORTrainer(make_classifier(model, (1, 8, 8)), eps=0.1)
    with pytest.raises(ValueError, match=r"batch of one sample.*BatchNorm1d"):
        trainer.fit(x[:101], y[:101], batch_size=50, nb_epochs=1, verbose=False)


def test_written_files_follow_the_umask(tmp_path):
    import os

    from art_sor.storage import write_text

    previous = os.umask(0o022)
    try:
        assert (write_text(tmp_path / "a.txt", "x").stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (write_text(tmp_path / "b.txt", "x").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(previous)


def test_checksum_covers_every_field_not_only_tensors(tmp_path):
    import torch

    from art_sor.storage import CHECKSUM_KEY, CorruptFileError, load_checked, save_checked

    path = save_checked(tmp_path / "state.pt", {"model": {"w": torch.ones(2)}, "metadata": {"eps": 0.1,
                                                                                          "clip": [0.0, 1.0]}})
    assert load_checked(path)["metadata"]["eps"] == 0.1
    for field, value in (("eps", 0.2), ("clip", [0.0, 255.0])):
        state = torch.load(path, weights_only=True)
        state["metadata"][field] = value
        torch.save(state, tmp_path / "edited.pt")
        with pytest.raises(CorruptFileError, match="edited"):
            load_checked(tmp_path / "edited.pt")
    # art-sor before 0.3.0 wrote a checksum over the tensors only (no "all:" prefix): such a file is refused, and
    # the message says how to write it afresh.
    state = torch.load(path, weights_only=True)
    torch.save({**state, CHECKSUM_KEY: state[CHECKSUM_KEY].removeprefix("all:")}, tmp_path / "tensors_only.pt")
    with pytest.raises(CorruptFileError, match=r"covers its tensors only; .*run what wrote it again"):
        load_checked(tmp_path / "tensors_only.pt")


def test_an_edited_cached_evaluation_is_refused_not_reported(tmp_path):
    from art_sor.storage import CorruptFileError, read_checked_json, write_checked_json

    path = write_checked_json(tmp_path / "evaluation.json", {"key": {"plan": 1}, "result": {"accuracy": 0.624}})
    assert read_checked_json(path)["result"]["accuracy"] == 0.624
    path.write_text(path.read_text().replace("0.624", "0.669"))
    with pytest.raises(CorruptFileError, match="edited"):
        read_checked_json(path)


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
