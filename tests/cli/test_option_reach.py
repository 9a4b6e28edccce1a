"""Every option of ``train``, ``compare``, ``evaluate`` and ``explain``, and every recipe key, reaches what runs.

Each command runs for real on a tiny problem while the test records what it runs, site by site: each trainer's
``fit`` (its class and configuration, the data, the model, the optimizer, the schedule, and the history it
returns), each ART attack's ``generate`` (its class, parameters and inputs), and the geometry, diagnostics and
alignment computations. Changing one option must change the record at the sites it names, or be refused with an
error naming it; the few options that only say where output goes or how much is printed must change nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from art.attacks.attack import EvasionAttack
from click.testing import CliRunner

import art_sor
from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.data.bundled import load_digits
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.recipes import recipe_for
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.trainers.base import EpochTrainer

pytestmark = pytest.mark.slow

# Every module first, so that each one that imports a recorded function by name holds the original, which the
# recorder then replaces in every module alike.
for _module in pkgutil.walk_packages(art_sor.__path__, "art_sor."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)

TRAINING, ATTACKS, GEOMETRY, DIAGNOSTICS, ALIGNMENT, BUDGET = ("training", "attacks", "geometry", "diagnostics",
                                                               "alignment", "budget")
OUTPUT_ONLY = {
    "--out": "where the results go",
    "--overwrite": "replaces a folder's earlier results; on a fresh folder nothing differs",
    "--quiet": "progress bars and messages",
}
TIME_KEYS = ("seconds", "cpu_seconds")


# What runs, as plain comparable values.

def _digest(array: Any) -> tuple[Any, ...]:
    array = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    return "array", array.shape, str(array.dtype), hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def _model(model: torch.nn.Module) -> tuple[Any, ...]:
    weights = [p for p in model.state_dict().values() if isinstance(p, torch.Tensor)]
    formats = [p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4]
    return (type(model).__name__, [_digest(w) for w in weights], formats,
            sorted({str(p.device) for p in model.parameters()}))


def fingerprint(value: Any) -> Any:
    """A comparable summary of ``value``: arrays by content, models by weights, objects by their public state."""
    from art.estimators.classification import PyTorchClassifier

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _digest(value)
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items() if k not in TIME_KEYS}
    if isinstance(value, PyTorchClassifier):
        return {"model": _model(value.model), "clip_values": fingerprint(value.clip_values),
                "preprocessing": fingerprint([getattr(p, "mean", None) for p in value.preprocessing_operations]
                                             + [getattr(p, "std", None) for p in value.preprocessing_operations]),
                "classes": value.nb_classes, "device": str(value.device)}
    if isinstance(value, torch.nn.Module):
        return _model(value)
    if isinstance(value, torch.optim.Optimizer):
        return type(value).__name__, [{k: fingerprint(v) for k, v in group.items() if k != "params"}
                                      for group in value.param_groups]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__, fingerprint(dataclasses.asdict(value))
    if hasattr(value, "state_dict") and callable(value.state_dict):
        return type(value).__name__, fingerprint(value.state_dict())
    if callable(value):
        return "callable"
    return type(value).__name__, fingerprint({k: v for k, v in vars(value).items() if not k.startswith("_")})


def _generator_state(generator: Any) -> Any:
    loader = generator.iterator
    dataset = loader.dataset
    return {"batch_size": generator.batch_size, "size": generator.size, "workers": loader.num_workers,
            "x": _digest(dataset.x), "y": _digest(dataset.y), "transform": repr(dataset.transform)}


def _history(history: list[dict[str, Any]]) -> Any:
    return fingerprint([{k: v for k, v in record.items() if k not in TIME_KEYS} for record in history])


class Recorder:
    """Records what runs, by site, while commands run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sites: dict[str, list[Any]] = {}
        self._patch_fit(monkeypatch)
        self._patch_attacks(monkeypatch)
        original_reached = Budget.reached

        def reached(budget: Budget, history: Any) -> bool:
            self.record(BUDGET, fingerprint(budget))
            return original_reached(budget, history)

        monkeypatch.setattr(Budget, "reached", reached)
        for module, name, site in [("art_sor.evaluation.geometry", "geometry_metrics", GEOMETRY),
                                   ("art_sor.evaluation.diagnostics", "obfuscation_checks", DIAGNOSTICS),
                                   ("art_sor.evaluation.diagnostics", "gradient_check", DIAGNOSTICS),
                                   ("art_sor.explain.scores", "alignment_scores", ALIGNMENT)]:
            self._patch_function(monkeypatch, module, name, site)

    def record(self, site: str, value: Any) -> None:
        self.sites.setdefault(site, []).append(value)

    def _patch_fit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recorder = self
        original_fit, original_generator = EpochTrainer.fit, EpochTrainer.fit_generator

        def trainer_state(trainer: EpochTrainer, kwargs: dict[str, Any]) -> dict[str, Any]:
            classifier = trainer.get_classifier()
            return {"trainer": type(trainer).__name__, "config": fingerprint(trainer.config()),
                    "classifier": fingerprint(classifier), "optimizer": fingerprint(classifier.optimizer),
                    "fit": fingerprint({k: v for k, v in kwargs.items() if k not in ("verbose", "checkpoint_dir")})}

        def fit(trainer: EpochTrainer, x: np.ndarray, y: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            state = {**trainer_state(trainer, kwargs), "x": _digest(x), "y": _digest(y)}
            history = original_fit(trainer, x, y, *args, **kwargs)
            recorder.record(TRAINING, {**state, "history": _history(history)})
            return history

        def fit_generator(trainer: EpochTrainer, generator: Any, *args: Any, **kwargs: Any) -> Any:
            state = {**trainer_state(trainer, kwargs), "generator": _generator_state(generator)}
            history = original_generator(trainer, generator, *args, **kwargs)
            recorder.record(TRAINING, {**state, "history": _history(history)})
            return history

        monkeypatch.setattr(EpochTrainer, "fit", fit)
        monkeypatch.setattr(EpochTrainer, "fit_generator", fit_generator)

    def _patch_attacks(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recorder = self
        import art.attacks.evasion  # noqa: F401 - every ART evasion attack class, for the walk below

        import art_sor.evaluation.canonical_autoattack  # noqa: F401

        def subclasses(cls: type) -> list[type]:
            return [cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))]

        def recording(original: Callable[..., Any]) -> Callable[..., Any]:
            def generate(attack: Any, x: np.ndarray, y: Any = None, *args: Any, **kwargs: Any) -> Any:
                params = {name: getattr(attack, name, None) for name in attack.attack_params
                          if name not in ("estimator", "verbose", "summary_writer")}
                recorder.record(ATTACKS, (type(attack).__name__, fingerprint(params), fingerprint(attack.estimator),
                                          _digest(x), None if y is None else _digest(y)))
                return original(attack, x, y, *args, **kwargs)
            return generate

        for cls in set(subclasses(EvasionAttack)):
            if "generate" in vars(cls):
                monkeypatch.setattr(cls, "generate", recording(vars(cls)["generate"]))

    def _patch_function(self, monkeypatch: pytest.MonkeyPatch, module: str, name: str, site: str) -> None:
        recorder = self
        original = getattr(importlib.import_module(module), name)
        signature = inspect.signature(original)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            recorder.record(site, fingerprint({k: v for k, v in bound.arguments.items() if k != "verbose"}))
            return original(*args, **kwargs)

        # Every module that imported the function by name calls it through its own attribute.
        for loaded in list(sys.modules.values()):
            if getattr(loaded, "__name__", "").startswith("art_sor") and getattr(loaded, name, None) is original:
                monkeypatch.setattr(loaded, name, wrapper)


