"""Setting errors: the library names arguments, the command line maps each to its option in one place, and every
refusal comes before any work, as one line."""

from __future__ import annotations

import ast
import os
import pathlib
import re

import click
import pytest
import torch
from click.testing import CliRunner

import art_sor
from art_sor.cli import main
from art_sor.cli.errors import user_errors
from art_sor.cli.evaluate import evaluate
from art_sor.cli.params import option_error, option_of
from art_sor.cli.train import train
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.threat import ThreatModel
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup

PACKAGE = pathlib.Path(art_sor.__file__).parent
QUICK = ["--eval-samples", "20", "--attack-steps", "2", "--quiet", "--device", "cpu", "--train-samples", "200"]
THREAT = ThreatModel(0.2, "inf")
SMALL = TrainingSetup(epochs=2, batch_size=50, train_samples=200, device="cpu")
FLAG = re.compile(r"(?:^|[\s(`'\"])--[a-z]")


def raised_texts(path: pathlib.Path) -> list[tuple[int, str]]:
    """The string parts of every exception a module raises, with their line."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            texts += [(part.lineno, part.value) for part in ast.walk(node.exc)
                      if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    return texts


def test_no_library_message_names_a_command_line_flag():
    flagged = [f"{path.relative_to(PACKAGE)}:{line}: {text}" for path in sorted(PACKAGE.rglob("*.py"))
               if "cli" not in path.relative_to(PACKAGE).parts for line, text in raised_texts(path)
               if FLAG.search(text)]
    assert not flagged, "\n".join(flagged)
    assert FLAG.search("pass --architecture") and not FLAG.search("x-->y")


def test_a_setting_maps_to_the_option_of_the_current_command():
    with click.Context(train):
        assert option_of("batch_size") == "--batch-size" and option_of("micro_batch_size") == "--micro-batch-size"
        assert option_of("defences") == "--defence" and option_of("root") == "--data-root"
        assert option_of("steps") is None  # a spec's key, not an option of train
        error = option_error(SettingError("lr must be a finite number > 0, got 0", "lr"))
        assert error.param_hint == "--lr" and error.message.startswith("lr must")
        assert option_error(ValueError("lr must be a finite number > 0")).param_hint is None  # no message parsing
    with click.Context(evaluate):
        assert option_of("source") == "CHECKPOINT" and option_of("standardisation") == "--mean"


def test_a_setting_type_error_is_a_type_error_and_a_setting_error():
    with pytest.raises(TypeError) as caught:
        raise SettingTypeError("amp must be True or False, got 'no'", "amp")
    assert isinstance(caught.value, SettingError) and isinstance(caught.value, ValueError)
    assert caught.value.setting == "amp"


@pytest.mark.parametrize(("flags", "option"), [(["--augment"], "--augment"), (["--workers", "1"], "--workers")])
def test_a_per_sample_trainer_on_streamed_batches_is_refused_before_work(tmp_path, flags, option):
    # sor-memory keeps a δ per training sample; augmented or worker-loaded runs stream batches without indices.
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["train", "--defence", "sor-memory", *flags, "--epochs", "1", "--quiet",
                                       "--out", str(out)])
    assert result.exit_code == 2 and f"Invalid value for {option}" in result.output, result.output
    assert "per training sample" in result.output
    assert not (out / "sor-memory").exists()


def test_the_cli_blames_a_model_without_parameters_on_the_architecture_not_the_optimizer(user_modules, tmp_path):
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--train-samples", "100", "--quiet", "--device",
                                       "cpu", "--out", str(tmp_path / "out"), "--architecture",
                                       "ft_models:no_parameters"])
    assert result.exit_code == 2 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "Invalid value for --architecture" in result.output and "no trainable parameters" in result.output
    assert "--optimizer" not in result.output


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
