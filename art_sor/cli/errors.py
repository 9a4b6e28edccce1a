"""User mistakes as one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

import click

from art_sor.cli.params import option_error, option_of
from art_sor.core.errors import SettingError
from art_sor.registry import RegistryError
from art_sor.runs.folders import FolderError
from art_sor.runs.recipes import RecipeError
from art_sor.runs.run_key import RunMismatchError
from art_sor.storage import CorruptFileError, DiskFullError

USER_ERRORS = (RegistryError, RunMismatchError, FolderError, CorruptFileError, RecipeError, FileNotFoundError,
               ImportError, FloatingPointError, DiskFullError)
"""Errors that describe the user's input or environment (a diverged run included: its settings are the user's);
their messages name what to change."""


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors raised by ``command`` into one line and a non-zero exit.

    A ``SettingError`` becomes a usage error naming its option (exit status 2); :data:`USER_ERRORS` become a
    ``click.ClickException`` (exit status 1).
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SettingError as error:
            raise option_error(error) from error
        except RunMismatchError as error:
            advice = "--overwrite, or another " if error.setting == "out" else "another "
            raise click.ClickException(f"{error} ({advice}{option_of(error.setting)})") from error
        except USER_ERRORS as error:
            raise click.ClickException(str(error)) from error
        except (URLError, ConnectionError, TimeoutError) as error:
            # --download without a network: torchvision and robustbench raise these from deep inside.
            reason = getattr(error, "reason", None) or error
            raise click.ClickException(f"a download failed ({reason}); check the network connection, or put the "
                                       "files where the data root or --model-dir says and drop --download") from error
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Every finished epoch (and every finished attack of an evaluation) is saved in "
                       "the output folder; run the same command again to resume from there.", err=True)
            raise SystemExit(130) from None

    return run
