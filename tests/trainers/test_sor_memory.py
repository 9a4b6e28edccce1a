"""sor-memory: each sample's search continues from its δ of the previous epoch, one Frank–Wolfe step per epoch."""

import numpy as np
import pytest
import torch
from art.data_generators import PyTorchDataGenerator
from art.estimators.classification import PyTorchClassifier
from conftest import TinyMLP, assert_close
from torch import nn

from art_sor.core.threat import ThreatModel
from art_sor.registry import DEFENCES
from art_sor.trainers.sor_memory import SORMemoryTrainer

EPS = 0.1
THREAT = ThreatModel(EPS, "inf")


def classifier(lr: float = 1e-300) -> PyTorchClassifier:
    """A float64 classifier; the default step is far below the weights' precision, so they stay as they are."""
    torch.manual_seed(0)
    model = TinyMLP().double()
    return PyTorchClassifier(model, nn.CrossEntropyLoss(), (5,), 3, clip_values=(0.0, 1.0), device_type="cpu",
                             optimizer=torch.optim.SGD(model.parameters(), lr=lr))


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.random((12, 5)), rng.integers(0, 3, 12)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().requires_grad_(True)
    return torch.autograd.grad(nn.functional.cross_entropy(model(leaf), y, reduction="sum"), leaf)[0]


def vertex(gradient: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The L∞ ball's vertex along ``gradient``, clipped to [0, 1]."""
    return (x + EPS * gradient.sign()).clamp(0, 1) - x


@pytest.mark.parametrize("h", [1.0, 0.5])
def test_the_bank_accumulates_each_samples_steps_across_epochs(h):
    wrapped = classifier()
    x, y = data()
    trainer = SORMemoryTrainer(wrapped, THREAT, memory=0.6, h=h)
    model, xt, yt = wrapped.model, torch.tensor(x), torch.tensor(y)
    trainer.fit(x, y, batch_size=4, nb_epochs=1, verbose=False)
    first = vertex(input_gradient(model, xt, yt), xt)  # a full first step from 0
    assert_close(trainer.remembered, first)
    trainer.fit(x, y, batch_size=4, nb_epochs=2, verbose=False)
    clean = input_gradient(model, xt, yt)
    # SOR's model gradient g + (∇ℓ(x + hδ) − g)/h, written out.
    direction = clean + (input_gradient(model, xt + h * first, yt) - clean) / h
    assert_close(trainer.remembered, 0.6 * first + 0.4 * vertex(direction, xt), rtol=1e-6, atol=1e-9)


def test_resume_restores_the_bank_bit_identically(tmp_path):
    x, y = data()
    straight = SORMemoryTrainer(classifier(lr=0.01), THREAT)
    torch.manual_seed(3)
    straight.fit(x, y, batch_size=4, nb_epochs=3, verbose=False)

    first = SORMemoryTrainer(classifier(lr=0.01), THREAT)
    torch.manual_seed(3)
    first.fit(x, y, batch_size=4, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path)
    resumed_classifier = classifier(lr=0.01)
    resumed = SORMemoryTrainer(resumed_classifier, THREAT)
    resumed.fit(x, y, batch_size=4, nb_epochs=3, verbose=False, checkpoint_dir=tmp_path, resume=True)
    assert torch.equal(resumed.remembered, straight.remembered)
    for a, b in zip(resumed_classifier.model.parameters(), straight.get_classifier().model.parameters(),
                    strict=True):
        assert torch.equal(a, b)


def test_settings_that_cannot_run_are_refused():
    with pytest.raises(ValueError, match="memory"):
        SORMemoryTrainer(classifier(), THREAT, memory=1.0)
    with pytest.raises(ValueError, match="iterations"):
        SORMemoryTrainer(classifier(), THREAT, iterations=0)
    x, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                         batch_size=4)
    trainer = SORMemoryTrainer(classifier(), THREAT)
    with pytest.raises(ValueError, match="fit_generator"):
        trainer.fit_generator(PyTorchDataGenerator(loader, size=12, batch_size=4), nb_epochs=1, verbose=False)


def test_registered_with_its_defaults(digits_classifier):
    trainer = DEFENCES.build("sor-memory", digits_classifier, ThreatModel(0.1, "inf"))
    assert (trainer.memory, trainer.iterations, trainer.h) == (0.5, 1, 1.0)
    assert trainer.config()["eps"] == pytest.approx(0.1)


def test_more_iterations_continue_the_same_frank_wolfe_recursion():
    wrapped = classifier()
    x, y = data()
    trainer = SORMemoryTrainer(wrapped, THREAT, memory=0.25, iterations=2)
    model, xt, yt = wrapped.model, torch.tensor(x), torch.tensor(y)
    trainer.fit(x, y, batch_size=4, nb_epochs=1, verbose=False)
    first = vertex(input_gradient(model, xt, yt), xt)  # the full first step from 0
    second = 0.25 * first + 0.75 * vertex(input_gradient(model, xt + first, yt), xt)
    assert_close(trainer.remembered, second, rtol=1e-6, atol=1e-9)
