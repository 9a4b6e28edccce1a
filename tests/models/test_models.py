"""Architectures by name or ``module:callable``: built at their published sizes, forward and backward, checked on a
batch, and refused naming the architecture."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from art_sor.models import build_model, trainable_parameters
from art_sor.registry import ARCHITECTURES, RegistryError


@pytest.mark.parametrize("architecture, message", [
    ("ft_models:width", r"returns outputs of shape \(12,\) per sample, but the data have 10 classes"),
    ("ft_models:input_size", r"fails on a batch of shape \(2, 1, 8, 8\).*mat1 and mat2"),
    ("ft_models:pair", "returns a tuple; its forward must return the logits as one tensor"),
    ("ft_models:double", "has float64 parameters, but the data are float32"),
    ("ft_models:half", "has float16 parameters, which art-sor does not train or evaluate on a CPU"),
    ("ft_models:nan", "returns NaN or inf logits for finite inputs"),
    ("ft_models:fails", "raised RuntimeError: CUDA driver not found"),
    ("ft_syntax:model", "importing 'ft_syntax' failed with SyntaxError"),
    ("ft_raises:model", "importing 'ft_raises' failed with RuntimeError: needs a GPU driver"),
    ("ft_models:", "give both parts, module:callable"),
    (":width", "give both parts, module:callable"),
])
def test_a_faulty_user_architecture_is_refused_naming_it(user_modules, architecture, message):
    with pytest.raises(RegistryError, match=rf"architecture '{architecture}'.*{message}"):
        build_model(architecture, (1, 8, 8), 10)


def test_a_sound_user_architecture_builds(user_modules):
    assert isinstance(build_model("ft_models:linear", (1, 8, 8), 10), nn.Module)


@pytest.mark.parametrize("architecture, cause", [("ft_models:frozen", "all its 2 parameter tensors have requires_grad"),
                                                 ("ft_models:no_parameters", "it has no parameters")])
def test_a_model_training_cannot_change_is_refused_naming_the_architecture(user_modules, architecture, cause):
    with pytest.raises(RegistryError, match=f"the model has no trainable parameters \\({cause}"):
        trainable_parameters(build_model(architecture, (1, 8, 8), 10), architecture)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_small_cnn_fits_both_datasets(shape):
    model = build_model("small-cnn", shape, 10)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="architecture"):
        build_model("vgg99", (1, 28, 28), 10)


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
