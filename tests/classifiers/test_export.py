"""Exports of an art-sor checkpoint open again as published models with the same predictions and evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from art_sor.classifiers.checkpoints import load_classifier, save_classifier
from art_sor.classifiers.export import Standardised, export_madry, export_pytorch, export_robustbench
from art_sor.classifiers.opening import open_model
from art_sor.classifiers.wrapping import standardisation_arrays, wrap_model
from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.models import build_model
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup

EVALUATE = ["--attack", "fgsm", "--attack", "pgd:steps=5", "--eval-samples", "60", "--no-curve", "--no-geometry",
            "--quiet", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("trained") / "standard"
    setup = TrainingSetup(epochs=2, batch_size=64, standardise=True, device="cpu")
    train_defence("standard", digits, ThreatModel(0.2, "inf"), setup, folder, verbose=False)
    return folder / "model.pt"


def _evaluation(path, tmp_path, name, *extra):
    result = CliRunner().invoke(main, ["evaluate", str(path), *extra, *EVALUATE, "--out", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    robustness = json.loads((tmp_path / name / "report.json").read_text())["evaluation"]["robustness"]
    return robustness["clean"], [(a["label"], a["robust"]) for a in robustness["attacks"]], robustness["threat"]


@pytest.mark.parametrize("kind", ["pytorch", "madry"])
def test_an_export_opens_with_the_same_predictions_and_evaluation(checkpoint, digits, tmp_path, kind):
    original, _ = load_classifier(checkpoint, device="cpu")
    if kind == "pytorch":
        path, architecture = export_pytorch(checkpoint, tmp_path / "model.pt2"), None
        # Torch alone opens it, with the standardisation inside: images in [0, 1] in, logits out.
        module = torch.export.load(str(path)).module()
        logits = module(torch.from_numpy(digits.x_test[:7])).detach().numpy()
        np.testing.assert_allclose(logits, original.predict(digits.x_test[:7]), rtol=1e-5, atol=1e-5)
    else:
        path, architecture = export_madry(checkpoint, tmp_path / "madry.pt"), "small-cnn"
    opened = open_model(path, digits, architecture, device="cpu")
    np.testing.assert_array_equal(opened.classifier.predict(digits.x_test).argmax(axis=1),
                                  original.predict(digits.x_test).argmax(axis=1))
    threat = ["--eps", "0.2", "--norm", "inf"]  # an export records no training radius
    assert _evaluation(path, tmp_path, "export", *threat, *(["--architecture", architecture] if architecture
                                                            else [])) == _evaluation(checkpoint, tmp_path, "original")


def test_robustbench_loads_the_exported_entry(tmp_path, monkeypatch):
    from art_sor.classifiers.published import _robustbench

    try:
        utils, zoo, enums = _robustbench()
    except ImportError:
        pytest.skip("needs the robustbench extra")
    torch.manual_seed(0)
    network = build_model("small-cnn", (3, 32, 32), 10)
    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
    classifier = wrap_model(network, (3, 32, 32), 10, preprocessing=standardisation_arrays(mean, std), device="cpu")
    run = {"threat": {"eps": 8 / 255, "norm": "inf"}, "dataset": {"spec": "cifar10"},
           "defence": {"spec": "standard"}, "setup": {"architecture": "small-cnn"}}
    path = save_classifier(tmp_path / "model.pt", classifier, "small-cnn", {"run": run})
    files = export_robustbench(path, tmp_path / "zoo", "Tester2026Export", clean_accuracy=0.5)
    card = json.loads(files["model_info"].read_text())
    assert card["eps"] == "8/255" and card["clean_acc"] == "50.00" and card["architecture"] == "small-cnn"
    entries = zoo.model_dicts[enums.BenchmarkDataset("cifar10")][enums.ThreatModel("Linf")]
    monkeypatch.setitem(entries, "Tester2026Export", {
        "model": lambda: Standardised(build_model("small-cnn", (3, 32, 32), 10), [1.0] * 3, [1.0] * 3),
        "gdrive_id": "not-downloaded"})
    loaded = utils.load_model("Tester2026Export", model_dir=str(tmp_path / "zoo"), dataset="cifar10",
                              threat_model="Linf").eval()
    x = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(loaded(torch.from_numpy(x)).detach().numpy(), classifier.predict(x), rtol=1e-5,
                               atol=1e-5)


def test_robustbench_refuses_l1_and_other_shapes(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="3×32×32"):
        export_robustbench(checkpoint, tmp_path, "X")


def test_export_cli_prints_how_to_load_each_file(checkpoint, tmp_path):
    result = CliRunner().invoke(main, ["export", str(checkpoint), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "torch.export.load(" in result.output and "--architecture small-cnn --dataset digits" in result.output
    assert (tmp_path / "model.pt2").is_file() and (tmp_path / "madry_checkpoint.pt").is_file()
    refused = CliRunner().invoke(main, ["export", str(checkpoint), "--format", "robustbench", "--out", str(tmp_path)])
    assert refused.exit_code != 0 and "--format" in refused.output and "Traceback" not in refused.output


def test_the_model_card_takes_its_accuracies_from_the_models_own_evaluation(checkpoint, tmp_path):
    from art_sor.classifiers.export import ExportedModel, accuracies_of

    _evaluation(checkpoint, tmp_path, "eval")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    exported = ExportedModel.read(checkpoint)
    assert accuracies_of(report, exported) == (report["clean_accuracy"], None)  # no autoattack-standard in it
    report["evaluation"]["robustness"]["attacks"].append({"spec": "autoattack-standard", "accuracy": 0.25})
    assert accuracies_of(report, exported)[1] == 0.25
    report["model"] = {"checkpoint": "another"}
    with pytest.raises(ValueError, match="another model"):
        accuracies_of(report, exported)
