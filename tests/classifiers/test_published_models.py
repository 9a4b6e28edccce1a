"""Models from outside art-sor: MadryLab ``robustness`` checkpoints, RobustBench models by name, --mean / --std.

Every checkpoint is written here in the layout its library uses; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from art_sor.classifiers.checkpoints import save_classifier
from art_sor.classifiers.opening import ModelMismatchError, open_model
from art_sor.classifiers.published import RobustBenchModel, _robustbench, load_madry_classifier, robustbench_network
from art_sor.classifiers.wrapping import wrap_model
from art_sor.cli import main
from art_sor.data import Dataset
from art_sor.data.bundled import load_foolbox_cifar10
from art_sor.models import build_model
from art_sor.storage import CorruptFileError

CIFAR_MEAN = torch.tensor([0.4914, 0.4822, 0.4465])
CIFAR_STD = torch.tensor([0.2023, 0.1994, 0.2010])
"""robustness.datasets.CIFAR's normaliser, which the SOR paper's checkpoints carry."""


def madry_resnet18_shapes(classes: int = 10) -> dict[str, tuple[int, ...]]:
    """The state_dict of MadryLab's ``cifar_models.resnet.ResNet18``, written out from that library's definition.

    ResNet(BasicBlock, [2, 2, 2, 2]): conv1/bn1 stem of 64, layers of widths 64, 128, 256, 512 (stride 1, 2, 2, 2),
    BasicBlock conv1/bn1/conv2/bn2 with a 1×1 conv + BN ``shortcut`` where the shape changes, then ``linear``.
    """
    def bn(prefix: str, width: int) -> dict[str, tuple[int, ...]]:
        return {f"{prefix}.weight": (width,), f"{prefix}.bias": (width,), f"{prefix}.running_mean": (width,),
                f"{prefix}.running_var": (width,), f"{prefix}.num_batches_tracked": ()}

    shapes = {"conv1.weight": (64, 3, 3, 3), **bn("bn1", 64)}
    planes = 64
    for layer, (width, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), 1):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            shapes |= {f"{prefix}.conv1.weight": (width, planes, 3, 3), **bn(f"{prefix}.bn1", width),
                       f"{prefix}.conv2.weight": (width, width, 3, 3), **bn(f"{prefix}.bn2", width)}
            if block == 0 and (stride != 1 or planes != width):
                shapes |= {f"{prefix}.shortcut.0.weight": (width, planes, 1, 1), **bn(f"{prefix}.shortcut.1", width)}
            planes = width
    return shapes | {"linear.weight": (classes, 512), "linear.bias": (classes,)}


def random_resnet18(seed: int = 0) -> torch.nn.Module:
    """art-sor's resnet18 with random weights and batch-norm statistics (so that eval mode matters)."""
    torch.manual_seed(seed)
    network = build_model("resnet18", (3, 32, 32), 10)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return network.eval()


def write_madry_checkpoint(path: Path, network: torch.nn.Module, legacy: bool = False) -> Path:
    """What ``robustness.train`` saves: the DataParallel AttackerModel's state_dict (its normaliser, the network,
    and the attacker's copies of both), with the epoch, optimizer and schedule beside it.
    """
    model = {}
    for key, value in network.state_dict().items():
        model[f"module.model.{key}"] = value
        model[f"module.attacker.model.{key}"] = value
    for prefix in ("module.normalizer", "module.attacker.normalize"):
        model[f"{prefix}.new_mean"] = CIFAR_MEAN[..., None, None]
        model[f"{prefix}.new_std"] = CIFAR_STD[..., None, None]
    torch.save({"state_dict" if legacy else "model": model, "epoch": 61,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}, "schedule": None}, path)
    return path


