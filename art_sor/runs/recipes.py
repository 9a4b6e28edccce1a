"""Recipes: named sets of command-line settings in TOML, shipped in the package or written by the user.

A recipe sets options by their command-line names (``lr``, ``batch_size``, ``defences``...); flags given
explicitly override it. ``[sources]`` says where each value comes from (the paper, the field's practice, or an
assumption), and ``[paper]`` holds figures the paper reports; the ``train`` report lists both, the paper's figures
marked as not measured by the run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_RECIPE = "default"
_META_KEYS = ("description", "sources", "paper")


class RecipeError(ValueError):
    """A recipe that cannot be found or read; the message names the recipe and the key at fault."""


@dataclass(frozen=True)
class Recipe:
    """A named set of option values.

    :ivar name: The recipe's name (built-in) or path (the user's file).
    :ivar description: One line for ``art-sor recipes``.
    :ivar values: Option values by option name (underscores, as in the Python API).
    :ivar sources: Where values come from, by option name.
    :ivar paper: Figures the paper reports for this setting.
    """

    name: str
    description: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)


def _builtin_folder() -> Path:
    return Path(str(resources.files("art_sor.runs") / "recipes"))


def builtin_recipes() -> dict[str, Recipe]:
    """The recipes that ship with art-sor, by name."""
    return {path.stem: _read(path, path.stem) for path in sorted(_builtin_folder().glob("*.toml"))}


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """A built-in recipe by name, or the user's TOML file by path.

    :raises RecipeError: If there is no such recipe or the file is not valid TOML.
    """
    text = str(name_or_path)
    builtin = _builtin_folder() / f"{text}.toml"
    if "/" not in text and not text.endswith(".toml") and builtin.exists():
        return _read(builtin, text)
    path = Path(text)
    if not path.is_file():
        raise RecipeError(f"recipe {text!r} is neither a built-in recipe ({', '.join(builtin_recipes())}) nor a "
                          "TOML file")
    return _read(path, str(path))


def recipe_for(dataset: str) -> Recipe:
    """The built-in recipe named after ``dataset`` if there is one, else the ``default`` recipe."""
    recipes = builtin_recipes()
    return recipes.get(dataset, recipes[DEFAULT_RECIPE])


def _read(path: Path, name: str) -> Recipe:
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RecipeError(f"recipe {name}: not valid TOML ({error})") from error
    for key in ("sources", "paper"):
        if not isinstance(data.get(key, {}), dict):
            raise RecipeError(f"recipe {name}: [{key}] must be a table")
    values = {key: value for key, value in data.items() if key not in _META_KEYS}
    return Recipe(name=name, description=str(data.get("description", "")), values=values,
                  sources=data.get("sources", {}), paper=data.get("paper", {}))