# The problem: digits, a handful of images, one epoch.

@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("reach")
    data = load_digits()
    order = np.random.default_rng(1).permutation(len(data.x_train))
    np.savez(root / "other.npz", x_train=data.x_train[order], y_train=data.y_train[order],
             x_test=data.x_test[::-1].copy(), y_test=data.y_test[::-1].copy())
    setup = TrainingSetup(epochs=1, batch_size=32, train_samples=64, device="cpu")
    paths = {"npz": str(root / "other.npz"), "root": str(root)}
    for name, seed in (("model", 0), ("other_model", 1)):
        trained = train_defence("standard", data, ThreatModel(0.2, "inf"), dataclasses.replace(setup, seed=seed),
                                root / name, verbose=False)
        paths[name] = str(trained.path)
    (root / "tiny_arch.py").write_text(
        "from torch import nn\n\n\ndef build(input_shape, nb_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, nb_classes))\n")
    _write_recipe(root / "recipe.toml", {**recipe_for("digits").values, "description": "digits", "lr": 0.01})
    return paths


TINY_TRAINING = ["--epochs", "1", "--train-samples", "64", "--batch-size", "32", "--device", "cpu"]
BASES = {
    "train": ["train", *TINY_TRAINING, "--eval-samples", "4", "--attack-steps", "2", "--defence", "sor"],
    "compare": ["compare", *TINY_TRAINING, "--eval-samples", "4", "--defence", "sor", "--attack", "pgd:steps=2",
                "--no-alignment", "--no-diagnostics", "--monitor-samples", "4"],
    "evaluate": ["evaluate", "{checkpoint}", "--attack", "pgd:steps=2", "--eval-samples", "4", "--no-curve",
                 "--no-geometry", "--device", "cpu"],
    "explain": ["explain", "{checkpoint}", "--image", "0", "--steps", "2", "--score-samples", "4",
                "--counterfactual-samples", "2", "--device", "cpu"],
}