def madry_logits(network: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """MadryLab's forward: InputNormalize (clamp to [0, 1], then standardise), then the network."""
    inputs = torch.from_numpy(x).clamp(0, 1)
    with torch.no_grad():
        return network((inputs - CIFAR_MEAN[:, None, None]) / CIFAR_STD[:, None, None]).numpy()


@pytest.fixture
def cifar_images(tmp_path) -> Path:
    """A folder in the layout of foolbox's data folder (cifar10_<index>_<label>.png), for --dataset cifar10-foolbox."""
    folder = tmp_path / "foolbox-data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"cifar10_{index:02d}_{index % 10}.png")
    return folder


def test_art_sor_resnet18_is_madrylab_resnet18_key_for_key():
    ours = {key: tuple(value.shape) for key, value in build_model("resnet18", (3, 32, 32), 10).state_dict().items()}
    assert ours == madry_resnet18_shapes(10)


@pytest.mark.parametrize("legacy", [False, True])
def test_madry_checkpoint_predicts_as_the_module_built_directly(tmp_path, cifar_images, legacy):
    network = random_resnet18()
    path = write_madry_checkpoint(tmp_path / "cifar_Linf_FE_N3.pt", network, legacy)
    data = load_foolbox_cifar10(cifar_images)
    x = data.x_test[:2].copy()
    expected = madry_logits(network, x)

    classifier, checkpoint = load_madry_classifier(path, device="cpu")
    np.testing.assert_allclose(classifier.predict(x), expected, rtol=1e-4, atol=1e-4)
    assert checkpoint.epoch == 61 and checkpoint.mean == pytest.approx(CIFAR_MEAN.tolist())
    # The normaliser is ART preprocessing, so attacks measure ε on [0, 1] pixels, not on standardised inputs.
    np.testing.assert_allclose(np.asarray(classifier.preprocessing.std).ravel(), CIFAR_STD.numpy(), rtol=1e-6)
    assert classifier.clip_values.tolist() == [0.0, 1.0]

    opened = open_model(path, data, device="cpu")
    np.testing.assert_allclose(opened.classifier.predict(x), expected, rtol=1e-4, atol=1e-4)
    assert "epoch 61" in opened.name and opened.identity["architecture"] == "resnet18"
    assert opened.identity["madry_checkpoint"] != ""


def test_madry_checkpoint_that_does_not_fit_names_the_keys(tmp_path, cifar_images):
    network = random_resnet18()
    path = write_madry_checkpoint(tmp_path / "other.pt", network)
    with pytest.raises(ModelMismatchError, match="do not fit preact-resnet18") as error:
        open_model(path, load_foolbox_cifar10(cifar_images), architecture="preact-resnet18", device="cpu")
    assert "missing keys" in str(error.value) and error.value.setting == "architecture"


def test_evaluate_cli_reads_a_madry_checkpoint(tmp_path, cifar_images):
    network = random_resnet18()
    path = write_madry_checkpoint(tmp_path / "cifar_Linf_FE_N3.pt", network)
    data = load_foolbox_cifar10(cifar_images)
    clean = float(np.mean(madry_logits(network, data.x_test).argmax(1) == data.y_test))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["evaluate", str(path), "--dataset", "cifar10-foolbox", "--data-root",
                                       str(cifar_images), "--eps", "8/255", "--attack", "fgsm", "--eval-samples", "2",
                                       "--no-curve", "--no-geometry", "--quiet", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["clean_accuracy"] == pytest.approx(clean)
    assert report["model"]["architecture"] == "resnet18" and "madry_checkpoint" in report["model"]
    assert "MadryLab robustness, epoch 61" in result.output
    refused = CliRunner().invoke(main, ["evaluate", str(path), "--dataset", "cifar10-foolbox", "--data-root",
                                        str(cifar_images), "--mean", "0.5", "--std", "0.25", "--quiet"])
    assert refused.exit_code == 2 and "--mean" in refused.output and "its own normaliser" in refused.output


def test_mean_and_std_standardise_a_bare_state_dict_inside_the_classifier(tmp_path, digits):
    torch.manual_seed(0)
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    x = digits.x_test[:5].copy()
    before = x.copy()
    opened = open_model(tmp_path / "weights.pt", digits, "small-cnn", "cpu", ((0.3,), (0.2,)))
    with torch.no_grad():
        expected = network((torch.from_numpy(x) - 0.3) / 0.2).numpy()
    np.testing.assert_allclose(opened.classifier.predict(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, before)
    plain = open_model(tmp_path / "weights.pt", digits, "small-cnn", "cpu")
    assert plain.identity != opened.identity  # a cached evaluation of one is never reused for the other
    with pytest.raises(ModelMismatchError, match="one per channel") as error:
        open_model(tmp_path / "weights.pt", digits, "small-cnn", "cpu", ((0.1, 0.2, 0.3), (0.2,)))
    assert error.value.setting == "mean"


def test_mean_and_std_on_the_command_line(tmp_path, digits):
    torch.manual_seed(0)
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    base = ["evaluate", str(tmp_path / "weights.pt"), "--architecture", "small-cnn", "--eps", "0.1", "--attack",
            "fgsm", "--eval-samples", "10", "--no-curve", "--no-geometry", "--quiet", "--device", "cpu"]
    result = CliRunner().invoke(main, [*base, "--mean", "0.3", "--std", "0.2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        predicted = network((torch.from_numpy(digits.x_test) - 0.3) / 0.2).argmax(1).numpy()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["clean_accuracy"] == pytest.approx(float(np.mean(predicted == digits.y_test)))
    assert report["model"]["standardisation"] == [[pytest.approx(0.3)], [pytest.approx(0.2)]]
    for extra, option, message in [(["--mean", "0.3"], "--std", "together"),
                                   (["--mean", "0.1,0.2,0.3", "--std", "0.2"], "--mean", "one per channel (1)"),
                                   (["--mean", "0.3", "--std", "0"], "--std", "> 0"),
                                   (["--mean", "a", "--std", "0.2"], "--mean", "not a number")]:
        wrong = CliRunner().invoke(main, [*base, *extra, "--out", str(tmp_path / "wrong")])
        assert wrong.exit_code == 2, wrong.output
        assert option in wrong.output and message in wrong.output, wrong.output
        assert "Traceback" not in wrong.output


def test_mean_and_std_are_refused_for_an_art_sor_checkpoint(tmp_path, digits):
    network = build_model("small-cnn", (1, 8, 8), 10)
    path = save_classifier(tmp_path / "model.pt", wrap_model(network, (1, 8, 8), 10, device="cpu"), "small-cnn")
    result = CliRunner().invoke(main, ["evaluate", str(path), "--mean", "0.5", "--std", "0.5", "--quiet"])
    assert result.exit_code == 2 and "--mean" in result.output and "its own standardisation" in result.output


def test_default_folders_differ_per_model(tmp_path, digits):
    torch.manual_seed(0)
    network = build_model("small-cnn", (1, 8, 8), 10)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        torch.save(network.state_dict(), tmp_path / name / "weights.pt")
    folders = {open_model(tmp_path / name / "weights.pt", digits, "small-cnn", "cpu").folder for name in "ab"}
    assert len(folders) == 2


def robustbench_zoo():
    try:
        return _robustbench()
    except ImportError as error:
        pytest.skip(f"robustbench is not installed ({error})")


def place_robustbench_weights(model_dir: Path, name: str = "Wong2020Fast") -> torch.nn.Module:
    """Write a model's weights where robustbench.utils.load_model looks, so that it never downloads."""
    robustbench_zoo()
    torch.manual_seed(0)
    network = robustbench_network(RobustBenchModel(name, "Linf"), "cifar10")
    folder = model_dir / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    torch.save(network.state_dict(), folder / f"{name}.pt")
    return network.eval()


def test_robustbench_model_by_name_predicts_as_its_module(tmp_path, cifar_images):
    network = place_robustbench_weights(tmp_path / "models")
    data = load_foolbox_cifar10(cifar_images)
    x = data.x_test[:2].copy()
    with torch.no_grad():
        expected = network(torch.from_numpy(x)).numpy()
    opened = open_model(RobustBenchModel.parse("robustbench:Wong2020Fast"), data, device="cpu",
                        model_dir=tmp_path / "models")
    np.testing.assert_allclose(opened.classifier.predict(x), expected, rtol=1e-4, atol=1e-4)
    assert opened.threat == {"norm": "inf", "eps": pytest.approx(8 / 255)}
    assert opened.identity["robustbench"] == "Wong2020Fast" and opened.identity["threat_model"] == "Linf"
    assert set(opened.identity["files"]) == {"Wong2020Fast.pt"}
    assert opened.folder == "robustbench-cifar10-Linf-Wong2020Fast"


def test_robustbench_refusals_come_before_any_download(tmp_path, cifar_images):
    robustbench_zoo()
    data = load_foolbox_cifar10(cifar_images)
    with pytest.raises(FileNotFoundError, match=r"download=True"):
        open_model(RobustBenchModel.parse("robustbench:Wong2020Fast"), data, device="cpu", model_dir=tmp_path)
    with pytest.raises(ModelMismatchError, match="robustbench:Standard:Linf or robustbench:Standard:L2"):
        open_model(RobustBenchModel.parse("robustbench:Standard"), data, device="cpu", model_dir=tmp_path)
    with pytest.raises(ModelMismatchError, match="did you mean Wong2020Fast"):
        open_model(RobustBenchModel.parse("robustbench:Wong2020Fst"), data, device="cpu", model_dir=tmp_path)
    assert not any(tmp_path.rglob("*.pt"))


@pytest.mark.slow
def test_evaluate_and_explain_cli_take_a_robustbench_name(tmp_path, cifar_images):
    place_robustbench_weights(tmp_path / "models")
    common = ["--dataset", "cifar10-foolbox", "--data-root", str(cifar_images), "--model-dir", str(tmp_path / "models"),
              "--quiet", "--device", "cpu"]
    result = CliRunner().invoke(main, ["evaluate", "robustbench:Wong2020Fast", *common, "--attack", "fgsm",
                                       "--eval-samples", "2", "--no-curve", "--no-geometry",
                                       "--out", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    threat = report["evaluation"]["robustness"]["threat"]
    assert threat["norm"] == "inf" and threat["eps"] == pytest.approx(8 / 255)  # RobustBench's radius by default
    assert report["model"]["robustbench"] == "Wong2020Fast" and report["checkpoint"] == "robustbench:Wong2020Fast"
    explained = CliRunner().invoke(main, ["explain", "robustbench:Wong2020Fast", *common, "--image", "0",
                                          "--steps", "2", "--score-samples", "2", "--counterfactual-samples", "1",
                                          "--out", str(tmp_path / "x")])
    assert explained.exit_code == 0, explained.output
    assert (tmp_path / "x" / "explanations.png").stat().st_size > 0
    for extra, option in [(["--architecture", "resnet18"], "--architecture"),
                          (["--mean", "0.5", "--std", "0.5"], "--mean")]:
        wrong = CliRunner().invoke(main, ["evaluate", "robustbench:Wong2020Fast", *common, *extra])
        assert wrong.exit_code == 2 and option in wrong.output, wrong.output
    bad = CliRunner().invoke(main, ["evaluate", "robustbench:Wong2020Fast:Linf2", *common])
    assert bad.exit_code == 2 and "Linf, L2" in bad.output
    digits = CliRunner().invoke(main, ["evaluate", "robustbench:Wong2020Fast", "--quiet"])
    assert digits.exit_code == 2 and "--dataset" in digits.output and "cifar10" in digits.output


def test_robustbench_needs_its_extra(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_robustbench(name, *args, **kwargs):
        if name.startswith("robustbench"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_robustbench)
    data = Dataset("cifar10", np.zeros((0, 3, 32, 32), np.float32), np.zeros(0, np.int64),
                   np.zeros((1, 3, 32, 32), np.float32), np.zeros(1, np.int64), tuple(map(str, range(10))))
    with pytest.raises(ImportError, match=r"art-sor\[robustbench\]"):
        open_model(RobustBenchModel.parse("robustbench:Wong2020Fast"), data, device="cpu", model_dir=tmp_path)


def test_compare_evaluates_reference_models_under_the_same_plan(tmp_path, digits):
    torch.manual_seed(1)
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    reference = save_classifier(tmp_path / "published.pt", wrap_model(network, (1, 8, 8), 10, device="cpu"),
                                "small-cnn")
    with torch.no_grad():
        clean = float(np.mean(network(torch.from_numpy(digits.x_test)).argmax(1).numpy() == digits.y_test))
    out = tmp_path / "cmp"
    common = ["compare", "--defence", "standard", "--epochs", "1", "--eps", "0.1", "--attack", "fgsm",
              "--eval-samples", "20", "--monitor-samples", "10", "--no-diagnostics", "--no-alignment", "--quiet",
              "--device", "cpu", "--out", str(out)]
    wrong = CliRunner().invoke(main, [*common, "--reference", str(tmp_path / "missing.pt")])
    assert wrong.exit_code == 2 and "--reference" in wrong.output
    torch.save(network.state_dict(), tmp_path / "bare.pt")
    bare = CliRunner().invoke(main, [*common, "--reference", str(tmp_path / "bare.pt")])
    assert bare.exit_code == 2 and "not bare state_dicts" in bare.output and not list(out.rglob("*.pt"))
    result = CliRunner().invoke(main, [*common, "--reference", str(reference)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "results.json").read_text())
    [row] = report["references"]
    assert row["source"] == str(reference) and row["clean_accuracy"] == pytest.approx(clean)
    assert [a["label"] for a in row["evaluation"]["robustness"]["attacks"]] == \
        [a["label"] for a in report["rows"][0]["evaluation"]["robustness"]["attacks"]]
    assert len(row["evaluation"]["robustness"]["clean"]) == 20
    assert [r["defence"] for r in report["rows"]] == ["standard"] and report["pareto_front"] == ["standard"]
    assert "Reference models, not trained here" in (out / "results.md").read_text()
    assert (out / "references.csv").read_text().startswith("reference model,clean,")


def test_a_checkpoint_holding_code_objects_is_refused_with_the_reason(tmp_path, cifar_images):
    import argparse

    torch.save({"model": {}, "epoch": 3, "args": argparse.Namespace(arch="resnet18")}, tmp_path / "pickled.pt")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "pickled.pt"), "--dataset", "cifar10-foolbox",
                                       "--data-root", str(cifar_images), "--quiet"])
    assert result.exit_code == 1 and "argparse.Namespace" in result.output and "Traceback" not in result.output


def write_digits_madry_checkpoint(path: Path, network: torch.nn.Module, mean: float, std: float) -> Path:
    """A MadryLab-layout checkpoint of a digits network, with a one-channel normaliser."""
    model = {f"module.model.{key}": value for key, value in network.state_dict().items()}
    model["module.normalizer.new_mean"] = torch.full((1, 1, 1), mean)
    model["module.normalizer.new_std"] = torch.full((1, 1, 1), std)
    torch.save({"model": model, "epoch": 3}, path)
    return path


@pytest.mark.parametrize(("fault", "named"), [("std 0", "std"), ("NaN mean", "mean"),
                                              ("NaN weight", "weight 7.weight")])
def test_models_that_cannot_output_finite_logits_are_refused_when_opened(tmp_path, digits, fault, named):
    torch.manual_seed(0)
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    if fault == "NaN weight":
        network.state_dict()["7.weight"].view(-1)[0] = float("nan")
    mean, std = (float("nan") if fault == "NaN mean" else 0.1), (0.0 if fault == "std 0" else 0.3)
    path = write_digits_madry_checkpoint(tmp_path / "madry.pt", network, mean, std)
    with pytest.raises(CorruptFileError, match=named) as error:
        open_model(path, digits, architecture="small-cnn", device="cpu")
    assert str(path) in str(error.value)
    # The command line says so in one line instead of reporting chance-level accuracy.
    result = CliRunner().invoke(main, ["evaluate", str(path), "--architecture", "small-cnn", "--eps", "0.1",
                                       "--attack", "fgsm", "--eval-samples", "10", "--no-curve", "--no-geometry",
                                       "--quiet", "--device", "cpu", "--out", str(tmp_path / "report")])
    assert result.exit_code == 1 and named in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "report" / "report.json").exists()


def test_a_model_whose_forward_returns_nan_is_refused_when_opened(tmp_path, digits):
    torch.manual_seed(0)
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    for module in network.modules():  # finite weights, infinite outputs: a huge last layer overflows
        if isinstance(module, torch.nn.Linear):
            module.weight.data.fill_(3e38)
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CorruptFileError, match="outputs on 8 test images are not finite"):
        open_model(tmp_path / "weights.pt", digits, "small-cnn", "cpu")


@pytest.mark.parametrize(("mean", "std", "named"), [(0.0, 0.0, "std"), (float("nan"), 1.0, "mean"),
                                                    (0.0, float("inf"), "std"), (0.0, -1.0, "std")])
def test_standardisations_that_make_outputs_not_finite_are_refused_from_any_source(tmp_path, digits, mean, std,
                                                                                    named):
    network = build_model("small-cnn", (1, 8, 8), 10)
    with pytest.raises(ValueError, match=f"standardisation's {named}"):
        wrap_model(network, (1, 8, 8), 10, preprocessing=(mean, std), device="cpu")
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ModelMismatchError, match=named) as error:
        open_model(tmp_path / "weights.pt", digits, "small-cnn", "cpu", ((mean,), (std,)))
    assert error.value.setting == named


@pytest.mark.parametrize("architecture", [None, "small-cnn"])
def test_a_madry_checkpoint_without_its_normaliser_is_blamed_on_the_file(tmp_path, digits, architecture):
    network = build_model("small-cnn", (1, 8, 8), 10).eval()
    path = write_digits_madry_checkpoint(tmp_path / "madry.pt", network, 0.1, 0.3)
    content = torch.load(path, weights_only=True)
    del content["model"]["module.normalizer.new_std"]
    torch.save(content, path)
    with pytest.raises(CorruptFileError, match=r"not module\.normalizer\.new_std") as error:
        open_model(path, digits, architecture=architecture, device="cpu")
    assert "--architecture" not in str(error.value)


def test_a_garbage_or_mismatched_robustbench_file_is_refused_without_advice_to_unpickle(tmp_path, cifar_images):
    place_robustbench_weights(tmp_path / "models")
    weights = tmp_path / "models" / "cifar10" / "Linf" / "Wong2020Fast.pt"
    data = load_foolbox_cifar10(cifar_images)
    for content, named in [(b"garbage, not a torch file", "cannot be read"),
                           ({"conv1.weight": torch.zeros(1)}, "do not fit RobustBench model Wong2020Fast")]:
        if isinstance(content, bytes):
            weights.write_bytes(content)
        else:
            torch.save(content, weights)
        with pytest.raises(CorruptFileError, match=named) as error:
            open_model(RobustBenchModel("Wong2020Fast", "Linf"), data, model_dir=tmp_path / "models", device="cpu")
        assert "weights_only=False" not in str(error.value)


def test_the_weights_only_refusal_names_what_was_refused_in_whole_words(tmp_path):
    import argparse

    from art_sor.classifiers.checkpoints import read_torch_dict

    torch.save({"args": argparse.Namespace(arch="resnet18")}, tmp_path / "pickled.pt")
    (tmp_path / "garbage.pt").write_bytes(b"garbage, not a torch file")
    for name, reason in [("pickled.pt", "Unsupported global: GLOBAL argparse.Namespace was not an allowed global "
                                        "by default; a file that needs code to load is refused rather than run"),
                         ("garbage.pt", "Unsupported operand")]:
        with pytest.raises(CorruptFileError) as error:
            read_torch_dict(tmp_path / name, "a torch state_dict")
        message = str(error.value).replace(str(tmp_path), "")
        assert reason in message and message.endswith(")")
        assert "weights_only" not in message and "add_safe_globals" not in message
