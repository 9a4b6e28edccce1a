"""LLR (the local-linearity regularizer) against independent references on tiny float64 models."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_close, losses_of, per_sample_ce, reference_grad_and_hessian

from art_sor.core.local_linearity import LocalLinearityRegularizer, linearity_gap, maximize_linearity_gap
from art_sor.core.threat import ThreatModel


def test_linearity_gap_by_hand(tiny_problem):
    model, x, y = tiny_problem
    g, _ = reference_grad_and_hessian(model, x, y)
    delta = 0.1 * torch.randn_like(x)
    expected = (losses_of(model, x + delta, y) - losses_of(model, x, y) - (delta * g).sum(1)).abs()
    gap = linearity_gap(per_sample_ce(model, y), x, losses_of(model, x, y), g, delta)
    assert_close(gap, expected)


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_llr_pgd_reaches_the_known_maximum_of_a_quadratic(norm):
    """For ℓ(x) = ½xᵀAx the gap is exactly ½δᵀAδ: its maximum is ½ε²·tr-corner (L∞, A diagonal) or ½ε²·λ_max (L2)."""
    torch.manual_seed(0)
    diagonal = torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    a = torch.diag(diagonal) if norm == "inf" else rotation @ torch.diag(diagonal) @ rotation.T

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.einsum("bi,ij,bj->b", z, a, z)

    x = torch.randn(5, 3, dtype=torch.float64)
    losses, grad = loss_fn(x), x @ a
    eps = 0.4
    found = maximize_linearity_gap(loss_fn, x, losses, grad, ThreatModel(eps, norm), steps=100, step_size=eps / 10)
    achieved = linearity_gap(loss_fn, x, losses, grad, found)
    maximum = 0.5 * eps**2 * (diagonal.sum() if norm == "inf" else diagonal.max())
    assert_close(achieved, maximum.expand(5), rtol=1e-4, atol=1e-9)


def test_llr_penalty_combines_gap_and_gradient_term(tiny_problem):
    model, x, y = tiny_problem
    torch.manual_seed(0)
    box = (torch.tensor(-1.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    regularizer = LocalLinearityRegularizer(ThreatModel(0.2, "l2"), lam=4.0, mu=3.0, steps=3, box=box)
    x_in = x.clamp(-1, 1)
    penalty = regularizer(per_sample_ce(model, y), x_in)
    gap, slope = penalty.parts["linearity_gap"], penalty.parts["gradient_term"]
    assert_close(penalty.value.detach(), 4.0 * gap + 3.0 * slope)
    assert regularizer.step_size == pytest.approx(2.5 * 0.2 / 3)


@pytest.mark.parametrize("kwargs,name", [({"threat": ThreatModel(0.1, "inf"), "steps": 0}, "steps"),
                                         ({"threat": ThreatModel(0.1, "inf"), "mu": -1.0}, "mu")])
def test_llr_rejects_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LocalLinearityRegularizer(**kwargs)
