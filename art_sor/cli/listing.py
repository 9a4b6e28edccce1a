"""``art-sor list`` and ``art-sor recipes``: what is installed, one line each."""

from __future__ import annotations

import click

from art_sor.registry import REGISTRIES
from art_sor.runs.recipes import builtin_recipes

KINDS = (*REGISTRIES, "recipes")


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS), required=False)
def list_entries(kind: str | None) -> None:
    """List the installed datasets, architectures, attacks and defences (and the built-in recipes), or one KIND."""
    for name in [kind] if kind else KINDS:
        click.echo(f"{name}:")
        if name == "recipes":
            entries = {key: recipe.description for key, recipe in builtin_recipes().items()}
        else:
            registry = REGISTRIES[name]
            entries = {entry: registry.summary(entry) for entry in registry.names()}
        width = max(map(len, entries))
        for entry, summary in entries.items():
            click.echo(f"  {entry:<{width}}  {summary}")


@click.command()
def recipes() -> None:
    """List the built-in recipes (use one with --recipe NAME, or your own TOML file with --recipe PATH)."""
    for name, recipe in builtin_recipes().items():
        click.echo(f"{name:<26} {recipe.description}")