# option: (extra arguments of the baseline, extra arguments of the changed run, sites that must change, or
# "refused" / "output").
Change = tuple[list[str], list[str], Any]
SGD = ["--optimizer", "sgd", "--momentum", "0.9"]
MULTISTEP = ["--schedule", "multistep", "--milestones", "1"]
BEST = ["--select", "best-robust", "--validation-samples", "16"]
CUDA = (TRAINING,) if torch.cuda.is_available() else "refused"
TRAINING_CHANGES: dict[str, Change] = {
    "--recipe": ([], ["--recipe", "{root}/recipe.toml"], (TRAINING,)),
    "--dataset": ([], ["--dataset", "npz:{npz}"], (TRAINING, ATTACKS)),
    "--data-root": ([], ["--data-root", "{root}"], "refused"),
    "--download": ([], ["--download"], "refused"),
    "--defence": ([], ["--defence", "gr"], (TRAINING,)),
    "--eps": ([], ["--eps", "0.1"], (TRAINING, ATTACKS)),
    "--norm": ([], ["--norm", "l2", "--eps", "0.2"], (TRAINING, ATTACKS)),
    "--architecture": ([], ["--architecture", "tiny_arch:build"], (TRAINING, ATTACKS)),
    "--epochs": ([], ["--epochs", "2"], (TRAINING,)),
    "--batch-size": ([], ["--batch-size", "16"], (TRAINING,)),
    "--optimizer": ([], ["--optimizer", "sgd"], (TRAINING,)),
    "--lr": ([], ["--lr", "0.01"], (TRAINING,)),
    "--momentum": (SGD, ["--optimizer", "sgd", "--momentum", "0.5"], (TRAINING,)),
    "--weight-decay": ([], ["--weight-decay", "0.1"], (TRAINING,)),
    "--nesterov": (SGD, [*SGD, "--nesterov"], (TRAINING,)),
    "--schedule": ([], ["--schedule", "cosine"], (TRAINING,)),
    "--milestones": (MULTISTEP, ["--schedule", "multistep", "--milestones", "2"], (TRAINING,)),
    "--gamma": (MULTISTEP, [*MULTISTEP, "--gamma", "0.5"], (TRAINING,)),
    "--seed": ([], ["--seed", "1"], (TRAINING, ATTACKS)),
    "--train-samples": ([], ["--train-samples", "48"], (TRAINING,)),
    "--augment": ([], ["--augment"], (TRAINING,)),
    "--standardise": ([], ["--standardise"], (TRAINING,)),
    "--select": ([], BEST, (TRAINING,)),
    "--validation-samples": (BEST, ["--select", "best-robust", "--validation-samples", "24"], (ATTACKS,)),
    "--amp": ([], ["--amp"], (TRAINING,)),
    "--micro-batch-size": ([], ["--micro-batch-size", "16"], (TRAINING,)),
    "--channels-last": ([], ["--channels-last"], (TRAINING,)),
    "--workers": ([], ["--workers", "1"], (TRAINING,)),
    "--batch-norm": ([], ["--batch-norm", "eval"], "refused"),  # the tiny model has no batch norm
    "--sync-batch-norm": ([], ["--sync-batch-norm"], "refused"),
    "--device": ([], ["--device", "cuda"], CUDA),
}
CHANGES: dict[str, dict[str, Change]] = {
    "train": {**TRAINING_CHANGES,
              "--attack-steps": ([], ["--attack-steps", "3"], (ATTACKS,)),
              "--eval-samples": ([], ["--eval-samples", "6"], (ATTACKS,))},
    "compare": {**TRAINING_CHANGES,
                "--seed": ([], ["--seed", "1"], "refused"),
                "--attack": ([], ["--attack", "fgsm"], (ATTACKS,)),
                "--eval-samples": ([], ["--eval-samples", "6"], (ATTACKS,)),
                "--budget": (["--epochs", "3"], ["--epochs", "3", "--budget", "0.0001"], (TRAINING, BUDGET)),
                "--budget-of": (["--epochs", "2", "--budget", "0.0001"], ["--epochs", "2", "--budget-of", "pgd-at:1"],
                                (TRAINING,)),
                "--clock": (["--budget", "0.0001"], ["--budget", "0.0001", "--clock", "cpu"], (BUDGET,)),
                "--budget-fractions": (["--budget", "0.0001"], ["--budget", "0.0001", "--budget-fractions", "0.5,1"],
                                       (ATTACKS,)),
                "--seeds": ([], ["--seeds", "2"], (TRAINING,)),
                "--monitor-attack": ([], ["--monitor-attack", "fgsm"], (ATTACKS,)),
                "--monitor-samples": ([], ["--monitor-samples", "6"], (ATTACKS,)),
                "--diagnostics": ([], ["--diagnostics"], (DIAGNOSTICS,)),
                "--alignment": ([], ["--alignment"], (ALIGNMENT,)),
                "--judge": (["--alignment"], ["--alignment", "--judge", "{other_model}"], (ALIGNMENT,))},
    "evaluate": {
        "checkpoint": ([], [], (ATTACKS,)),
        "--architecture": ([], ["--architecture", "small-cnn"], "refused"),
        "--dataset": ([], ["--dataset", "npz:{npz}"], (ATTACKS,)),
        "--data-root": ([], ["--data-root", "{root}"], "refused"),
        "--download": ([], ["--download"], "refused"),
        "--eps": ([], ["--eps", "0.1"], (ATTACKS,)),
        "--norm": ([], ["--norm", "l2"], (ATTACKS,)),
        "--attack": ([], ["--attack", "fgsm"], (ATTACKS,)),
        "--eval-samples": ([], ["--eval-samples", "6"], (ATTACKS,)),
        "--curve": ([], ["--curve"], (ATTACKS,)),
        "--geometry": ([], ["--geometry"], (GEOMETRY,)),
        "--tolerance": ([], ["--tolerance", "0.1"], (DIAGNOSTICS,)),
        "--batch-size": ([], ["--batch-size", "2"], (ATTACKS,)),
        "--device": ([], ["--device", "cuda"], (ATTACKS,) if torch.cuda.is_available() else "refused"),
    },
    "explain": {
        "checkpoint": ([], [], (ATTACKS, ALIGNMENT)),
        "--architecture": ([], ["--architecture", "small-cnn"], "refused"),
        "--dataset": ([], ["--dataset", "npz:{npz}"], (ATTACKS, ALIGNMENT)),
        "--data-root": ([], ["--data-root", "{root}"], "refused"),
        "--download": ([], ["--download"], "refused"),
        "--image": ([], ["--image", "1"], (ATTACKS,)),
        "--eps": ([], ["--eps", "3"], (ATTACKS, ALIGNMENT)),
        "--norm": ([], ["--norm", "inf"], (ATTACKS, ALIGNMENT)),
        "--steps": ([], ["--steps", "3"], (ATTACKS, ALIGNMENT)),
        "--judge": ([], ["--judge", "{other_model}"], (ALIGNMENT,)),
        "--score-samples": ([], ["--score-samples", "6"], (ALIGNMENT,)),
        "--counterfactual-samples": ([], ["--counterfactual-samples", "3"], (ALIGNMENT,)),
        "--name": ([], ["--name", "other"], "output"),
        "--device": ([], ["--device", "cuda"], (ATTACKS,) if torch.cuda.is_available() else "refused"),
    },
}
TRACKING = {  # where the logs go: train's and compare's results do not depend on them
    "--log-dir": ([], ["--log-dir", "{root}/logs-{run}"], "output"),
    "--mlflow": ([], ["--mlflow"], "output"),
    "--mlflow-uri": ([], ["--mlflow-uri", "file:{root}/mlruns-{run}"], "output"),
    "--mlflow-experiment": ([], ["--mlflow", "--mlflow-experiment", "reach"], "output"),
}
CHANGES["train"].update(TRACKING)
CHANGES["compare"].update(TRACKING)
CHANGES["evaluate"]["--save-adversarial"] = ([], ["--save-adversarial"], "output")  # also writes adversarial.npz
PUBLISHED = {  # an art-sor checkpoint carries its standardisation, and is no RobustBench model
    "--mean": ([], ["--mean", "0.5", "--std", "0.5"], "refused"),
    "--std": ([], ["--std", "0.5"], "refused"),
    "--model-dir": ([], ["--model-dir", "{root}"], "refused"),
}
CHANGES["evaluate"].update(PUBLISHED)
CHANGES["explain"].update(PUBLISHED)
CHANGES["compare"]["--reference"] = ([], ["--reference", "{other_model}"], (ATTACKS,))
CHANGES["compare"]["--model-dir"] = ([], ["--model-dir", "{root}"], "refused")  # no robustbench:NAME reference
for _command, _changes in CHANGES.items():
    _changes.update({option: ([], [option] if option != "--out" else [], "output") for option in OUTPUT_ONLY})

