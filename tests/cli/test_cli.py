"""The art-sor command line, run in-process with Click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.runs.recipes import builtin_recipes, recipe_for

QUICK = ["--epochs", "2", "--eval-samples", "50", "--attack-steps", "3", "--quiet", "--device", "cpu"]


def test_train_writes_models_and_report(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", *QUICK, "--defence", "standard", "--defence", "sor:iterations=2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    rows = report["results"]
    assert [row["training"]["defence"] for row in rows] == ["standard", "sor:iterations=2"]
    for row in rows:
        assert 0 <= row["clean_accuracy"] <= 1
        assert row["training"]["epochs"] == 2 and row["training"]["run"]["threat"] == {"eps": 0.2, "norm": "inf"}
    assert (out / "standard" / "model.pt").exists()
    assert (out / "sor_iterations_2" / "model.pt").exists()
    assert (out / "sor_iterations_2" / "training_state.pt").exists()
    assert "PGD-3" in result.output and "sor:iterations=2" in result.output

    # A rerun with the same settings reuses the finished models rather than training again.
    again = CliRunner().invoke(main, ["train", *QUICK, "--defence", "standard", "--defence", "sor:iterations=2",
                                      "--out", str(out)])
    assert again.exit_code == 0, again.output
    rerun = json.loads((out / "report.json").read_text())["results"]
    assert [row["training"] for row in rerun] == [row["training"] for row in rows]
    # A rerun with part of the defences would replace the report with part of it: the folder holds the first job.
    part = CliRunner().invoke(main, ["train", *QUICK, "--defence", "standard", "--out", str(out)])
    assert part.exit_code == 1 and "--overwrite" in part.output, part.output


def test_the_spellings_of_before_0_3_are_unknown_options(tmp_path):
    for args, option in ((["train", "--method", "standard"], "--method"),
                         (["evaluate", "model.pt", "--samples", "30"], "--samples")):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
        assert result.exit_code == 2 and f"No such option {option!r}" in result.output, result.output
    listed = CliRunner().invoke(main, ["list", "architectures"])
    assert listed.exit_code == 0 and "resnet18" in listed.output and "cifar-resnet18" not in listed.output


def test_train_rejects_unknown_method_and_option(tmp_path):
    result = CliRunner().invoke(main, ["train", "--defence", "magic", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code != 0 and "unknown defence 'magic'" in result.output and "--defence" in result.output
    result = CliRunner().invoke(main, ["train", "--defence", "sor:colour=blue", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code != 0 and "colour" in result.output


def test_train_rejects_bad_eps(tmp_path):
    result = CliRunner().invoke(main, ["train", "--eps", "-1", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--eps" in result.output


def test_version_help_and_lists():
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).exit_code == 0
    help_text = runner.invoke(main, ["train", "--help"]).output
    assert "--defence" in help_text and "--eps" in help_text and "--optimizer" in help_text
    listing = runner.invoke(main, ["list"]).output
    for name in ("cifar10", "preact-resnet18", "autoattack-standard", "pgd-at", "paper-cifar10-linf"):
        assert name in listing, name
    recipes = runner.invoke(main, ["recipes"]).output
    assert "paper-cifar10-linf" in recipes and "paper-svhn-linf" in recipes
    shown = runner.invoke(main, ["recipes", "paper-cifar10-linf"]).output
    paper = builtin_recipes()["paper-cifar10-linf"]
    assert f"eps           {paper.values['eps']!r}" in shown and "not measured by art-sor" in shown
    assert str(paper.paper["pgd20_accuracy"]) in shown


@pytest.mark.parametrize(("body", "message"), [
    ("epochs = 1.9", "key epochs: expected an integer, got 1.9"),
    ("seed = 1.9", "key seed: expected an integer"),
    ("batch_size = 64.7", "key batch_size: expected an integer"),
    ("lr = true", "key lr: expected a number, got the boolean"),
    ("eps = true", "key eps: expected a number, got the boolean"),
    ("standardise = 1", "key standardise: expected true or false"),
    ("milestones = [1, 2.5]", "key milestones: expected a list of ints"),
    ("budget = 10", "art-sor train takes no key budget; its keys are"),
    ("seeds = [0, 1]", "art-sor train takes no key seeds"),
    ("[recipe]\nepochs = 2", "art-sor train takes no key recipe"),
])
def test_recipes_neither_coerce_nor_ignore(tmp_path, body, message):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(body + "\n")
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out" / "standard").exists()


def test_compare_recipes_may_set_compare_keys():
    from art_sor.cli.compare import compare
    from art_sor.cli.params import _recipe_type_problem

    parameters = {param.name: param for param in compare.params}
    assert _recipe_type_problem(parameters["seeds"], [0, 1]) is None
    assert _recipe_type_problem(parameters["budget"], 1.5) is None
    assert _recipe_type_problem(parameters["clock"], "cpu") is None
    assert "expected a string" in _recipe_type_problem(parameters["clock"], 3)


@pytest.mark.parametrize(("args", "option"), [
    (["--momentum", "0.5"], "--momentum"),
    (["--milestones", "2,3"], "--milestones"),
    (["--gamma", "0.5", "--schedule", "cosine"], "--gamma"),
    (["--validation-samples", "10"], "--validation-samples"),
    (["--micro-batch-size", "64"], "--micro-batch-size"),
    (["--micro-batch-size", "100"], "--micro-batch-size"),
    (["--defence", "sor:hvp=exact,h=0.5"], "--defence"),
    (["--batch-norm", "eval"], "--batch-norm"),
    (["--defence", "gr:h=0.5"], "--defence"),
])
def test_settings_without_effect_are_refused(tmp_path, args, option):
    result = CliRunner().invoke(main, ["train", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in result.output and "no effect" in result.output


def test_compare_refuses_seed_and_points_to_seeds(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--seed", "5", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--seeds 5" in result.output


def test_more_training_samples_than_the_dataset_has_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["train", "--train-samples", "5000", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Invalid value for --train-samples" in result.output and "1347 training images" in result.output
    result = CliRunner().invoke(main, ["train", "--train-samples", "1000", "--select", "best-robust",
                                       "--validation-samples", "500", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "847 training images" in result.output and "holding out" in result.output


@pytest.mark.parametrize(("args", "option"), [
    (["--micro-batch-size", "1"], "--micro-batch-size"),  # was not refused; torch failed in the first epoch
    (["--batch-size", "63"], "--batch-size"),  # 64 samples: a last batch of one
])
def test_batches_of_one_under_batch_norm_name_their_option_before_training(tmp_path, args, option):
    result = CliRunner().invoke(main, ["train", "--architecture", "resnet18", "--train-samples", "64",
                                       "--batch-size", "32", "--epochs", "1", "--device", "cpu", *args,
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output and "of one sample" in result.output
    assert "BatchNorm2d" in result.output and not list((tmp_path / "out").rglob("*.pt"))


def test_threads_option_sets_torchs_threads(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(main, ["--threads", "1", "list", "defences"])
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1 and "n-fgsm" in result.output
    finally:
        torch.set_num_threads(before)


def test_threads_refusals_name_their_source_and_place(monkeypatch):
    import os

    cpus = os.cpu_count() or 1
    for value, message in [("abc", "ART_SOR_THREADS=abc is not a whole number"),
                           ("0", f"ART_SOR_THREADS=0 must lie between 1 and this machine's {cpus} logical CPUs")]:
        monkeypatch.setenv("ART_SOR_THREADS", value)
        result = CliRunner().invoke(main, ["list", "defences"])
        assert result.exit_code == 2 and message in result.output, result.output
    monkeypatch.delenv("ART_SOR_THREADS")
    too_many = CliRunner().invoke(main, ["--threads", str(cpus + 1), "list", "defences"])
    assert too_many.exit_code == 2 and f"'{cpus + 1}' must lie between 1" in too_many.output, too_many.output
    after = CliRunner().invoke(main, ["list", "defences", "--threads", "1"])
    assert after.exit_code == 2 and "goes before the command, as in art-sor --threads ... list" in after.output


def test_an_interrupt_says_what_was_saved_and_how_to_resume(monkeypatch, tmp_path):
    import importlib

    train_command = importlib.import_module("art_sor.cli.train")
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "training_job", interrupted)
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "Every finished epoch" in result.output and "run the same command again to resume" in result.output


def test_help_shows_the_defaults_that_apply():
    # Without --dataset or --recipe the digits recipe sets epochs and batch size, not the options' own 3 and 128.
    help_text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    digits = recipe_for("digits").values
    assert f"[default: ({digits['epochs']} from recipe digits); x>=1]" in help_text
    assert f"[default: ({digits['batch_size']} from recipe digits); x>=1]" in help_text
    assert "default: 3;" not in help_text and "default: 128;" not in help_text


def test_regenerate_line_keeps_the_pythonpath_a_user_architecture_needs(monkeypatch):
    from art_sor.cli.jobs import command_line

    monkeypatch.setattr("sys.argv", ["art-sor", "train", "--architecture", "my_model:build", "--eps", "8/255"])
    monkeypatch.setenv("PYTHONPATH", ".")
    assert command_line() == "PYTHONPATH=. art-sor train --architecture my_model:build --eps 8/255"
    monkeypatch.setattr("sys.argv", ["art-sor", "train", "--architecture", "small-cnn"])
    assert command_line() == "art-sor train --architecture small-cnn"


def test_regenerate_line_keeps_torchrun_and_mlflows_file_store_setting(monkeypatch):
    from art_sor.cli.jobs import command_line

    monkeypatch.setattr("sys.argv", ["/x/art_sor/cli/__main__.py", "train", "--mlflow", "--epochs", "2"])
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert command_line() == ("MLFLOW_ALLOW_FILE_STORE=true torchrun --standalone --nproc-per-node 2 -m art_sor.cli "
                              "train --mlflow --epochs 2")
    monkeypatch.setattr("sys.argv", ["art-sor", "train", "--epochs", "2"])
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert command_line() == "art-sor train --epochs 2"  # no MLflow, no prefix
