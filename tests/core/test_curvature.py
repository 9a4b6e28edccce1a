"""CURE (the curvature regularizer) against independent references on tiny float64 models."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_close, per_sample_ce, reference_grad_and_hessian

from art_sor.core.curvature import CurvatureRegularizer


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


@pytest.mark.parametrize("kwargs,name", [({"h": -1.0}, "h"), ({"h": 1.0, "lam": -2.0}, "lam")])
def test_cure_rejects_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CurvatureRegularizer(**kwargs)
