"""GR, CURE and LLR against independent references on tiny float64 models."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_close, per_sample_ce
from test_core_math import reference_grad_and_hessian
from torch import nn

from art_sor.core.curvature import CurvatureRegularizer
from art_sor.core.gradient_norm import GradientNormRegularizer
from art_sor.core.local_linearity import LocalLinearityRegularizer, linearity_gap, maximize_linearity_gap
from art_sor.core.threat import ThreatModel


def losses_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y, reduction="none")


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_gr_is_the_dual_norm(tiny_problem, norm):
    model, x, y = tiny_problem
    g, _ = reference_grad_and_hessian(model, x, y)
    dual = g.abs().sum(1) if norm == "inf" else g.norm(dim=1)
    penalty = GradientNormRegularizer(ThreatModel(0.3, norm), lam=2.0)(per_sample_ce(model, y), x)
    assert_close(penalty.value, 2.0 * 0.3 * dual.mean())
    assert_close(penalty.clean_losses, losses_of(model, x, y))


def test_gr_weight_gradient_matches_torch_func(tiny_problem):
    model, x, y = tiny_problem
    penalty = GradientNormRegularizer(ThreatModel(0.3, "inf"), lam=1.5)(per_sample_ce(model, y), x)
    model.zero_grad()
    penalty.value.backward()

    def objective(params):
        def loss_one(xi, yi):
            return nn.functional.cross_entropy(torch.func.functional_call(model, params, (xi[None],)), yi[None])
        grads = torch.func.vmap(torch.func.grad(loss_one))(x, y)
        return 1.5 * 0.3 * grads.abs().sum(1).mean()

    reference = torch.func.grad(objective)(dict(model.named_parameters()))
    for name, parameter in model.named_parameters():
        assert_close(parameter.grad, reference[name])


def test_gr_finite_difference_follows_finlay_oberman(tiny_problem):
    model, x, y = tiny_problem
    g, _ = reference_grad_and_hessian(model, x, y)
    eps, h = 0.3, 0.05
    penalty = GradientNormRegularizer(ThreatModel(eps, "inf"), lam=1.0, mode="finite_difference", h=h)(
        per_sample_ce(model, y), x)
    expected = (losses_of(model, x + h * eps * g.sign(), y) - losses_of(model, x, y)) / h
    assert_close(penalty.value, expected.mean())
    # and it approaches the double-backprop value as h shrinks
    fine = GradientNormRegularizer(ThreatModel(eps, "inf"), mode="finite_difference", h=1e-5)(per_sample_ce(model, y),
                                                                                              x)
    assert math.isclose(fine.value.item(), eps * g.abs().sum(1).mean().item(), rel_tol=1e-4)


def test_cure_matches_gradient_difference(tiny_problem):
    model, x, y = tiny_problem
    g, _ = reference_grad_and_hessian(model, x, y)
    h, lam = 0.7, 3.0
    z = g.sign() / math.sqrt(g.shape[1])
    g_shift, _ = reference_grad_and_hessian(model, x + h * z, y)
    penalty = CurvatureRegularizer(h=h, lam=lam)(per_sample_ce(model, y), x)
    assert_close(penalty.value, lam * (g_shift - g).pow(2).sum(1).mean())


def test_cure_small_h_measures_hessian_along_sign_direction(tiny_problem):
    model, x, y = tiny_problem
    g, hess = reference_grad_and_hessian(model, x, y)
    z = g.sign() / math.sqrt(g.shape[1])
    hz = torch.einsum("bij,bj->bi", hess, z)
    h = 1e-5
    penalty = CurvatureRegularizer(h=h, lam=1.0)(per_sample_ce(model, y), x)
    assert math.isclose(penalty.value.item() / h**2, hz.pow(2).sum(1).mean().item(), rel_tol=1e-3)


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


@pytest.mark.parametrize("factory,kwargs,name", [
    (GradientNormRegularizer, {"threat": 0.1}, "threat"),
    (GradientNormRegularizer, {"threat": ThreatModel(0.1, "inf"), "mode": "exact"}, "mode"),
    (CurvatureRegularizer, {"h": -1.0}, "h"),
    (CurvatureRegularizer, {"h": 1.0, "lam": -2.0}, "lam"),
    (LocalLinearityRegularizer, {"threat": ThreatModel(0.1, "inf"), "steps": 0}, "steps"),
    (LocalLinearityRegularizer, {"threat": ThreatModel(0.1, "inf"), "mu": -1.0}, "mu"),
])
def test_baselines_reject_bad_hyperparameters(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)
