"""The ``art-sor`` command line: each command parses its options and calls one library function."""

import logging
import os
import sys
import traceback

import click
import torch

from art_sor import __version__
from art_sor.cli.compare import compare
from art_sor.cli.evaluate import evaluate
from art_sor.cli.explain import explain
from art_sor.cli.listing import list_entries, recipes
from art_sor.cli.train import train
from art_sor.trainers.distributed import init_from_environment


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="art-sor")
@click.option("--log-level", type=click.Choice(["WARNING", "INFO", "DEBUG"]), default="WARNING", show_default=True,
              help="Logging level of art-sor and ART.")
@click.option("--threads", type=click.IntRange(min=1), default=None, envvar="ART_SOR_THREADS",
              help="CPU threads of torch's operations [default: torch's, one per physical core]. On a machine that "
                   "other jobs share, 1 avoids oversubscription, which can make CPU training many times slower.")
def main(log_level: str, threads: int | None) -> None:
    """Second-order regularization (SOR) for adversarial robustness, on top of ART.

    Under torchrun (WORLD_SIZE > 1) every command trains data-parallel; rank 0 alone writes and prints.
    """
    logging.basicConfig(level=getattr(logging, log_level), format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        torch.set_num_threads(threads)
    if not init_from_environment().leader:
        # The other ranks train in step with rank 0 and stay silent (progress bars and messages included), so the
        # terminal shows one job; a crash still prints its traceback on the real stderr.
        logging.disable(logging.WARNING)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        sys.excepthook = lambda kind, error, trace: traceback.print_exception(kind, error, trace, file=sys.__stderr__)


for command in (train, evaluate, compare, explain, list_entries, recipes):
    main.add_command(command)
