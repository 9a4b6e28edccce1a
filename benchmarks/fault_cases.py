"""User mistakes and faults, tried one by one against the CLI and the Python API, and how each one ends.

Every case but the few ``result`` cases expects an error. The outcome is:

* ``clear``: an error before any work, without a traceback, whose message names the expected option or argument
  (on the command line in at most 600 characters of output, so that the cause is not buried);
* ``unclear``: an error without a traceback whose message does not name it, or buries it in longer output;
* ``silent``: no error at all (a wrong result would follow);
* ``crash``: a raw traceback (CLI) or an exception type that is not a deliberate error (API).

A ``result`` case is an input that must work (16-bit PNGs, say): ``clear`` when the result is right, ``silent`` when
it is wrong without an error.

    python benchmarks/fault_cases.py --out docs/results
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import resource
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.data_generators import DataGenerator
from click.testing import CliRunner
from torch import nn

from art_sor import SORTrainer, StepSettings
from art_sor.classifiers.checkpoints import load_classifier, read_torch_dict, save_classifier
from art_sor.classifiers.inputs import GeneratorError
from art_sor.classifiers.opening import open_model
from art_sor.classifiers.wrapping import wrap_model
from art_sor.cli import main as art_sor_cli
from art_sor.core.gradient_norm import GradientNormRegularizer
from art_sor.core.threat import ThreatModel
from art_sor.data.bundled import load_digits
from art_sor.data.user_data import load_image_folder, load_npz
from art_sor.evaluation import EvaluationPlan, evaluate_attacks, evaluate_classifier
from art_sor.explain.full_explanation import explain_classifier
from art_sor.explain.plan import ExplanationPlan
from art_sor.explain.scores import alignment_scores
from art_sor.models import build_model
from art_sor.registry import RegistryError
from art_sor.runs.folders import FolderError
from art_sor.runs.recipes import RecipeError
from art_sor.runs.run_key import RunMismatchError
from art_sor.runs.tracking import Tracking
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup
from art_sor.storage import CorruptFileError, DiskFullError, save_checked, write_text

USER_MODELS = """
import torch
from torch import nn


def width(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, classes + 2))


def input_size(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(32, classes))


class Pair(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return logits, logits.softmax(1)


def pair(shape, classes):
    return Pair(classes)


def double(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, classes)).double()


def half(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, classes)).half()


def batch_norm(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, classes))


def frozen(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, classes)).requires_grad_(False)


class Crop(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10]


def no_parameters(shape, classes):
    return Crop()


