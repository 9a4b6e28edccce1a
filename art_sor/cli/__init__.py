"""The ``art-sor`` command line: each command parses its options and calls one library function.

Commands are imported when they run, not when the program starts, so that ``art-sor --help`` and ``--version``
do not import torch and ART (seconds and hundreds of MB).
"""

import importlib
import logging
import os
import sys
import traceback

import click

from art_sor import __version__

# name: (module, attribute, the first sentence of the command's docstring, which ``art-sor --help`` lists
# without importing the command; tests/cli/test_cli_startup.py keeps the two equal).
COMMANDS = {
    "compare": ("art_sor.cli.compare", "compare", "Compare defences at equal epochs or equal compute, with the same "
                                                  "ART attacks and a per-sample worst case."),
    "evaluate": ("art_sor.cli.evaluate", "evaluate", "Evaluate CHECKPOINT under ART's attacks, with a security curve "
                                                     "and gradient-obfuscation diagnostics."),
    "export": ("art_sor.cli.export", "export", "Export an art-sor CHECKPOINT for use without art-sor, with how to load "
                                               "each file."),
    "explain": ("art_sor.cli.explain", "explain", "Explain test images with CHECKPOINT: SmoothGrad saliency and "
                                                  "large-ε targeted counterfactuals."),
    "list": ("art_sor.cli.listing", "list_entries", "List the installed datasets, architectures, attacks and "
                                                    "defences (and the built-in recipes), or one KIND."),
    "recipes": ("art_sor.cli.listing", "recipes", "List the built-in recipes, or show what recipe NAME sets and why."),
    "train": ("art_sor.cli.train", "train", "Train defences (standard and SOR by default) and compare them under "
                                            "a quick attack (PGD; L1-APGD in L1)."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The command names, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, imported on first use."""
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a global option given after it is refused with where it goes."""
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as error:
            if error.option_name in GLOBAL_OPTIONS and error.ctx is not None:
                error.message = (f"No such option {error.option_name!r} for {error.ctx.info_name}: it is an option "
                                 f"of art-sor itself and goes before the command, as in art-sor "
                                 f"{error.option_name} ... {error.ctx.info_name} ...")
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from the summaries above."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, click.utils.make_default_short_help(COMMANDS[name][2], limit))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


GLOBAL_OPTIONS = ("--threads", "--log-level")
THREADS_VARIABLE = "ART_SOR_THREADS"


class ThreadCount(click.ParamType):
    """A number of threads from 1 to the machine's logical CPUs; a bad value from the environment names it."""

    name = "integer"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The count, or a failure naming ``--threads`` or ``ART_SOR_THREADS``, whichever gave it."""
        source = ctx.get_parameter_source(param.name) if ctx is not None and param is not None else None
        given = (f"{THREADS_VARIABLE}={value}" if source is click.core.ParameterSource.ENVIRONMENT
                 else repr(value))
        cpus = os.cpu_count() or 1
        try:
            count = int(value)
        except (TypeError, ValueError):
            self.fail(f"{given} is not a whole number of threads", param, ctx)
        if not 1 <= count <= cpus:
            self.fail(f"{given} must lie between 1 and this machine's {cpus} logical CPUs", param, ctx)
        return count


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="art-sor")
@click.option("--log-level", type=click.Choice(["WARNING", "INFO", "DEBUG"]), default="WARNING", show_default=True,
              help="Logging level of art-sor and ART.")
@click.option("--threads", type=ThreadCount(), default=None, envvar=THREADS_VARIABLE,
              help="CPU threads of torch's operations [default: torch's, one per physical core]. On a machine that "
                   "other jobs share, 1 avoids oversubscription, which can make CPU training many times slower.")
def main(log_level: str, threads: int | None) -> None:
    """Second-order regularization (SOR) for adversarial robustness, on top of ART.

    Under torchrun (WORLD_SIZE > 1) every command trains data-parallel; rank 0 alone writes and prints.
    """
    import torch

    from art_sor.trainers.distributed import init_from_environment

    logging.basicConfig(level=getattr(logging, log_level), format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        torch.set_num_threads(threads)
    if not init_from_environment().leader:
        # The other ranks train in step with rank 0 and stay silent (progress bars and messages included), so the
        # terminal shows one job; a crash still prints its traceback on the real stderr.
        logging.disable(logging.WARNING)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        sys.excepthook = lambda kind, error, trace: traceback.print_exception(kind, error, trace, file=sys.__stderr__)