CASES = [(command, option) for command, changes in CHANGES.items() for option in changes]


class Runner:
    """Runs commands with the recorder on, one output folder per run."""

    def __init__(self, files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files, self.tmp_path, self.count = files, tmp_path, 0
        monkeypatch.syspath_prepend(files["root"])
        monkeypatch.setenv("ART_SOR_THREADS", "1")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path}/mlruns")
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        self.monkeypatch = monkeypatch

    def run(self, command: str, extra: list[str], checkpoint: str = "model", without: str | None = None
            ) -> tuple[Any, dict[str, list[Any]]]:
        self.count += 1
        values = {**self.files, "checkpoint": self.files[checkpoint], "run": self.count}
        base = _without(BASES[command], without)
        arguments = [a.format(**values) for a in [*base, *extra]]
        if "--out" not in arguments:
            arguments += ["--out", str(self.tmp_path / f"run{self.count}")]
        with pytest.MonkeyPatch.context() as patch:
            recorder = Recorder(patch)
            result = CliRunner().invoke(main, arguments, catch_exceptions=True)
        return result, recorder.sites


def test_every_option_has_a_probe():
    import click

    context = click.Context(main)
    for command, changes in CHANGES.items():
        options = {(p.opts[0] if isinstance(p, click.Option) else p.name) for p in
                   main.get_command(context, command).params}
        assert options == set(changes), (command, sorted(options ^ set(changes)))


