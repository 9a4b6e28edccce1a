"""``art-sor --help`` and ``--version`` start without torch and ART, and list each command's own summary."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from art_sor.cli import COMMANDS, main

PROBE = """
import sys
from art_sor.cli import main
try:
    main([{arguments}])
except SystemExit as stop:
    assert stop.code == 0, stop.code
heavy = sorted(name for name in ("torch", "art", "numpy", "matplotlib") if name in sys.modules)
print(",".join(heavy) or "none")
"""


@pytest.mark.parametrize("arguments", ['"--help"', '"--version"', '"-h"'])
def test_help_and_version_import_neither_torch_nor_art(arguments: str) -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE.format(arguments=arguments)], capture_output=True, text=True,
                           check=True)
    assert probe.stdout.strip().splitlines()[-1] == "none"


def test_listed_summaries_are_the_commands_own() -> None:
    context = click.Context(main)
    for name, (_, _, summary) in COMMANDS.items():
        assert main.get_command(context, name).get_short_help_str(limit=10 ** 6) == summary, name


def test_every_command_is_listed_and_an_unknown_one_is_refused() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
    unknown = CliRunner().invoke(main, ["trian"])
    assert unknown.exit_code == 2 and "No such command 'trian'" in unknown.output