class Nan(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(x.flatten(1)) * float("nan")


def nan(shape, classes):
    return Nan(classes)


def fails(shape, classes):
    raise RuntimeError("CUDA driver not found")


class Broken(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        raise KeyError("features")


def broken(shape, classes):
    return Broken(classes)


def nothing(shape, classes):
    return None


CONSTANT = 3
"""

DELIBERATE = (ValueError, TypeError, FileNotFoundError, FloatingPointError, RegistryError, RunMismatchError,
              FolderError, CorruptFileError, RecipeError, ImportError, GeneratorError, DiskFullError)
BURIED = 600
"""Command-line output longer than this buries the cause, whatever it names."""
THREAT = ThreatModel(0.1, "inf")
QUICK = ["--epochs", "1", "--train-samples", "100", "--eval-samples", "20", "--quiet", "--device", "cpu"]


class Workspace:
    """Files the cases need: a trained model, bad checkpoints, bad data and recipes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        data = load_digits()
        setup = TrainingSetup(epochs=1, batch_size=50, train_samples=100, device="cpu")
        trained = train_defence("standard", data, ThreatModel(0.2, "inf"), setup, root / "model", verbose=False)
        self.model = str(trained.path)
        self.text = self._write("text.pt", b"not a checkpoint\n")
        self.empty = self._write("empty.pt", b"")
        self.truncated = self._write("truncated.pt", Path(self.model).read_bytes()[:300])
        flipped = torch.load(self.model, weights_only=True)
        next(iter(flipped["state_dict"].values())).view(-1)[0] += 1.0
        torch.save(flipped, root / "flipped.pt")
        self.flipped = str(root / "flipped.pt")
        torch.save(trained.classifier.model.state_dict(), root / "bare.pt")
        self.bare = str(root / "bare.pt")
        torch.save({"weights": 1}, root / "foreign.pt")
        self.foreign = str(root / "foreign.pt")
        self.other_classes = self._checkpoint("classes.pt", (1, 8, 8), 3, {})
        self.other_shape = self._checkpoint("shape.pt", (1, 28, 28), 10, {})
        self.bad_norm = self._checkpoint("norm.pt", (1, 8, 8), 10,
                                         {"run": {"threat": {"norm": "l7"}, "defence": {"spec": "x"}}})
        self.bad_npz = str(root / "bad.npz")
        np.savez(self.bad_npz, x_train=np.zeros((4, 8, 8)), y_train=np.zeros(4), x_test=np.zeros((2, 8, 8)))
        self.float_npz = str(root / "float.npz")
        np.savez(self.float_npz, x_train=np.full((4, 1, 8, 8), 3.0), y_train=np.zeros(4), x_test=np.zeros((2, 1, 8, 8)),
                 y_test=np.zeros(2))
        self.bad_toml = self._write("bad.toml", b"epochs = [")
        self.unknown_key = self._write("unknown.toml", b'colour = "blue"\n')
        self.bad_value = self._write("value.toml", b'eps = 0.1\nlr = "fast"\n')
        self.file = self._write("a_file", b"x")
        self._user_modules()
        self._npz_files()
        self._folders()
        self.missing_key = str(root / "missing_key.pt")
        weights = trained.classifier.model.state_dict()
        torch.save({k: v for i, (k, v) in enumerate(weights.items()) if i != 0}, self.missing_key)
        self.changed = str(root / "changed")
        done = CliRunner().invoke(art_sor_cli, ["train", *QUICK, "--defence", "standard", "--out", self.changed])
        assert done.exit_code == 0, done.output
        self.evaluated = str(root / "evaluated")
        done = CliRunner().invoke(art_sor_cli, ["evaluate", self.model, "--attack", "fgsm", "--no-curve",
                                                "--no-geometry", "--eval-samples", "10", "--quiet", "--out",
                                                self.evaluated])
        assert done.exit_code == 0, done.output
        self._not_finite(weights)

    def _not_finite(self, weights: dict[str, torch.Tensor]) -> None:
        """MadryLab-layout checkpoints (small-cnn on digits) whose outputs cannot be finite, and other bad files."""

        def madry(name: str, mean: float, std: float, nan_weight: bool = False, normaliser: bool = True) -> str:
            state = {f"module.model.{k}": v.clone() for k, v in weights.items()}
            if nan_weight:
                state["module.model.7.weight"].view(-1)[0] = float("nan")
            if normaliser:
                state["module.normalizer.new_mean"] = torch.full((1, 1, 1), mean)
                state["module.normalizer.new_std"] = torch.full((1, 1, 1), std)
            torch.save({"model": state, "epoch": 1}, self.root / name)
            return str(self.root / name)

        self.madry = {"std 0": (madry("std0.pt", 0.1, 0.0), "std"),
                      "a NaN mean": (madry("nanmean.pt", float("nan"), 0.3), "mean"),
                      "a NaN weight": (madry("nanweight.pt", 0.1, 0.3, nan_weight=True), "7.weight"),
                      "no normaliser": (madry("nonorm.pt", 0.1, 0.3, normaliser=False), "new_mean")}
        nan = {k: v.clone() for k, v in weights.items()}
        nan["7.bias"][0] = float("nan")
        torch.save(nan, self.root / "nan_state.pt")
        self.nan_state = str(self.root / "nan_state.pt")
        network = build_model("small-cnn", (1, 8, 8), 10)
        network.load_state_dict({k: v.clone() for k, v in weights.items()})
        network[7].weight.data.view(-1)[0] = float("nan")
        self.nan_checkpoint = str(save_classifier(self.root / "nan_checkpoint.pt", wrap_model(
            network, (1, 8, 8), 10, device="cpu"), "small-cnn"))

        torch.save({"args": argparse.Namespace(arch="x")}, self.root / "pickled.pt")
        self.pickled = str(self.root / "pickled.pt")
        rng = np.random.default_rng(0)
        x, y = rng.random((40, 1, 8, 8)).astype(np.float32), np.arange(40) % 10
        np.savez(self.root / "channels_last.npz", x_train=x.transpose(0, 2, 3, 1), y_train=y,
                 x_test=x[:10].transpose(0, 2, 3, 1), y_test=y[:10])
        np.savez(self.root / "empty_test.npz", x_train=x, y_train=y, x_test=x[:0], y_test=y[:0])
        np.save(self.root / "array.npy", x)
        self.npz_faults = {"channels last": (str(self.root / "channels_last.npz"), "channels last"),
                           "an empty test split": (str(self.root / "empty_test.npz"), "x_test"),
                           "a .npy file": (str(self.root / "array.npy"), ".npy")}

    def _user_modules(self) -> None:
        """Modules of user architectures, importable as ``fc_models:NAME`` (the workspace joins ``sys.path``)."""
        self._write("fc_models.py", USER_MODELS.encode())
        self._write("fc_syntax.py", b"def model(shape, classes)\n    return None\n")
        self._write("fc_raises.py", b"raise RuntimeError('this module needs a GPU driver')\n")
        sys.path.insert(0, str(self.root))

    def _npz_files(self) -> None:
        """npz files with one fault each (the rest is like digits: 8x8 greyscale, 10 classes)."""
        rng = np.random.default_rng(0)
        x, y = rng.random((120, 1, 8, 8)), np.arange(120) % 10

        def npz(name: str, **arrays: Any) -> str:
            full = {"x_train": x, "y_train": y, "x_test": x[:10], "y_test": y[:10], **arrays}
            np.savez(self.root / name, **{k: v for k, v in full.items() if v is not None})
            return str(self.root / name)

        huge = y.copy()
        huge[3] = 2 ** 40
        above = x.copy()
        above[0, 0, 0, 0] = 1.0000001
        self.npz = {
            "complex x_train": (npz("complex.npz", x_train=x.astype(np.complex64)), "x_train"),
            "label 2**40": (npz("huge.npz", y_train=huge), "y_train"),
            "labels 1.5": (npz("half.npz", y_train=y + 0.5), "y_train"),
            "negative label": (npz("negative.npz", y_test=y[:10] - 1), "y_test"),
            "x_train of rank 3": (npz("rank3.npz", x_train=x[:, 0]), "x_train"),
            "x_train at 1.0000001": (npz("above.npz", x_train=above), "1.0000001"),
            "x_train of int32": (npz("int32.npz", x_train=(x * 255).astype(np.int32)), "x_train"),
            "y_train one short": (npz("short.npz", y_train=y[:-1]), "y_train"),
            "x_test of another size": (npz("sizes.npz", x_test=np.zeros((10, 1, 9, 9))), "x_test"),
            "too few class_names": (npz("names.npz", class_names=np.array(["a", "b"])), "class_names"),
            "no training images": (npz("empty.npz", x_train=x[:0], y_train=y[:0]), "--dataset"),
            "all-zero images with --standardise": (npz("zeros.npz", x_train=np.zeros_like(x)), "--standardise"),
        }
        (self.root / "not_npz.npz").write_text("x_train,y_train\n")
        self.npz["a text file"] = (str(self.root / "not_npz.npz"), "npz")

    def _folders(self) -> None:
        """ImageFolder trees with one fault each; ``deep`` holds 16-bit greyscale PNGs."""
        from PIL import Image

        def tree(name: str, fault: Callable[[Path], None] | None = None, bits: int = 8) -> str:
            root = self.root / name
            for split in ("train", "test"):
                for label in ("a", "b"):
                    (root / split / label).mkdir(parents=True)
                    for k in range(3):
                        value = (k + 1) * 1000 + (label == "b") * 20000
                        pixels = (np.full((8, 8), value, np.uint16) if bits == 16
                                  else np.full((8, 8), value // 257, np.uint8))
                        Image.fromarray(pixels).save(root / split / label / f"{k}.png")
            if fault is not None:
                fault(root)
            return str(root)

        good_png = (self.root / "0.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(good_png)
        self.folders = {
            "a corrupt PNG": (tree("corrupt", lambda r: (r / "train/a/bad.png").write_bytes(b"\x89PNG garbage")),
                              "bad.png"),
            "a truncated PNG": (tree("truncated", lambda r: (r / "train/b/cut.png").write_bytes(
                good_png.read_bytes()[:40])), "cut.png"),
            "an empty PNG": (tree("emptypng", lambda r: (r / "test/a/nil.png").write_bytes(b"")), "nil.png"),
            "images of two sizes": (tree("sizes", lambda r: Image.fromarray(np.zeros((9, 9), np.uint8)).save(
                r / "train/a/big.png")), "big.png"),
            "a test class without training folder": (tree("extra", lambda r: (r / "test/c").mkdir() or (
                r / "test/c/0.png").write_bytes(good_png.read_bytes())), "['c']"),
            "an empty class folder": (tree("emptyclass", lambda r: (r / "train/z").mkdir()), "z"),
        }
        self.deep = tree("deep", bits=16)

    def _write(self, name: str, content: bytes) -> str:
        (self.root / name).write_bytes(content)
        return str(self.root / name)

    def _checkpoint(self, name: str, shape: tuple[int, ...], classes: int, metadata: dict[str, Any]) -> str:
        model = build_model("small-cnn", shape, classes)
        return str(save_classifier(self.root / name, wrap_model(model, shape, classes, device="cpu"), "small-cnn",
                                   metadata))


def cli_cases(w: Workspace) -> list[tuple[str, list[str], str]]:
    """(description, arguments, what the message must name); see also :func:`silent_result_cli_cases`."""
    out = ["--out", str(w.root / "out")]
    train = ["train", *QUICK, *out]
    compare = ["compare", "--defence", "standard", "--attack", "pgd", "--no-alignment", "--no-diagnostics", *QUICK,
               *out]
    evaluate = ["evaluate", "--quiet", "--out", str(w.root / "eval")]
    explain = ["explain", "--out", str(w.root / "explain")]
    cases = [(f"train {' '.join(args)}", [*train, *args], name) for args, name in [
        (["--eps", "-1"], "--eps"), (["--eps", "0"], "--eps"), (["--eps", "nan"], "--eps"), (["--eps", "inf"], "--eps"),
        (["--eps", "abc"], "--eps"), (["--eps", "1/0"], "--eps"), (["--norm", "l3"], "--norm"),
        (["--epochs", "0"], "--epochs"), (["--epochs", "abc"], "--epochs"), (["--batch-size", "0"], "--batch-size"),
        (["--lr", "0"], "--lr"), (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"),
        (["--momentum", "-1"], "--momentum"), (["--weight-decay", "-0.1"], "--weight-decay"),
        (["--optimizer", "rmsprop"], "--optimizer"), (["--schedule", "exp"], "--schedule"),
        (["--schedule", "multistep"], "--milestones"), (["--schedule", "multistep", "--milestones", "5,3"],
                                                        "--milestones"),
        (["--milestones", "a,b"], "--milestones"), (["--gamma", "0"], "--gamma"), (["--seed", "-1"], "--seed"),
        (["--seed", str(2 ** 40)], "--seed"), (["--seed", "abc"], "--seed"), (["--train-samples", "0"],
                                                                               "--train-samples"),
        (["--select", "worst"], "--select"), (["--validation-samples", "0"], "--validation-samples"),
        (["--select", "best-robust", "--validation-samples", "5000"], "--validation-samples"),
        (["--workers", "-1"], "--workers"), (["--device", "tpu"], "--device"),
        (["--optimizer", "adam", "--nesterov"], "--nesterov"), (["--attack-steps", "0"], "--attack-steps"),
        (["--eval-samples", "0"], "--eval-samples"), (["--dataset", "imagenet"], "--dataset"),
        (["--dataset", "npz:/nonexistent.npz"], "npz"), (["--dataset", "folder:/nonexistent"], "folder"),
        (["--dataset", f"npz:{w.bad_npz}"], "y_test"), (["--dataset", f"npz:{w.float_npz}"], "x_train"),
        (["--dataset", "cifar10", "--data-root", str(w.root / "nodata")], "--download"),
        (["--dataset", "cifar10-foolbox", "--data-root", str(w.root / "nodata")], "foolbox"),
        (["--data-root", str(w.root)], "--data-root"), (["--download"], "--download"),
        (["--dataset", "cifar10-foolbox", "--download"], "--download"), (["--sync-batch-norm"], "--sync-batch-norm"),
        (["--norm", "l3"], "--norm"),
        (["--architecture", "vgg99"], "--architecture"), (["--architecture", "nowhere:model"], "--architecture"),
        (["--architecture", "os:getcwd"], "architecture"), (["--defence", "magic"], "--defence"),
        (["--defence", "sor:colour=1"], "--defence"), (["--defence", "sor:lam=1_5"], "lam"),
        (["--defence", "sor:lam=-1"], "lam"), (["--defence", "sor:iterations=0"], "iterations"),
        (["--defence", "sor:iterations=1.5"], "iterations"), (["--defence", "sor:hvp=fast"], "hvp"),
        (["--defence", "sor:amp=no"], "amp"), (["--batch-norm", "train"], "--batch-norm"),
        (["--defence", ".."], "--defence"), (["--defence", "a/b"], "--defence"),
        (["--defence", "sor", "--defence", "sor"], "--defence"), (["--defence", "madry-pgd:steps=0"], "steps"),
        (["--defence", "fbf", "--norm", "l2", "--eps", "0.5"], "L∞"), (["--defence", "trades:beta=-1"], "beta"),
        (["--defence", "gr:mode=triple"], "mode"), (["--defence", "cure:warmup_epochs=-1"], "warmup_epochs"),
        (["--defence", "llr:steps=0"], "steps"),
        (["--defence", "sor:penalty_warmup_epochs=-2"], "penalty_warmup_epochs"),
        (["--defence", "sor:objective=cubic"], "objective"), (["--defence", "pgd-at:step_size=0"], "step_size"),
        (["--recipe", "no-such-recipe"], "--recipe"), (["--recipe", w.bad_toml], "--recipe"),
        (["--recipe", w.unknown_key], "colour"), (["--recipe", w.bad_value], "lr"),
        (["--optimizer", "sgd", "--lr", "1e8"], "learning rate"),
    ]]
    cases += [("train --out inside a file", ["train", *QUICK, "--out", f"{w.file}/out"], "--out")]
    cases += [(f"compare {' '.join(args)}", [*compare, *args], name) for args, name in [
        (["--attack", "bim"], "--attack"), (["--attack", "pgd:steps=0"], "--attack"),
        (["--attack", "square:queries=0"], "--attack"), (["--attack", "pgd", "--attack", "pgd"], "--attack"),
        (["--budget", "0"], "--budget"), (["--budget", "-5"], "--budget"), (["--budget", "abc"], "--budget"),
        (["--budget", "10", "--budget-of", "pgd-at:1"], "--budget-of"), (["--budget-of", "pgd-at"], "--budget-of"),
        (["--budget-of", "magic:2"], "--budget-of"), (["--budget-of", "pgd-at:0"], "--budget-of"),
        (["--budget", "10", "--schedule", "cosine"], "--schedule"), (["--seeds", "a,b"], "--seeds"),
        (["--seeds", "0,0"], "--seeds"), (["--seeds", ","], "--seeds"), (["--monitor-attack", "bim"],
                                                                         "--monitor-attack"),
        (["--monitor-samples", "0"], "--monitor-samples"), (["--judge", str(w.root / "missing.pt")], "--judge"),
        (["--clock", "sundial"], "--clock"), (["--defence", "standard"], "--defence"),
    ]]
    cases += [(f"evaluate {label}", [*evaluate, *args], name) for label, args, name in [
        ("text file", [w.text], "cannot be read"), ("empty file", [w.empty], "empty"),
        ("truncated checkpoint", [w.truncated], "cannot be read"), ("bit-flipped checkpoint", [w.flipped],
                                                                    "checksum"),
        ("foreign dict", [w.foreign], "--architecture"), ("bare state_dict, no architecture", [w.bare],
                                                          "--architecture"),
        ("bare state_dict, wrong architecture", [w.bare, "--architecture", "resnet18"], "does not fit"),
        ("checkpoint with --architecture", [w.model, "--architecture", "small-cnn"], "--architecture"),
        ("other number of classes", [w.other_classes], "classes"), ("other input shape", [w.other_shape],
                                                                    "shape"),
        ("unknown norm in metadata", [w.bad_norm], "threat model"), ("attack typo", [w.model, "--attack", "pgdd"],
                                                                    "--attack"),
        ("attack option typo", [w.model, "--attack", "pgd:stpes=3"], "stpes"),
        ("Square under L1 (ART would run its L2 search)", [w.model, "--norm", "l1", "--attack", "square"], "--attack"),
        ("--data-root for bundled digits", [w.model, "--data-root", str(w.root)], "--data-root"),
        ("negative tolerance", [w.model, "--tolerance", "-1"], "--tolerance"),
        ("zero batch size", [w.model, "--batch-size", "0"], "--batch-size"),
        ("zero samples", [w.model, "--eval-samples", "0"], "--eval-samples"),
        ("missing file", [str(w.root / "missing.pt")], "CHECKPOINT"), ("a directory", [str(w.root)], "CHECKPOINT"),
        ("eps of zero", [w.model, "--eps", "0"], "--eps"),
        ("cuda without a GPU", [w.model, "--device", "cuda"], "--device"),
    ]]
    cases += [(f"explain {label}", [*explain, *args], name) for label, args, name in [
        ("image out of range", [w.model, "--image", "9999"], "--image"), ("negative eps", [w.model, "--eps", "-1"],
                                                                         "--eps"),
        ("zero steps", [w.model, "--steps", "0"], "--steps"), ("text judge", [w.model, "--judge", w.text],
                                                               "cannot be read"),
        ("text checkpoint", [w.text], "cannot be read"),
        ("cuda without a GPU", [w.model, "--device", "cuda"], "--device"),
    ]]
    cases += [("list unknown kind", ["list", "gadgets"], "gadgets")]
    cases += [(f"train --architecture {label}", [*train, "--architecture", spec, *args], name)
              for label, spec, args, name in [
        ("of the wrong output width", "fc_models:width", [], "--architecture"),
        ("of the wrong input size", "fc_models:input_size", [], "--architecture"),
        ("returning a tuple", "fc_models:pair", [], "--architecture"),
        ("of float64 parameters", "fc_models:double", [], "float64"),
        ("of float16 parameters on a CPU", "fc_models:half", [], "float16"),
        ("with BatchNorm1d, last batch of one", "fc_models:batch_norm", ["--batch-size", "3", "--train-samples",
                                                                          "100"], "--batch-size"),
        ("with BatchNorm1d, batch size one", "fc_models:batch_norm", ["--batch-size", "1"], "--batch-size"),
        ("with all parameters frozen", "fc_models:frozen", [], "trainable"),
        ("without parameters", "fc_models:no_parameters", [], "trainable"),
        ("returning NaN", "fc_models:nan", [], "NaN"),
        ("whose factory raises", "fc_models:fails", [], "--architecture"),
        ("whose forward raises", "fc_models:broken", [], "--architecture"),
        ("returning None", "fc_models:nothing", [], "--architecture"),
        ("naming a constant", "fc_models:CONSTANT", [], "--architecture"),
        ("naming a missing callable", "fc_models:absent", [], "--architecture"),
        ("with a syntax error", "fc_syntax:model", [], "--architecture"),
        ("raising at import", "fc_raises:model", [], "--architecture"),
        ("module: without a name", "fc_models:", [], "--architecture"),
        (":name without a module", ":width", [], "--architecture"),
    ]]
    cases += [(f"train --dataset npz with {label}", [*train, "--dataset", f"npz:{path}",
                                                       *(["--standardise"] if "standardise" in label else [])],
               name) for label, (path, name) in w.npz.items()]
    cases += [(f"train --dataset folder with {label}", [*train, "--dataset", f"folder:{path}"], name)
              for label, (path, name) in w.folders.items()]
    cases += [
        ("train again in a folder with another --lr",
         ["train", *QUICK, "--defence", "standard", "--out", w.changed, "--lr", "0.05"], "lr: 0.001 → 0.05"),
        ("train again in a folder with another --seed",
         ["train", *QUICK, "--defence", "standard", "--out", w.changed, "--seed", "3"], "seed: 0 → 3"),
        ("train again in a folder with another --batch-size",
         ["train", *QUICK, "--defence", "standard", "--out", w.changed, "--batch-size", "20"], "batch_size: 64 → 20"),
        ("evaluate a state_dict with a missing key", [*evaluate, w.missing_key, "--architecture", "small-cnn"],
         "missing"),
        ("compare --judge with 3 classes", [*compare, "--alignment", "--judge", w.other_classes], "--judge"),
        ("compare --judge of another input shape", [*compare, "--alignment", "--judge", w.other_shape], "--judge"),
        ("explain --judge with 3 classes", [*explain, w.model, "--judge", w.other_classes], "--judge"),
    ]
    return cases


def silent_result_cli_cases(w: Workspace) -> list[tuple[str, list[str], str, dict[str, str]]]:
    """Faults that once ran to a silent wrong result or a raw traceback: (description, arguments, name, env)."""
    out = ["--out", str(w.root / "out27")]
    train = ["train", *QUICK, *out]
    evaluate = ["evaluate", "--quiet", "--attack", "fgsm", "--no-curve", "--no-geometry", "--eval-samples", "10",
                "--out", str(w.root / "eval27")]
    explain = ["explain", "--out", str(w.root / "explain27")]
    compare = ["compare", "--defence", "standard", "--attack", "fgsm", "--no-alignment", "--no-diagnostics", *QUICK,
               *out]
    cases: list[tuple[str, list[str], str, dict[str, str]]] = []
    cases += [(f"evaluate a MadryLab checkpoint with {label}", [*evaluate, path, "--architecture", "small-cnn"],
               name, {}) for label, (path, name) in w.madry.items()]
    cases += [("evaluate a state_dict with a NaN bias", [*evaluate, w.nan_state, "--architecture", "small-cnn"],
               "not finite", {}),
              ("evaluate with --std 0", [*evaluate, w.bare, "--architecture", "small-cnn", "--mean", "0.5", "--std",
                                         "0"], "--std", {}),
              ("evaluate with --mean nan", [*evaluate, w.bare, "--architecture", "small-cnn", "--mean", "nan",
                                            "--std", "0.5"], "--mean", {}),
              ("explain a MadryLab checkpoint with std 0", [*explain, w.madry["std 0"][0], "--architecture",
                                                            "small-cnn"], "std", {}),
              ("compare --reference of a checkpoint with a NaN weight", [*compare, "--reference", w.nan_checkpoint],
               "7.weight", {})]
    cases += [(f"train {' '.join(args)}", [*train, *args], name, {}) for args, name in [
        (["--defence", "sor:hvp=exact,h=0.5"], "h=0.5 has no effect"),
        (["--defence", "sor:step=frank_wolfe"], "step='frank_wolfe' has no effect"),
        (["--defence", "sor:objective=perturbed,hvp=exact"], "hvp='exact' has no effect"),
        (["--defence", "sor:objective=perturbed,h=0.5"], "h=0.5 has no effect"),
        (["--defence", "gr:h=0.5"], "h=0.5 has no effect"),
        (["--batch-norm", "eval"], "batch_norm='eval' has no effect"),
        (["--defence", "pgd-at", "--batch-norm", "eval"], "batch_norm='eval' has no effect"),
        (["--defence", "sor:lam=0,penalty_warmup_epochs=2"], "penalty_warmup_epochs=2 has no effect"),
        (["--defence", "sor:lam=0,eps_warmup_epochs=2"], "eps_warmup_epochs=2 has no effect"),
        (["--defence", "gr:lam=0,penalty_warmup_epochs=1"], "penalty_warmup_epochs=1 has no effect"),
        (["--defence", "sor", "--micro-batch-size", "64"], "--micro-batch-size"),
        (["--defence", "sor", "--micro-batch-size", "500"], "--micro-batch-size"),
        (["--defence", "sor:micro_batch_size=16"], "takes no option 'micro_batch_size'"),
        (["--eps", "8"], "8/255"), (["--norm", "l2", "--eps", "4"], "--eps"),
        (["--norm", "l1", "--eps", "40"], "--eps"),
        (["--dataset", "npz"], "npz:PATH"), (["--dataset", "npz:"], "npz:PATH"),
        (["--epochs", "2", "--optimizer", "sgd", "--schedule", "multistep", "--milestones", "1", "--gamma", "1e308"],
         "--gamma"),
        (["--log-dir", f"{w.file}/logs"], "--log-dir"), (["--mlflow-uri", Path(f"{w.file}/ml").as_uri()],
                                                         "--mlflow-uri"),
    ]]
    cases += [(f"train --dataset npz with {label}", [*train, "--dataset", f"npz:{path}"], name, {})
              for label, (path, name) in w.npz_faults.items()]
    cases += [("evaluate --eps 8", [*evaluate, w.model, "--eps", "8"], "8/255", {}),
              ("compare --eps 8", [*compare, "--eps", "8"], "8/255", {}),
              ("compare --budget-of fbf:1 --norm l2", [*compare, "--budget-of", "fbf:1", "--norm", "l2", "--eps",
                                                       "0.5"], "--budget-of", {}),
              ("evaluate into a train folder", [*evaluate[:-1], w.changed, w.model], "command train", {}),
              ("explain into a train folder", ["explain", "--out", w.changed, w.model], "command train", {}),
              ("train --defence gr into a standard train folder",
               ["train", *QUICK, "--defence", "gr", "--out", w.changed], "defences", {}),
              ("train into an evaluate folder", ["train", *QUICK, "--defence", "standard", "--out", w.evaluated],
               "command evaluate", {}),
              ("compare into a train folder", [*compare[:-1], w.changed], "not of compare", {}),
              ("ART_SOR_THREADS=abc", ["list", "defences"], "ART_SOR_THREADS", {"ART_SOR_THREADS": "abc"}),
              ("ART_SOR_THREADS=0", ["list", "defences"], "ART_SOR_THREADS", {"ART_SOR_THREADS": "0"}),
              ("--threads after the command", ["list", "defences", "--threads", "1"], "goes before the command", {}),
              ("--threads 100000", ["--threads", "100000", "list", "defences"], "--threads", {}),
              ("evaluate a file that needs code to load", [*evaluate, w.pickled], "Unsupported global", {})]
    return cases


def api_cases(w: Workspace) -> list[tuple[str, Callable[[], Any], str]]:
    """(description, call, what the message must name)."""
    data = load_digits()
    x, y = data.x_train[:120], data.y_train[:120]

    def classifier(model: nn.Module | None = None, **kwargs: Any):
        torch.manual_seed(0)
        model = model or build_model("small-cnn", (1, 8, 8), 10)
        return wrap_model(model, (1, 8, 8), 10, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                          clip_values=(0.0, 1.0), device="cpu", **kwargs)

    def fit(**kwargs: Any) -> Callable[[], Any]:
        arguments = {"x": x, "y": y, "nb_epochs": 1, "verbose": False, **kwargs}
        return lambda: SORTrainer(classifier(), THREAT).fit(**arguments)

    class Output(nn.Module):
        def __init__(self, kind: str, width: int = 10) -> None:
            super().__init__()
            self.fc, self.kind = nn.Linear(64, width), kind

        def forward(self, inputs: torch.Tensor):
            logits = self.fc(inputs.flatten(1))
            return {"tensor": logits, "tuple": (logits,), "dict": {"y": logits}}[self.kind]

    one_hot_bad = np.full((len(y), 10), 0.1)
    nan_x, outside = x.copy(), x * 255
    nan_x[0, 0, 0, 0] = np.nan
    bn1d = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    cases = [(f"ThreatModel({label})", (lambda args=args: ThreatModel(*args)), name) for label, args, name in [
        ("eps=0", (0.0, "inf"), "eps"), ("eps=-1", (-1.0, "inf"), "eps"), ("eps=nan", (float("nan"), "inf"), "eps"),
        ("eps='a'", ("a", "inf"), "eps"), ("norm=3", (0.1, 3), "norm"), ("norm='l3'", (0.1, "l3"), "norm"),
    ]]
    cases += [("SORTrainer(eps=0.1)", lambda: SORTrainer(classifier(), 0.1), "threat")]
    cases += [(f"SORTrainer({label})", (lambda kw=kw: SORTrainer(classifier(), THREAT, **kw)), name)
              for label, kw, name in [
        ("iterations=0", {"iterations": 0}, "iterations"),
        ("iterations=True", {"iterations": True}, "iterations"), ("h=0", {"h": 0.0}, "h"),
        ("lam=-1", {"lam": -1.0}, "lam"), ("hvp='fast'", {"hvp": "fast"}, "hvp"),
        ("step='momentum'", {"step": "momentum"}, "step"),
        ("random_start='yes'", {"random_start": "yes"}, "random_start"),
        ("objective='cubic'", {"objective": "cubic"}, "objective"),
        ("eps_warmup_epochs=-1", {"eps_warmup_epochs": -1}, "eps_warmup_epochs"),
    ]]
    cases += [("StepSettings(amp='no')", lambda: StepSettings(amp="no"), "amp"),
              ("StepSettings(batch_norm='train')", lambda: StepSettings(batch_norm="train"), "batch_norm")]
    cases += [(f"fit({label})", call, name) for label, call, name in [
        ("x as a list", fit(x=list(x)), "x"), ("x with NaN", fit(x=nan_x), "NaN"),
        ("x in 0..255", fit(x=outside), "clip_values"), ("x float64", fit(x=x.astype(np.float64)), "float64"),
        ("x of another shape", fit(x=x.reshape(len(x), 64)), "input_shape"),
        ("labels out of range", fit(y=np.where(y == 0, 10, y)), "labels outside"),
        ("labels not one-hot", fit(y=one_hot_bad), "one-hot"), ("lengths differ", fit(y=y[:-1]), "lengths"),
        ("batch_size=0", fit(batch_size=0), "batch_size"), ("nb_epochs=0", fit(nb_epochs=0), "nb_epochs"),
        ("scheduler=0.5", fit(scheduler=0.5), "scheduler"),
        ("scheduler of another optimizer", fit(scheduler=torch.optim.lr_scheduler.StepLR(other, 1)), "scheduler"),
        ("scheduler_interval='step'", fit(scheduler_interval="step"), "scheduler_interval"),
        ("resume without checkpoint_dir", fit(resume=True), "checkpoint_dir"),
        ("validation_data of 3", fit(validation_data=(x, y, y)), "validation_data"),
        ("validation labels short", fit(validation_data=(x, y[:-1])), "validation_data"),
    ]]
    cases += [(f"model {label}", (lambda m=m: SORTrainer(classifier(m), THREAT).fit(x, y, nb_epochs=1,
                                                                                    verbose=False)), name)
              for label, m, name in [("with 12 outputs", Output("tensor", 12), "nb_classes"),
                                     ("returning a tuple", Output("tuple"), "tuple"),
                                     ("returning a dict", Output("dict"), "dict"),
                                     ("float64 with float32 data", Output("tensor").double(), "float64")]]
    cases += [("BatchNorm1d batch of one",
               lambda: SORTrainer(classifier(bn1d), THREAT).fit(x[:101], y[:101], batch_size=50, nb_epochs=1,
                                                                 verbose=False), "BatchNorm1d"),
              ("not an ART PyTorchClassifier", lambda: SORTrainer(object(), THREAT), "classifier"),
              ("classifier without optimizer",
               lambda: SORTrainer(wrap_model(build_model("small-cnn", (1, 8, 8), 10), (1, 8, 8), 10), THREAT),
               "optimizer"),
              ("evaluate_attacks with an unknown attack",
               lambda: evaluate_attacks(classifier(), x, y, ThreatModel(0.1, "inf"), ["bim"]), "bim"),
              ("ThreatModel(eps=-1)", lambda: ThreatModel(-1, "inf"), "eps"),
              ("resume a corrupted training state", lambda: _corrupt_resume(w, data), "checksum")]
    frozen = build_model("small-cnn", (1, 8, 8), 10).requires_grad_(False)
    nan_model = Output("tensor")
    nan_model.fc.bias.data[:] = float("nan")
    cases += [("fit(x complex)", fit(x=x.astype(np.complex64)), "complex"),
              ("model float16 on a CPU", lambda: SORTrainer(classifier(Output("tensor").half()), THREAT).fit(
                  x.astype(np.float16), y, nb_epochs=1, verbose=False), "float16"),
              ("model returning NaN", lambda: SORTrainer(classifier(nan_model), THREAT).fit(
                  x, y, nb_epochs=1, verbose=False), "NaN"),
              ("model with all parameters frozen", lambda: SORTrainer(classifier(frozen), THREAT), "trainable"),
              ("fit_generator whose get_batch raises", lambda: SORTrainer(classifier(), THREAT).fit_generator(
                  _Generator(x, y, "raise"), nb_epochs=1, verbose=False), "get_batch"),
              ("fit_generator whose get_batch returns three items",
               lambda: SORTrainer(classifier(), THREAT).fit_generator(_Generator(x, y, "three"), nb_epochs=1,
                                                                       verbose=False), "get_batch"),
              ("fit_generator whose get_batch returns an array",
               lambda: SORTrainer(classifier(), THREAT).fit_generator(_Generator(x, y, "array"), nb_epochs=1,
                                                                       verbose=False), "get_batch"),
              ("resume with an optimizer of another lr", lambda: _resume_other_lr(w, x, y, classifier),
               "lr: 0.001 → 0.1"),
              ("a full disk while saving the training state", lambda: _full_disk(w, data), "no space left"),
              ("alignment_scores with a judge of 3 classes", lambda: alignment_scores(
                  classifier(), x[:4], y[:4], load_classifier(w.other_classes, device="cpu")[0], 2), "judge"),
              ("load_npz with a label of 2**40", lambda: load_npz(w.npz["label 2**40"][0]), "y_train"),
              ("load_image_folder with a corrupt PNG", lambda: load_image_folder(w.folders["a corrupt PNG"][0]),
               "bad.png")]
    return cases


def silent_result_api_cases(w: Workspace) -> list[tuple[str, Callable[[], Any], str]]:
    """Faults of the Python API that once ran to a silent wrong result or a raw traceback."""
    data = load_digits()
    x, y = data.x_train[:120], data.y_train[:120]

    def classifier(model: nn.Module | None = None) -> Any:
        torch.manual_seed(0)
        model = model or build_model("small-cnn", (1, 8, 8), 10)
        return wrap_model(model, (1, 8, 8), 10, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                          clip_values=(0.0, 1.0), device="cpu")

    def linear(bias: float = 0.0) -> nn.Module:
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        model[1].bias.data[0] = bias
        return model

    def trainer(**kwargs: Any) -> Callable[[], Any]:
        return lambda: SORTrainer(classifier(), THREAT, **kwargs)

    def fit(trainer_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Callable[[], Any]:
        arguments = {"x": x, "y": y, "nb_epochs": 1, "verbose": False, **kwargs}
        return lambda: SORTrainer(classifier(), **{"threat": THREAT, **(trainer_kwargs or {})}).fit(**arguments)

    def generator(fault: str) -> Callable[[], Any]:
        from art.data_generators import NumpyDataGenerator, PyTorchDataGenerator
        from torch.utils.data import DataLoader, TensorDataset

        dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        made = {"loader of 32 declared 64": lambda: PyTorchDataGenerator(DataLoader(dataset, batch_size=32), 120, 64),
                "size 200 over 120": lambda: PyTorchDataGenerator(DataLoader(dataset, batch_size=40), 200, 40),
                "drop_last": lambda: PyTorchDataGenerator(DataLoader(dataset, batch_size=50, drop_last=True), 120,
                                                          50),
                "drop_remainder": lambda: NumpyDataGenerator(x, y, batch_size=50),
                "yielding 30 declared 60": lambda: _Generator(x, y, "size", 60)}[fault]
        return lambda: SORTrainer(classifier(), THREAT).fit_generator(made(), nb_epochs=1, verbose=False)

    cases: list[tuple[str, Callable[[], Any], str]] = []
    cases += [(f"open_model of a MadryLab checkpoint with {label}",
               lambda p=path: open_model(Path(p), data, "small-cnn", "cpu"), name)
              for label, (path, name) in w.madry.items()]
    cases += [("open_model of a state_dict with a NaN bias",
               lambda: open_model(Path(w.nan_state), data, "small-cnn", "cpu"), "not finite"),
              ("open_model with standardisation std 0",
               lambda: open_model(Path(w.bare), data, "small-cnn", "cpu", ((0.5,), (0.0,))), "std"),
              ("wrap_model with preprocessing std 0",
               lambda: wrap_model(linear(), (1, 8, 8), 10, preprocessing=(0.0, 0.0), device="cpu"), "std"),
              ("wrap_model with a NaN mean",
               lambda: wrap_model(linear(), (1, 8, 8), 10, preprocessing=(float("nan"), 1.0), device="cpu"), "mean"),
              ("wrap_model of a model on the meta device",
               lambda: wrap_model(linear().to("meta"), (1, 8, 8), 10, device="cpu"), "meta"),
              ("evaluate_classifier of a model returning NaN",
               lambda: evaluate_classifier(classifier(linear(float("nan"))), x[:10], y[:10],
                                           EvaluationPlan(ThreatModel(0.1, "inf"), ["fgsm"], curve=False,
                                                          geometry=False), verbose=False), "NaN or inf"),
              ("evaluate_classifier with float64 x",
               lambda: evaluate_classifier(classifier(), x[:10].astype(np.float64), y[:10],
                                           EvaluationPlan(ThreatModel(0.1, "inf"), ["fgsm"], curve=False,
                                                          geometry=False), verbose=False), "float64"),
              ("evaluate_classifier at L∞ ε 8 on [0, 1]",
               lambda: evaluate_classifier(classifier(), x[:10], y[:10],
                                           EvaluationPlan(ThreatModel(8, "inf"), ["fgsm"], curve=False,
                                                          geometry=False), verbose=False), "8/255"),
              ("explain_classifier of a model returning NaN",
               lambda: explain_classifier(classifier(linear(float("nan"))), x[:2], y[:2], tuple("0123456789"),
                                          w.root / "explain-nan", ExplanationPlan(name="nan")), "NaN or inf")]
    cases += [(f"SORTrainer({label})", trainer(**kwargs), name) for label, kwargs, name in [
        ("hvp='exact', h=0.5", {"hvp": "exact", "h": 0.5}, "h=0.5 has no effect"),
        ("step='frank_wolfe'", {"step": "frank_wolfe"}, "step='frank_wolfe' has no effect"),
        ("objective='perturbed', hvp='exact'", {"objective": "perturbed", "hvp": "exact"}, "hvp='exact'"),
        ("batch_norm='eval' without batch norm", {"step_settings": StepSettings(batch_norm="eval")},
         "batch_norm='eval' has no effect"),
        ("lam=0, penalty_warmup_epochs=2", {"lam": 0.0, "penalty_warmup_epochs": 2}, "penalty_warmup_epochs"),
        ("lam=0, eps_warmup_epochs=2", {"lam": 0.0, "eps_warmup_epochs": 2}, "eps_warmup_epochs"),
    ]]
    cases += [("GradientNormRegularizer(h=0.5) with double_backprop",
               lambda: GradientNormRegularizer(THREAT, h=0.5), "h=0.5 has no effect"),
              ("OptimizerSettings('adam', momentum=0.5)", lambda: OptimizerSettings("adam", 0.1, momentum=0.5),
               "momentum"),
              ("ScheduleSettings('cosine', gamma=0.5)", lambda: ScheduleSettings("cosine", gamma=0.5), "gamma"),
              ("ScheduleSettings('constant', milestones=(3,))", lambda: ScheduleSettings("constant", (3,)),
               "milestones")]
    cases += [(f"fit({label})", call, name) for label, call, name in [
        ("micro_batch_size=128 over batches of 64",
         fit({"step_settings": StepSettings(micro_batch_size=128)}, batch_size=64), "micro_batch_size 128"),
        ("eps=8 on [0, 1]", fit({"threat": ThreatModel(8, "inf")}), "8/255"),
        ("a model expecting another input size",
         lambda: SORTrainer(classifier(nn.Sequential(nn.Flatten(), nn.Linear(32, 10))), THREAT).fit(
             x, y, nb_epochs=1, verbose=False), "input_shape"),
        ("checkpoint_dir that is a file", fit(checkpoint_dir=w.file), "checkpoint_dir"),
    ]]
    cases += [(f"fit_generator with a generator {label}", generator(label), name) for label, name in [
        ("loader of 32 declared 64", "generator.batch_size"), ("size 200 over 120", "generator.size"),
        ("drop_last", "drop_last"), ("drop_remainder", "drop_remainder"),
        ("yielding 30 declared 60", "generator.batch_size")]]
    cases += [(f"resume {label}", lambda f=label: _other_resume(w, x, y, classifier, f), name) for label, name in [
        ("on a subset of the training data", "training data"), ("without the run's scheduler", "scheduler"),
        ("with another model", "another model"), ("fresh into another run's checkpoint_dir", "overwrite=True")]]
    cases += [("resume after the optimizer's lr was changed once the trainer was built",
               lambda: _changed_after(w, x, y, classifier),
               "changed after this trainer was built")]
    cases += [("train_defence over another defence's interrupted run", lambda: _other_defence(w, data),
               "interrupted run"),
              ("train_defence best-robust without its best-epoch file", lambda: _lost_best(w, data), "best_robust.pt"),
              ("Tracking(log_dir under a file).check()", lambda: Tracking(log_dir=Path(w.file) / "logs").check(),
               "log_dir"),
              ("read_torch_dict of a file that needs code", lambda: read_torch_dict(w.pickled, "a state_dict"),
               "Unsupported global"),
              ("load_npz of channels-last images", lambda: load_npz(w.npz_faults["channels last"][0]),
               "channels last"),
              ("load_npz of an empty test split", lambda: load_npz(w.npz_faults["an empty test split"][0]), "x_test"),
              ("load_npz of a .npy file", lambda: load_npz(w.npz_faults["a .npy file"][0]), ".npy"),
              ("the file-size limit while saving a training state",
               lambda: _file_size_limit(w, lambda: save_checked(w.root / "big.pt", {"w": torch.zeros(100_000)})),
               "big.pt"),
              ("the file-size limit while writing a report",
               lambda: _file_size_limit(w, lambda: write_text(w.root / "big.json", "x" * 200_000)), "big.json")]
    return cases


def result_cases(w: Workspace) -> list[tuple[str, Callable[[], str | None]]]:
    """Inputs that must work: (description, check returning what is wrong, or ``None``)."""

    def deep_folder() -> str | None:
        data = load_image_folder(w.deep)
        # Pixel values (k + 1) * 1000 (+ 20000 for class b) of 65535, three images per class.
        expected = {round(((k + 1) * 1000 + b * 20000) / 65535, 5) for k in range(3) for b in (0, 1)}
        found = {round(float(v), 5) for v in np.unique(data.x_train)}
        return None if found == expected else f"16-bit levels {sorted(expected)} read as {sorted(found)}"

    def negative_strides() -> str | None:
        data = load_digits()
        x, y = data.x_train[:100][::-1], data.y_train[:100][::-1]
        model = build_model("small-cnn", (1, 8, 8), 10)
        classifier = wrap_model(model, (1, 8, 8), 10, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                                device="cpu")
        history = SORTrainer(classifier, THREAT).fit(x, y, nb_epochs=1, verbose=False)
        return None if len(history) == 1 and x.strides[0] < 0 else "negative-stride arrays did not train"

    def ledger_lost() -> str | None:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        args = ["train", *QUICK, "--defence", "standard", "--out", str(w.root / "ledger"), "--log-dir",
                str(w.root / "ledger-tb")]
        for _ in range(2):
            done = CliRunner().invoke(art_sor_cli, args)
            if done.exit_code != 0:
                return done.output[-300:]
            (w.root / "ledger" / "standard" / "tracking.json").unlink()
        steps = [event.step for path in (w.root / "ledger-tb" / "standard").glob("events.out.tfevents.*")
                 for event in EventFileLoader(str(path)).Load()
                 if event.HasField("summary") and any(v.tag == "train/loss" for v in event.summary.value)]
        return None if steps == [1] else f"train/loss logged at steps {sorted(steps)} after the ledger was lost"

    return [("load_image_folder of 16-bit greyscale PNGs", deep_folder),
            ("fit on arrays with negative strides", negative_strides),
            ("a rerun after tracking.json is lost logs each epoch to TensorBoard once", ledger_lost)]


class _Generator(DataGenerator):
    """A user's generator with one fault: ``get_batch`` raises, returns three items or a bare array, or (``size``)
    yields batches of 30 while declaring ``batch_size``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, fault: str, batch_size: int = 30) -> None:
        super().__init__(len(x), batch_size)
        self.x, self.y, self.fault = x, y, fault

    def get_batch(self) -> Any:
        if self.fault == "raise":
            raise OSError("the network share went away")
        if self.fault == "three":
            return self.x[:30], self.y[:30], None
        if self.fault == "size":
            return self.x[:30], self.y[:30]
        return self.x[:30]


def _other_resume(w: Workspace, x: np.ndarray, y: np.ndarray, classifier: Callable[..., Any], fault: str) -> None:
    """A first run with a OneCycle schedule, then a resume (or fresh fit) that is not that run."""
    folder = w.root / f"resume-{fault.replace(' ', '-')}"

    def one_cycle(trained: Any) -> Any:
        return torch.optim.lr_scheduler.OneCycleLR(trained.optimizer, max_lr=1e-3, epochs=2, steps_per_epoch=2)

    first = classifier()
    SORTrainer(first, THREAT).fit(x, y, nb_epochs=1, batch_size=64, verbose=False, checkpoint_dir=folder,
                                   scheduler=one_cycle(first), scheduler_interval="batch")
    other = classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10))) if fault == "with another model" \
        else classifier()
    resumed = SORTrainer(other, THREAT)  # built before its scheduler, as the first run's was
    arguments = {"x": x[:100] if fault.startswith("on a subset") else x, "y": y[:100] if fault.startswith(
        "on a subset") else y, "nb_epochs": 2, "batch_size": 64, "verbose": False, "checkpoint_dir": folder,
                 "resume": not fault.startswith("fresh")}
    if fault != "without the run's scheduler":
        arguments.update(scheduler=one_cycle(other), scheduler_interval="batch")
    resumed.fit(**arguments)


def _changed_after(w: Workspace, x: np.ndarray, y: np.ndarray, classifier: Callable[..., Any]) -> None:
    folder = w.root / "changed-after"
    SORTrainer(classifier(), THREAT).fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=folder)
    fresh = classifier()
    trainer = SORTrainer(fresh, THREAT)
    for group in fresh.optimizer.param_groups:
        group["lr"] = 0.1
    trainer.fit(x, y, nb_epochs=2, verbose=False, checkpoint_dir=folder, resume=True)


def _other_defence(w: Workspace, data: Any) -> None:
    folder = w.root / "other-defence"
    setup = TrainingSetup(epochs=1, batch_size=50, train_samples=100, device="cpu")
    train_defence("standard", data, ThreatModel(0.2, "inf"), setup, folder, verbose=False)
    (folder / "model.pt").unlink()
    train_defence("sor", data, ThreatModel(0.2, "inf"), setup, folder, verbose=False)


def _lost_best(w: Workspace, data: Any) -> None:
    folder = w.root / "lost-best"
    setup = TrainingSetup(epochs=1, batch_size=50, train_samples=150, device="cpu", select="best-robust",
                          validation_samples=30)
    train_defence("standard", data, ThreatModel(0.2, "inf"), setup, folder, verbose=False)
    for name in ("model.pt", "best_robust.pt"):
        (folder / name).unlink()
    train_defence("standard", data, ThreatModel(0.2, "inf"), setup, folder, verbose=False)


def _file_size_limit(w: Workspace, write: Callable[[], Any]) -> None:
    """``write`` under a file-size limit of 100 kB (the process ignores SIGXFSZ, so the write fails with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
    try:
        write()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _resume_other_lr(w: Workspace, x: np.ndarray, y: np.ndarray, classifier: Callable[..., Any]) -> None:
    folder = w.root / "resume-lr"
    SORTrainer(classifier(), THREAT).fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=folder)
    fresh = classifier()
    for group in fresh.optimizer.param_groups:
        group["lr"] = 0.1
    SORTrainer(fresh, THREAT).fit(x, y, nb_epochs=2, verbose=False, checkpoint_dir=folder, resume=True)


def _full_disk(w: Workspace, data: Any) -> None:
    setup = TrainingSetup(epochs=1, batch_size=50, train_samples=100, device="cpu")
    save = torch.save

    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    torch.save = no_space
    try:
        train_defence("standard", data, ThreatModel(0.2, "inf"), setup, w.root / "full", verbose=False)
    finally:
        torch.save = save


def _corrupt_resume(w: Workspace, data: Any) -> None:
    folder = w.root / "corrupt"
    setup = TrainingSetup(epochs=1, batch_size=50, train_samples=100, device="cpu")
    train_defence("standard", data, ThreatModel(0.2, "inf"), setup, folder, verbose=False)
    (folder / "model.pt").unlink()
    state = torch.load(folder / "training_state.pt", weights_only=True)
    next(iter(state["model"].values())).view(-1)[0] += 1.0
    torch.save(state, folder / "training_state.pt")
    train_defence("standard", data, ThreatModel(0.2, "inf"), replace(setup, epochs=2), folder, verbose=False)


def classify_cli(result: Any, name: str) -> tuple[str, str]:
    message = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "crash", f"{type(result.exception).__name__}: {result.exception}"
    if result.exit_code == 0:
        return "silent", "exit status 0"
    if len(result.output) > BURIED:
        return "unclear", f"{len(result.output)} characters of output: {message}"
    return ("clear" if name in result.output else "unclear"), message


def classify_result(check: Callable[[], str | None]) -> tuple[str, str]:
    try:
        wrong = check()
    except Exception as error:
        return "crash", "".join(traceback.format_exception_only(type(error), error)).strip()
    return ("silent", wrong) if wrong else ("clear", "works")


def classify_api(call: Callable[[], Any], name: str) -> tuple[str, str]:
    try:
        call()
    except DELIBERATE as error:
        return ("clear" if re.search(re.escape(name), str(error)) else "unclear"), f"{type(error).__name__}: {error}"
    except Exception as error:
        return "crash", "".join(traceback.format_exception_only(type(error), error)).strip()
    return "silent", "no error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="fault-cases", help="folder for fault_cases.md and fault_cases.json")
    parser.add_argument("--match", default="", help="run only the cases whose description contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        runner = CliRunner()
        every = [(*case, {}) for case in cli_cases(workspace)] + silent_result_cli_cases(workspace)
        for label, arguments, name, env in [case for case in every if args.match in case[0]]:
            result = runner.invoke(art_sor_cli, arguments, env=env)
            outcome, message = classify_cli(result, name)
            rows.append({"kind": "CLI", "case": label, "expects": name, "outcome": outcome, "message": message})
        for label, call, name in [case for case in api_cases(workspace) + silent_result_api_cases(workspace)
                                  if args.match in case[0]]:
            outcome, message = classify_api(call, name)
            rows.append({"kind": "API", "case": label, "expects": name, "outcome": outcome, "message": message})
        for label, check in [case for case in result_cases(workspace) if args.match in case[0]]:
            outcome, message = classify_result(check)
            rows.append({"kind": "result", "case": label, "expects": "a correct result", "outcome": outcome,
                         "message": message})
    counts = Counter(row["outcome"] for row in rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault_cases.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    lines = [f"{len(rows)} cases: " + ", ".join(f"{counts[k]} {k}" for k in ("clear", "unclear", "silent", "crash")),
             "", "| kind | case | must name | outcome | message |", "|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['case']} | {r['expects'].replace('|', '/')} | {r['outcome']} | "
              f"{r['message'][:160].replace('|', '/')} |" for r in rows]
    (out / "fault_cases.md").write_text("\n".join(lines) + "\n")
    print(lines[0])
    for row in rows:
        if row["outcome"] != "clear":
            print(f"  {row['outcome']:<8} {row['kind']} {row['case']}: {row['message'][:200]}")
    os.sync()


if __name__ == "__main__":
    main()
