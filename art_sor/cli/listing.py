"""``art-sor list`` and ``art-sor recipes``: what is installed, one line each, and what a recipe sets and why."""

from __future__ import annotations

import click

from art_sor.registry import REGISTRIES
from art_sor.runs.recipes import builtin_recipes

KINDS = (*REGISTRIES, "recipes")


def _entries(kind: str) -> dict[str, str]:
    if kind == "recipes":
        return {name: recipe.description for name, recipe in builtin_recipes().items()}
    registry = REGISTRIES[kind]
    return {entry: registry.summary(entry) for entry in registry.names()}


def _echo_entries(entries: dict[str, str]) -> None:
    width = max(map(len, entries))
    for entry, summary in entries.items():
        click.echo(f"  {entry:<{width}}  {summary}")


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS), required=False)
def list_entries(kind: str | None) -> None:
    """List the installed datasets, architectures, attacks and defences (and the built-in recipes), or one KIND."""
    for name in [kind] if kind else KINDS:
        click.echo(f"{name}:")
        _echo_entries(_entries(name))


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
