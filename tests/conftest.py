"""Fixtures of our own: ART's conftest needs TensorFlow, so nothing here comes from ART's test suite."""

from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn
from torch.autograd.functional import hessian

from art_sor.classifiers.wrapping import wrap_model
from art_sor.data.bundled import load_digits
from art_sor.models import build_model

OPT_IN = {"integration": "checks that need extra downloads", "long": "training runs of several minutes"}


def pytest_addoption(parser: pytest.Parser) -> None:
    for marker, what in OPT_IN.items():
        parser.addoption(f"--{marker}", action="store_true", help=f"run the opt-in {what}")


@pytest.fixture(autouse=True, scope="session")
def _data_root_outside_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Datasets staged or downloaded by tests go to a temporary root, never to the user's ~/.cache/art-sor.

    A root the user set in ``$ART_SOR_DATA`` is kept (the opt-in integration tests reuse what it holds).
    """
    if not os.environ.get("ART_SOR_DATA"):
        os.environ["ART_SOR_DATA"] = str(tmp_path_factory.mktemp("data-root"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker in OPT_IN:
        if config.getoption(f"--{marker}"):
            continue
        skip = pytest.mark.skip(reason=f"opt-in: pass --{marker}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


class TinyMLP(nn.Module):
    """A smooth (tanh) MLP whose input Hessian is non-zero and indefinite: a fair test of second-order code."""

    def __init__(self, d_in: int = 5, hidden: int = 7, classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))


@pytest.fixture
def tiny_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = TinyMLP().double()
    x = torch.randn(6, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (6,))
    return model, x, y


def per_sample_ce(model: nn.Module, y: torch.Tensor):
    return lambda x: nn.functional.cross_entropy(model(x), y, reduction="none")


@pytest.fixture(scope="session")
def digits():
    return load_digits()


def make_classifier(model: nn.Module, input_shape: tuple[int, ...], nb_classes: int = 10, lr: float = 1e-2,
                    optimizer: torch.optim.Optimizer | None = None, **kwargs) -> PyTorchClassifier:
    """An ART classifier of ``model`` with cross-entropy and ``optimizer`` (by default Adam at ``lr``)."""
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=input_shape,
                             nb_classes=nb_classes, optimizer=optimizer,
                             device_type=kwargs.pop("device_type", "cpu"), **kwargs)


def architecture_classifier(architecture: str, input_shape: tuple[int, ...], nb_classes: int = 10,
                            lr: float | None = 1e-3, **kwargs) -> PyTorchClassifier:
    """A classifier around a registered architecture, with Adam (or no optimizer when lr is None)."""
    model = build_model(architecture, input_shape, nb_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr) if lr is not None else None
    return wrap_model(model, input_shape, nb_classes, optimizer=optimizer, device=kwargs.pop("device", "cpu"),
                      **kwargs)


def digits_cnn(seed: int = 0, batch_norm: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(1, 8, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(8))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 10)]
    return nn.Sequential(*layers)


@pytest.fixture
def digits_classifier():
    return make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))


@pytest.fixture
def small_digits(digits):
    """300 training and 100 test digits: enough for behaviour tests in well under a second per epoch."""
    return digits.x_train[:300], digits.y_train[:300], digits.x_test[:100], digits.y_test[:100]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def table_row(text: str, first_cell: str) -> str:
    """The line of a Markdown table in ``text`` whose first cell is ``first_cell``."""
    return next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))


def losses_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy of ``model`` on ``x``."""
    return nn.functional.cross_entropy(model(x), y, reduction="none")


def reference_grad_and_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Per-sample gradient and Hessian of the loss, each sample on its own, by torch.autograd.functional."""
    grads, hessians = [], []
    for i in range(len(x)):
        def loss_i(xi: torch.Tensor, i: int = i) -> torch.Tensor:
            return nn.functional.cross_entropy(model(xi[None]), y[i:i + 1])
        grads.append(torch.autograd.functional.jacobian(loss_i, x[i]))
        hessians.append(hessian(loss_i, x[i]))
    return torch.stack(grads), torch.stack(hessians)


USER_MODELS = textwrap.dedent("""
    from torch import nn

    class Pair(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(x.flatten(1)), None

    class Nan(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(x.flatten(1)) * float("nan")

    class Crop(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    def linear(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, classes))

    def width(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, classes + 2))

    def input_size(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(32, classes))

    def pair(shape, classes):
        return Pair(classes)

    def double(shape, classes):
        return linear(shape, classes).double()

    def half(shape, classes):
        return linear(shape, classes).half()

    def nan(shape, classes):
        return Nan(classes)

    def frozen(shape, classes):
        return linear(shape, classes).requires_grad_(False)

    def no_parameters(shape, classes):
        return Crop()

    def fails(shape, classes):
        raise RuntimeError("CUDA driver not found")
""")


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """``ft_models`` (architectures with one fault each), ``ft_syntax`` and ``ft_raises`` on ``sys.path``."""
    (tmp_path / "ft_models.py").write_text(USER_MODELS)
    (tmp_path / "ft_syntax.py").write_text("def model(shape, classes)\n    return None\n")
    (tmp_path / "ft_raises.py").write_text("raise RuntimeError('needs a GPU driver')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("ft_models", "ft_syntax", "ft_raises"):
        sys.modules.pop(name, None)