@pytest.mark.parametrize("command,option", CASES)
def test_changing_an_option_changes_what_runs_or_is_refused(command, option, files, tmp_path, monkeypatch):
    base_extra, changed_extra, expected = CHANGES[command][option]
    runner = Runner(files, tmp_path, monkeypatch)
    base, base_sites = runner.run(command, base_extra)
    assert base.exit_code == 0, base.output[-2000:]
    changed, changed_sites = runner.run(command, changed_extra,
                                        checkpoint="other_model" if option == "checkpoint" else "model")
    if expected == "refused":
        assert changed.exit_code == 2, f"{option} was accepted:\n{changed.output[-1500:]}"
        assert option in changed.output, changed.output[-1500:]
        return
    assert changed.exit_code == 0, changed.output[-2000:]
    if expected == "output":
        assert changed_sites == base_sites, f"{option} changed what runs"
        return
    for site in expected:
        assert site in base_sites or site in changed_sites, f"{site} never ran"
        assert changed_sites.get(site) != base_sites.get(site), f"{option} did not change {site}"


def _without(arguments: list[str], option: str | None) -> list[str]:
    """``arguments`` without ``option`` (or its ``--no-`` form) and its value."""
    negative = None if option is None else "--no-" + option[2:]
    if negative in arguments:
        return [a for a in arguments if a != negative]
    if option not in arguments:
        return list(arguments)
    position = arguments.index(option)
    takes_value = position + 1 < len(arguments) and not arguments[position + 1].startswith("--")
    return arguments[:position] + arguments[position + (2 if takes_value else 1):]


