"""SOR with memory: each sample's search starts at its δ of the previous epoch and takes constant-rate FW steps."""

import numpy as np
import pytest
import torch
from art.data_generators import PyTorchDataGenerator
from art.estimators.classification import PyTorchClassifier
from conftest import TinyMLP, assert_close
from torch import nn

from art_sor.core.gradients import gradient_at
from art_sor.core.search import worst_case_perturbation
from art_sor.trainers import SORTrainer

EPS = 0.1


def frozen_classifier(lr: float = 1e-300) -> PyTorchClassifier:
    """A float64 classifier whose default step is far below the weights' precision, so they stay as they are."""
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


def vertex(model: nn.Module, x: torch.Tensor, y: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """The L∞ ball's vertex along the gradient at ``x + at``, clipped to [0, 1]."""
    return (x + EPS * input_gradient(model, x + at, y).sign()).clamp(0, 1) - x


def test_constant_rate_frank_wolfe_keeps_the_memory_weight_on_the_start(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = lambda z: nn.functional.cross_entropy(model(z), y, reduction="none")  # noqa: E731
    start = 0.05 * torch.randn_like(x).clamp(-1, 1)
    at = gradient_at(loss_fn, x)
    delta = worst_case_perturbation(loss_fn, at, EPS, "inf", iterations=2, step="frank_wolfe", start=start,
                                    gamma=0.25)
    # h = 1 finite differences: g + Hδ is the gradient at x + δ.
    expected = start
    for _ in range(2):
        expected = 0.75 * expected + 0.25 * EPS * input_gradient(model, x + expected, y).sign()
    assert_close(delta, expected)
    with pytest.raises(ValueError, match="gamma"):
        worst_case_perturbation(loss_fn, at, EPS, "inf", step="replace", gamma=0.5)


def test_the_bank_accumulates_each_samples_steps_across_epochs():
    classifier = frozen_classifier()
    x, y = data()
    trainer = SORTrainer(classifier, eps=EPS, memory=0.6, step="frank_wolfe", objective="perturbed")
    model = classifier.model
    xt, yt = torch.tensor(x), torch.tensor(y)
    trainer.fit(x, y, batch_size=4, nb_epochs=1, verbose=False)
    first = 0.4 * vertex(model, xt, yt, torch.zeros_like(xt))
    assert_close(trainer._memory_bank, first)
    trainer.fit(x, y, batch_size=4, nb_epochs=2, verbose=False)
    assert_close(trainer._memory_bank, 0.6 * first + 0.4 * vertex(model, xt, yt, first))


def test_resume_restores_the_bank_bit_identically(tmp_path):
    x, y = data()
    straight = SORTrainer(frozen_classifier(lr=0.01), eps=EPS, memory=0.5, step="frank_wolfe")
    torch.manual_seed(3)
    straight.fit(x, y, batch_size=4, nb_epochs=3, verbose=False)

    first = SORTrainer(frozen_classifier(lr=0.01), eps=EPS, memory=0.5, step="frank_wolfe")
    torch.manual_seed(3)
    first.fit(x, y, batch_size=4, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path)
    resumed_classifier = frozen_classifier(lr=0.01)
    resumed = SORTrainer(resumed_classifier, eps=EPS, memory=0.5, step="frank_wolfe")
    resumed.fit(x, y, batch_size=4, nb_epochs=3, verbose=False, checkpoint_dir=tmp_path, resume=True)
    assert torch.equal(resumed._memory_bank, straight._memory_bank)
    for a, b in zip(resumed_classifier.model.parameters(), straight._classifier.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_memory_settings_that_cannot_run_are_refused():
    classifier = frozen_classifier()
    with pytest.raises(ValueError, match="memory"):
        SORTrainer(classifier, eps=EPS, memory=0.5)  # step="replace" would discard the memory
    with pytest.raises(ValueError, match="memory"):
        SORTrainer(classifier, eps=EPS, memory=0.5, step="frank_wolfe", random_start=True)
    with pytest.raises(ValueError, match="memory"):
        SORTrainer(classifier, eps=EPS, memory=1.0, step="frank_wolfe")
    with pytest.raises(ValueError, match="micro_batch_size"):
        SORTrainer(classifier, eps=EPS, memory=0.5, step="frank_wolfe", micro_batch_size=2)
    x, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                         batch_size=4)
    trainer = SORTrainer(classifier, eps=EPS, memory=0.5, step="frank_wolfe")
    with pytest.raises(ValueError, match="fit_generator"):
        trainer.fit_generator(PyTorchDataGenerator(loader, size=12, batch_size=4), nb_epochs=1, verbose=False)
