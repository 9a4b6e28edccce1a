"""GradAlign's and ELLE's penalties against independent computations on tiny float64 models."""

import numpy as np
import pytest
import torch
from conftest import assert_close, per_sample_ce
from torch import nn

from art_sor.core.gradient_alignment import gradient_alignment_penalty, gradient_misalignment
from art_sor.core.linearity_error import AdaptiveWeight, linearity_error
from art_sor.core.projection import random_start
from art_sor.core.threat import ThreatModel


def analytic_input_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample ∇ₓ CE of the TinyMLP by the chain rule, written out by hand."""
    hidden = torch.tanh(model.fc1(x))
    probabilities = torch.softmax(model.fc2(hidden), dim=1)
    error = probabilities - nn.functional.one_hot(y, probabilities.shape[1]).double()
    return ((error @ model.fc2.weight) * (1 - hidden ** 2)) @ model.fc1.weight


def test_misalignment_is_one_minus_the_mean_cosine_over_nonzero_gradients():
    torch.manual_seed(1)
    first, second = torch.randn(5, 3, 4, dtype=torch.float64), torch.randn(5, 3, 4, dtype=torch.float64)
    first[1] = 0.0
    second[3] = 0.0
    keep = [0, 2, 4]
    a, b = first.numpy(), second.numpy()
    expected = 1 - np.mean([np.dot(a[i].ravel(), b[i].ravel()) / (np.linalg.norm(a[i]) * np.linalg.norm(b[i]))
                            for i in keep])
    assert gradient_misalignment(first, second).item() == pytest.approx(expected, rel=1e-12)
    assert gradient_misalignment(first, first).item() == pytest.approx(0.0, abs=1e-12)
    assert gradient_misalignment(first, -first).item() == pytest.approx(2.0, rel=1e-12)
    assert gradient_misalignment(torch.zeros(2, 3), torch.ones(2, 3)).item() == 0.0


def test_gradalign_penalty_and_its_weight_gradient_match_the_chain_rule(tiny_problem):
    model, x, y = tiny_problem
    eps = 0.3
    clean = analytic_input_gradients(model, x, y)
    torch.manual_seed(7)
    penalty = gradient_alignment_penalty(per_sample_ce(model, y), x, clean, ThreatModel(eps, "inf"))
    weights = list(model.parameters())
    ours = torch.autograd.grad(penalty, weights)

    torch.manual_seed(7)
    eta = random_start(x, ThreatModel(eps, "inf"))
    assert eta.abs().max() <= eps
    shifted = analytic_input_gradients(model, x + eta, y)
    cosine = nn.functional.cosine_similarity(clean.detach(), shifted, dim=1)
    expected = 1 - cosine.mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-10)
    for actual, reference in zip(ours, torch.autograd.grad(expected, weights), strict=True):
        assert_close(actual, reference)


def test_linearity_error_vanishes_on_a_linear_loss_and_matches_the_quadratic_identity():
    torch.manual_seed(2)
    x = torch.rand(8, 6, dtype=torch.float64)
    w = torch.randn(6, dtype=torch.float64)
    alpha = torch.rand(8, dtype=torch.float64)
    error = linearity_error(lambda z: z @ w, x, ThreatModel(0.2, "inf"), alpha=alpha)
    assert error.item() == pytest.approx(0.0, abs=1e-24)

    # For ℓ(z) = ‖z‖², ℓ((1−α)a + αb) − (1−α)ℓ(a) − αℓ(b) = −α(1−α)‖a − b‖².
    torch.manual_seed(3)
    error = linearity_error(lambda z: z.square().sum(dim=1), x, ThreatModel(0.2, "l2"), alpha=alpha)
    torch.manual_seed(3)
    point_a, point_b = x + random_start(x, ThreatModel(0.2, "l2")), x + random_start(x, ThreatModel(0.2, "l2"))
    expected = (alpha * (1 - alpha) * (point_a - point_b).square().sum(dim=1)).square().mean()
    assert error.item() == pytest.approx(expected.item(), rel=1e-12)


def test_linearity_error_points_stay_in_the_ball_and_the_box():
    x = torch.full((4, 5), 0.95, dtype=torch.float64)
    seen = []

    def loss(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach())
        return z.sum(dim=1)

    box = (torch.zeros(()), torch.ones(()))
    linearity_error(loss, x, ThreatModel(0.1, "inf"), box=box)
    for points in seen:
        assert (points - x).abs().max() <= 0.1 + 1e-12 and points.max() <= 1.0 and points.min() >= 0.0


def reference_adaptive_weights(errors: list[float], lam_max: float, decay: float, sensitivity: float) -> list[float]:
    """The rule as the ELLE authors' code writes it, with a list and np.mean/np.std."""
    history: list[float] = []
    weight, weights = 0.0, []
    for error in errors:
        if len(history) > 2 and error > np.mean(history) + sensitivity * np.std(history):
            weight = lam_max
        else:
            weight *= decay
        history.append(error)
        weights.append(weight)
    return weights


def test_adaptive_weight_follows_the_papers_rule_and_restores_its_state():
    rng = np.random.default_rng(0)
    errors = list(rng.exponential(1.0, 200) * (1 + 10 * (rng.random(200) < 0.05)))
    adaptive = AdaptiveWeight(lam_max=4000.0, decay=0.99, sensitivity=2.0)
    weights = [adaptive.update(e) for e in errors[:120]]
    restored = AdaptiveWeight(lam_max=4000.0, decay=0.99, sensitivity=2.0)
    restored.load_state_dict(adaptive.state_dict())
    weights += [restored.update(e) for e in errors[120:]]
    expected = reference_adaptive_weights(errors, 4000.0, 0.99, 2.0)
    assert weights == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(weights) == 4000.0 and weights[0] == 0.0
    with pytest.raises(ValueError, match="decay"):
        AdaptiveWeight(decay=1.5)
