"""GradAlign, ELLE and ELLE-A trainers: one step against an independent computation, and their registry entries."""

import numpy as np
import pytest
import torch
from art.estimators.classification import PyTorchClassifier
from conftest import TinyMLP, assert_close, digits_cnn, make_classifier
from torch import nn

from art_sor.core.projection import random_start
from art_sor.core.threat import ThreatModel
from art_sor.registry import DEFENCES
from art_sor.trainers.single_step import ELLEATrainer, ELLETrainer, GradAlignTrainer

EPS = 0.1
THREAT = ThreatModel(EPS, "inf")
BOX = (torch.zeros(()), torch.ones(()))


def tiny_classifier() -> PyTorchClassifier:
    torch.manual_seed(0)
    model = TinyMLP().double()
    return PyTorchClassifier(model, nn.CrossEntropyLoss(), (5,), 3, clip_values=(0.0, 1.0), device_type="cpu",
                             optimizer=torch.optim.SGD(model.parameters(), lr=1.0))


def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((6, 5)), rng.integers(0, 3, 6)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    leaf = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(leaf), y, reduction="sum")
    return torch.autograd.grad(loss, leaf, create_graph=create_graph)[0]


def fgsm_point(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x + EPS * input_gradient(model, x, y).sign()).clamp(0, 1)


def one_step_update(trainer, classifier: PyTorchClassifier, seed: int) -> list[torch.Tensor]:
    x, y = tiny_data()
    before = [p.detach().clone() for p in classifier.model.parameters()]
    torch.manual_seed(seed)
    trainer.fit(x, y, batch_size=len(x), nb_epochs=1, verbose=False)
    return [b - p.detach() for b, p in zip(before, classifier.model.parameters(), strict=True)]


def reference_gradients(loss_of, seed: int) -> list[torch.Tensor]:
    """The weight gradient of ``loss_of(model, x, y)`` with the batch order fit draws first."""
    classifier = tiny_classifier()
    x, y = tiny_data()
    torch.manual_seed(seed)
    order = torch.randperm(len(x)).numpy()
    x, y = torch.tensor(x[order]), torch.tensor(y[order])
    loss = loss_of(classifier.model, x, y)
    return list(torch.autograd.grad(loss, list(classifier.model.parameters())))


def test_gradalign_step_is_the_fgsm_loss_plus_the_alignment_penalty():
    classifier = tiny_classifier()
    update = one_step_update(GradAlignTrainer(classifier, THREAT, lam=0.7), classifier, seed=3)

    def loss_of(model, x, y):
        adversarial = nn.functional.cross_entropy(model(fgsm_point(model, x, y)), y)
        clean_grad = input_gradient(model, x, y)
        shifted = input_gradient(model, x + random_start(x, THREAT, BOX), y, create_graph=True)
        return adversarial + 0.7 * (1 - nn.functional.cosine_similarity(clean_grad, shifted, dim=1).mean())

    for actual, expected in zip(update, reference_gradients(loss_of, seed=3), strict=True):
        assert_close(actual, expected)


def elle_loss(lam: float):
    def loss_of(model, x, y):
        adversarial = nn.functional.cross_entropy(model(fgsm_point(model, x, y)), y)
        point_a, point_b = x + random_start(x, THREAT, BOX), x + random_start(x, THREAT, BOX)
        alpha = torch.rand(len(x), dtype=x.dtype)
        point_c = (1 - alpha[:, None]) * point_a + alpha[:, None] * point_b
        losses = [nn.functional.cross_entropy(model(p), y, reduction="none") for p in (point_a, point_b, point_c)]
        error = (losses[2] - (1 - alpha) * losses[0] - alpha * losses[1]).square().mean()
        return adversarial + lam * error

    return loss_of


def test_elle_step_is_the_fgsm_loss_plus_the_linearity_error():
    classifier = tiny_classifier()
    update = one_step_update(ELLETrainer(classifier, THREAT, lam=50.0), classifier, seed=4)
    for actual, expected in zip(update, reference_gradients(elle_loss(50.0), seed=4), strict=True):
        assert_close(actual, expected)


def test_elle_a_starts_at_zero_weight_and_checkpoints_its_statistics(tmp_path, small_digits):
    classifier = tiny_classifier()
    update = one_step_update(ELLEATrainer(classifier, THREAT), classifier, seed=5)
    # At weight 0 the step is plain FGSM training.
    for actual, expected in zip(update, reference_gradients(elle_loss(0.0), seed=5), strict=True):
        assert_close(actual, expected)

    x, y, _, _ = small_digits
    trainer = ELLEATrainer(make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.2, "inf"),
                           lam_max=10.0,
                           sensitivity=0.5)
    history = trainer.fit(x, y, batch_size=32, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path)
    assert {"linearity_error", "penalty_weight", "adversarial_loss"} <= set(history[-1])
    assert 0 < max(r["penalty_weight"] for r in history) <= 10.0
    state = trainer.adaptive.state_dict()
    resumed = ELLEATrainer(make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.2, "inf"),
                           lam_max=10.0,
                           sensitivity=0.5)
    resumed.fit(x, y, batch_size=32, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path, resume=True)
    assert resumed.adaptive.state_dict() == state


def test_registered_with_the_papers_defaults(digits_classifier):
    threat = ThreatModel(0.1, "inf")
    gradalign = DEFENCES.build("gradalign", digits_classifier, threat)
    assert (gradalign.lam, gradalign.step_size) == (0.2, pytest.approx(0.1))
    assert "noise" not in gradalign.config()
    elle = DEFENCES.build("elle:noise=0.2", digits_classifier, threat)
    assert (elle.lam, elle.noise) == (1000.0, 0.2)
    elle_a = DEFENCES.build("elle-a", digits_classifier, threat)
    config = elle_a.config()
    assert (config["lam_max"], config["decay"], config["sensitivity"]) == (4000.0, 0.99, 2.0)
    assert "lam" not in config
    with pytest.raises(ValueError, match="lam"):
        GradAlignTrainer(digits_classifier, ThreatModel(0.1, "inf"), lam=-1)
