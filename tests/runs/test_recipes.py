"""Recipes: the built-in ones load and say where each value comes from; options override them; bad ones are refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.runs.recipes import RecipeError, builtin_recipes, load_recipe


def test_every_builtin_recipe_loads_and_says_where_values_come_from():
    recipes = builtin_recipes()
    for name in ("paper-cifar10-linf", "paper-cifar10-l2", "paper-svhn-linf", "pgd-at-cifar10-linf",
                 "fashion-mnist-resnet-cpu", "digits", "default"):
        assert name in recipes and recipes[name].description
    paper = recipes["paper-cifar10-linf"]
    assert paper.values["architecture"] == "resnet18" and paper.values["eps"] == "8/255"
    assert paper.values["defences"] == ["sor:iterations=3"]
    assert paper.paper == {"clean_accuracy": 0.812, "pgd20_accuracy": 0.518,
                           "note": "the authors' CIFAR-10 L∞ checkpoint: epoch 61, 500 test images"}
    assert paper.sources["eps"].startswith("paper") and paper.sources["lr"].startswith("assumed")


def test_recipe_flags_override_and_bad_recipes(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('dataset = "digits"\nepochs = 1\nlr = 0.002\neps = "1/10"\ndefences = ["standard"]\n'
                      '[sources]\nlr = "paper: 0.002"\neps = "assumed: a tenth"\n[paper]\nclean_accuracy = 0.5\n')
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe), "--lr", "0.003", "--eval-samples", "20",
                                       "--attack-steps", "2", "--quiet", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "report.json").read_text())["results"][0]["training"]["run"]
    assert run["setup"]["optimizer"]["lr"] == 0.003  # the flag wins
    assert run["threat"]["eps"] == pytest.approx(0.1)  # the recipe's fraction
    assert json.loads((out / "report.json").read_text())["results"][0]["training"]["epochs"] == 1
    provenance = json.loads((out / "report.json").read_text())["recipe"]
    assert provenance["sources"] == {"eps": "assumed: a tenth"}  # --lr was the user's, not the paper's
    assert provenance["paper"] == {"clean_accuracy": 0.5}
    assert "not measured by this run" in result.output and "| eps | assumed: a tenth |" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('epochs = 1\ncolour = "blue"\n')
    result = CliRunner().invoke(main, ["train", "--recipe", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "colour" in result.output and "--recipe" in result.output
    bad.write_text('epochs = "many"\n')
    result = CliRunner().invoke(main, ["train", "--recipe", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "epochs" in result.output
    with pytest.raises(RecipeError, match="neither a built-in recipe"):
        load_recipe("no-such-recipe")
    bad.write_text("epochs = [")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)