def _recipe_value(changed_extra: list[str], option: str) -> Any:
    """The changed value of ``option`` as the recipe would hold it, from the changed run's arguments."""
    position = changed_extra.index(option)
    following = changed_extra[position + 1:position + 2]
    if not following or following[0].startswith("--"):
        return True
    text = following[0]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _write_recipe(path: Path, values: dict[str, Any]) -> str:
    # JSON's strings, numbers, booleans and lists are TOML's too.
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    return str(path)


RECIPE_KEY = {"defence": "defences", "attack": "attacks", "reference": "references"}
LISTS = ("defences", "attacks", "references")
RECIPE_CASES = [(command, option) for command in ("train", "compare") for option, change in CHANGES[command].items()
                if isinstance(change[2], tuple) and option != "--recipe" and option in change[1]]


@pytest.mark.parametrize("command,option", RECIPE_CASES)
def test_a_recipe_key_reaches_what_runs_like_its_option(command, option, files, tmp_path, monkeypatch):
    base_extra, changed_extra, expected = CHANGES[command][option]
    key = RECIPE_KEY.get(option[2:].replace("-", "_"), option[2:].replace("-", "_"))
    value = _recipe_value(changed_extra, option)
    value = value.format(**files) if isinstance(value, str) else value
    values = {**recipe_for("digits").values, "description": "digits, one key changed"}
    # The baseline's value of the option moves from the command line into the recipe too.
    base_arguments = [*BASES[command], *base_extra]
    if "--no-" + option[2:] in base_arguments:
        values[key] = False
    elif option in base_arguments:
        values[key] = _recipe_value(base_arguments[len(BASES[command]):] if option in base_extra else
                                    BASES[command], option)
        values[key] = [values[key]] if key in LISTS else values[key]
    base_recipe = _write_recipe(tmp_path / "base.toml", values)
    changed_recipe = _write_recipe(tmp_path / "changed.toml",
                                   {**values, key: [value] if key in LISTS else value})
    # The option's companions stay on the command line; the option itself comes from the recipe.
    runner = Runner(files, tmp_path, monkeypatch)
    base, base_sites = runner.run(command, [*_without(base_extra, option), "--recipe", base_recipe], without=option)
    assert base.exit_code == 0, base.output[-2000:]
    changed, changed_sites = runner.run(command, [*_without(changed_extra, option), "--recipe", changed_recipe],
                                        without=option)
    assert changed.exit_code == 0, changed.output[-2000:]
    for site in expected:
        assert changed_sites.get(site) != base_sites.get(site), f"recipe key {key} did not change {site}"
