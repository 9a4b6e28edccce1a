"""``art-sor list`` and ``art-sor recipes``: what is installed, one line each, and what a recipe sets and why."""

from __future__ import annotations

import inspect
import re

import click

from art_sor.cli.params import radii_text
from art_sor.registry import REGISTRIES
from art_sor.runs.recipes import builtin_recipes

KINDS = (*REGISTRIES, "recipes")


def _entries(kind: str) -> dict[str, str]:
    if kind == "recipes":
        return {name: recipe.description for name, recipe in builtin_recipes().items()}
    registry = REGISTRIES[kind]
    return {entry: registry.summary(entry) for entry in registry.names()}


def _plain(text: str) -> str:
    """A docstring's markup as plain text, first sentence only: ``x`` → x, :class:`~a.B` → B."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`]+)`", r"\1", text).replace("``", "")
    return re.split(r"(?<=[a-z0-9)])\. ", text, maxsplit=1)[0].rstrip(".")


def _option_lines(kind: str, name: str) -> list[str]:
    """``key=default  doc`` for each option of entry ``name``, from the signature the registry checks."""
    registry = REGISTRIES[kind]
    docs = registry.option_docs(name)
    cells = [(key if default is inspect.Parameter.empty else f"{key}={default}", _plain(docs[key]))
             for key, default in registry.options(name).items()]
    width = max((len(cell) for cell, _ in cells), default=0)
    return [f"{cell:<{width}}  {doc}".rstrip() for cell, doc in cells]


def _echo_entries(entries: dict[str, str]) -> None:
    width = max(map(len, entries))
    for entry, summary in entries.items():
        click.echo(f"  {entry:<{width}}  {summary}")


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS), required=False)
def list_entries(kind: str | None) -> None:
    """List the installed datasets, architectures, attacks and defences (and the built-in recipes), or one KIND.

    With KIND, each entry's options follow it, with their defaults: write them as NAME:KEY=VALUE,... (e.g.
    'pgd-at:steps=10'). A KEY without a default must be given.
    """
    for name in [kind] if kind else KINDS:
        click.echo(f"{name}:")
        if kind is None or kind == "recipes":
            _echo_entries(_entries(name))
            continue
        for entry, summary in _entries(name).items():
            click.echo(f"  {entry}  {summary}")
            for line in _option_lines(name, entry):
                click.echo(f"      {line}")
            if name == "datasets":
                click.echo(f"      standard radii: {radii_text(entry).partition(': ')[2]}")


@click.command()
@click.argument("name", type=click.Choice(list(builtin_recipes())), required=False)
def recipes(name: str | None) -> None:
    """List the built-in recipes, or show what recipe NAME sets and why.

    For NAME: each value with where it comes from, and the paper's figures for its setting. Use a recipe with
    --recipe NAME, or your own TOML file with --recipe PATH.
    """
    if name is None:
        _echo_entries(_entries("recipes"))
        return
    recipe = builtin_recipes()[name]
    click.echo(f"{name}: {recipe.description}")
    _echo_entries({key: f"{value!r}" + (f"  ({recipe.sources[key]})" if key in recipe.sources else "")
                   for key, value in recipe.values.items()})
    if recipe.paper:
        click.echo("the paper's figures (reported by the paper, not measured by art-sor):")
        _echo_entries({key: str(value) for key, value in recipe.paper.items()})
