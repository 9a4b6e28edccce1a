"""Setting errors: the library names arguments, the command line maps each to its option in one place."""

from __future__ import annotations

import ast
import pathlib
import re

import click
import pytest
from click.testing import CliRunner

import art_sor
from art_sor.cli import main
from art_sor.cli.evaluate import evaluate
from art_sor.cli.params import option_error, option_of
from art_sor.cli.train import train
from art_sor.core.errors import SettingError, SettingTypeError

PACKAGE = pathlib.Path(art_sor.__file__).parent
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
