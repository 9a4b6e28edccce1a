"""Paper-scale settings on CPU-sized data: architectures, optimizers and schedules, recipes, selection, AMP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import architecture_classifier

from art_sor import SORTrainer
from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.models import build_model
from art_sor.registry import ARCHITECTURES, RegistryError
from art_sor.runs.recipes import RecipeError, builtin_recipes, load_recipe
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup


@pytest.mark.parametrize("architecture", ["small-cnn", "resnet18", "preact-resnet18", "wide-resnet-28-10"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_architectures_forward_and_backward(architecture, shape):
    if architecture == "wide-resnet-28-10" and shape[0] == 1:
        pytest.skip("one WRN shape is enough (36M parameters)")
    torch.manual_seed(0)
    model = build_model(architecture, shape, 10)
    x = torch.rand(2, *shape)
    logits = model(x)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_wide_resnet_34_10_has_the_published_size():
    model = build_model("wide-resnet-34-10", (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(46.16e6, rel=0.01)


def test_preact_resnet_through_the_sor_double_backward():
    """SOR with exact HVPs differentiates through BN and the residual sums twice."""
    torch.manual_seed(0)
    classifier = architecture_classifier("preact-resnet18", (1, 12, 12), 10, clip_values=(0.0, 1.0))
    x = np.random.default_rng(0).random((8, 1, 12, 12), dtype=np.float32)
    history = SORTrainer(classifier, eps=0.1, hvp="exact", iterations=2).fit(x, np.arange(8) % 10, nb_epochs=1,
                                                                          batch_size=8, verbose=False)
    assert np.isfinite(history[0]["loss"])


def test_own_model_by_module_and_callable(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "def tiny(input_shape, nb_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(int(__import__('math').prod(input_shape)), nb_classes))\n"
        "def not_a_model(input_shape, nb_classes):\n"
        "    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_model("my_models:tiny", (1, 8, 8), 10)(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(RegistryError, match=r"not a torch\.nn\.Module"):
        build_model("my_models:not_a_model", (1, 8, 8), 10)
    with pytest.raises(RegistryError, match="no callable 'missing'"):
        build_model("my_models:missing", (1, 8, 8), 10)
    with pytest.raises(RegistryError, match="cannot import"):
        build_model("nowhere_module:tiny", (1, 8, 8), 10)
    assert "preact-resnet18" in ARCHITECTURES.names()


@pytest.mark.parametrize("schedule,expected", [
    (ScheduleSettings("constant"), [0.1, 0.1, 0.1, 0.1]),
    (ScheduleSettings("cosine"), [0.1, 0.1 * (1 + np.cos(np.pi / 4)) / 2, 0.05, 0.1 * (1 + np.cos(3 * np.pi / 4)) / 2]),
    (ScheduleSettings("multistep", milestones=(1, 3), gamma=0.5), [0.1, 0.05, 0.05, 0.025]),
])
def test_sgd_with_each_epoch_schedule(digits, schedule, expected):
    setup = TrainingSetup(epochs=4, batch_size=128, optimizer=OptimizerSettings("sgd", 0.1, weight_decay=5e-4),
                          schedule=schedule, train_samples=256, device="cpu")
    history = train_defence("standard", digits, ThreatModel(0.1, "inf"), setup, verbose=False).history
    assert [r["learning_rate"] for r in history] == pytest.approx(expected)


def test_onecycle_steps_every_batch(digits):
    setup = TrainingSetup(epochs=2, batch_size=64, optimizer=OptimizerSettings("sgd", 0.2, nesterov=True),
                          schedule=ScheduleSettings("onecycle"), train_samples=256, device="cpu")
    trained = train_defence("standard", digits, ThreatModel(0.1, "inf"), setup, verbose=False)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.2, epochs=2, steps_per_epoch=4)
    expected = [reference.param_groups[0]["lr"]]
    for _ in range(4):  # one step per batch: the second epoch starts four steps in
        reference.step()
        schedule.step()
    expected.append(reference.param_groups[0]["lr"])
    assert [r["learning_rate"] for r in trained.history] == pytest.approx(expected)
    assert expected[0] == pytest.approx(0.2 / 25)


def test_setup_errors_name_the_setting():
    with pytest.raises(ValueError, match="lr"):
        OptimizerSettings("sgd", 0.0)
    with pytest.raises(ValueError, match="nesterov"):
        OptimizerSettings("adam", 0.1, nesterov=True)
    with pytest.raises(ValueError, match="milestones"):
        ScheduleSettings("multistep")
    with pytest.raises(ValueError, match="milestones must increase"):
        ScheduleSettings("multistep", milestones=(5, 3))
    with pytest.raises(ValueError, match="optimizer"):
        OptimizerSettings("rmsprop")


def test_augmentation_and_streaming_train(digits):
    setup = TrainingSetup(epochs=2, batch_size=64, train_samples=256, augmentation="crop-flip", device="cpu")
    history = train_defence("sor", digits, ThreatModel(0.1, "inf"), setup, verbose=False).history
    assert len(history) == 2 and history[1]["loss"] < history[0]["loss"] + 0.5


def test_best_robust_selection_keeps_the_best_validation_epoch(digits, tmp_path):
    setup = TrainingSetup(epochs=3, batch_size=64, select="best-robust", validation_samples=100, device="cpu")
    trained = train_defence("sor", digits, ThreatModel(0.2, "inf"), setup, tmp_path / "run", verbose=False)
    accuracies = [r["validation_robust_accuracy"] for r in trained.history]
    assert trained.selected_epoch == 1 + int(np.argmax(accuracies))
    saved = json.loads(json.dumps(torch.load(tmp_path / "run" / "model.pt", weights_only=True)["metadata"]
                                  ["selected_epoch"]))
    assert saved == trained.selected_epoch
    assert len(trained.key.setup) and trained.key.setup["select"] == "best-robust"


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


def test_amp_bfloat16_through_exact_hvps_on_cpu(digits):
    classifier = architecture_classifier("small-cnn", (1, 8, 8), 10, clip_values=(0.0, 1.0))
    history = SORTrainer(classifier, eps=0.1, hvp="exact", amp=True).fit(digits.x_train[:128], digits.y_train[:128],
                                                                          nb_epochs=2, batch_size=64, verbose=False)
    assert all(np.isfinite(r["loss"]) for r in history)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("hvp", ["finite_difference", "exact"])
def test_cuda_float16_amp_through_the_double_backward(digits, hvp):
    classifier = architecture_classifier("preact-resnet18", (1, 8, 8), 10, clip_values=(0.0, 1.0), device="cuda")
    trainer = SORTrainer(classifier, eps=0.1, hvp=hvp, iterations=2, amp=True)
    history = trainer.fit(digits.x_train[:256], digits.y_train[:256], nb_epochs=2, batch_size=64, verbose=False)
    assert all(np.isfinite(r["loss"]) for r in history)
    assert trainer.scales_gradients


def test_setup_settings_without_effect_are_refused():
    with pytest.raises(ValueError, match=r"momentum 0\.5 has no effect with the adam optimizer"):
        OptimizerSettings("adam", 0.1, momentum=0.5)
    for kwargs, name in [({"milestones": (3,)}, "milestones"), ({"gamma": 0.5}, "gamma")]:
        for schedule in ("constant", "cosine", "onecycle"):
            with pytest.raises(ValueError, match=f"^{name} .* has no effect with the {schedule} schedule"):
                ScheduleSettings(schedule, **kwargs)
    assert ScheduleSettings("multistep", (3,), 0.5).gamma == 0.5
