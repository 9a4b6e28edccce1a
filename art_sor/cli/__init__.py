"""The ``art-sor`` command line: each command parses its options and calls one library function."""

import logging

import click

from art_sor import __version__
from art_sor.cli.compare import compare
from art_sor.cli.evaluate import evaluate
from art_sor.cli.explain import explain
from art_sor.cli.listing import list_entries, recipes
from art_sor.cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="art-sor")
@click.option("--log-level", type=click.Choice(["WARNING", "INFO", "DEBUG"]), default="WARNING", show_default=True,
              help="Logging level of art-sor and ART.")
def main(log_level: str) -> None:
    """Second-order regularization (SOR) for adversarial robustness, on top of ART."""
    logging.basicConfig(level=getattr(logging, log_level), format="%(levelname)s %(name)s: %(message)s")


for command in (train, evaluate, compare, explain, list_entries, recipes):
    main.add_command(command)
