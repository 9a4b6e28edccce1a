"""GR (the gradient-norm regularizer) against independent references on tiny float64 models."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_close, losses_of, per_sample_ce, reference_grad_and_hessian
from torch import nn

from art_sor.core.gradient_norm import GradientNormRegularizer
from art_sor.core.threat import ThreatModel


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
    fine = GradientNormRegularizer(ThreatModel(eps, "inf"), mode="finite_difference", h=1e-5)(
        per_sample_ce(model, y), x)
    assert math.isclose(fine.value.item(), eps * g.abs().sum(1).mean().item(), rel_tol=1e-4)


@pytest.mark.parametrize("kwargs,name", [({"threat": 0.1}, "threat"),
                                         ({"threat": ThreatModel(0.1, "inf"), "mode": "exact"}, "mode")])
def test_gr_rejects_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GradientNormRegularizer(**kwargs)
