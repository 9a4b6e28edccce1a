"""The pure-torch core against independent references: exact Hessians from torch.autograd.functional."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import TinyMLP, assert_close, per_sample_ce, reference_grad_and_hessian
from torch import nn
from torch.autograd.functional import hessian

from art_sor.core import gradient_at, hessian_vector_product, linear_maximizer, sor_loss, worst_case_perturbation
from art_sor.core.gradient_norm import GradientNormRegularizer
from art_sor.core.norms import GEOMETRIES, norm_label, parse_norm
from art_sor.core.sor import SecondOrderRegularizer
from art_sor.core.threat import ThreatModel


def test_gradient_is_per_sample(tiny_problem):
    model, x, y = tiny_problem
    at = gradient_at(per_sample_ce(model, y), x)
    g_ref, _ = reference_grad_and_hessian(model, x, y)
    assert_close(at.grad, g_ref)
    assert not x.requires_grad


def test_exact_hvp_matches_autograd_hessian(tiny_problem):
    model, x, y = tiny_problem
    v = torch.randn_like(x)
    at = gradient_at(per_sample_ce(model, y), x, create_graph=True)
    hv = hessian_vector_product(per_sample_ce(model, y), at, v, mode="exact")
    _, h_ref = reference_grad_and_hessian(model, x, y)
    assert_close(hv, torch.einsum("bij,bj->bi", h_ref, v))


def test_finite_difference_hvp_converges_to_exact(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    v = torch.randn_like(x)
    at = gradient_at(loss_fn, x, create_graph=True)
    exact = hessian_vector_product(loss_fn, at, v, mode="exact")
    errors = [(hessian_vector_product(loss_fn, at, v, mode="finite_difference", h=h) - exact).norm().item()
              for h in (1e-1, 1e-2, 1e-3, 1e-4)]
    # First-order accurate: each tenfold smaller step cuts the error about tenfold.
    for coarse, fine in itertools.pairwise(errors):
        assert fine < coarse / 5
    assert errors[-1] < 1e-4 * exact.norm().item()


def test_exact_hvp_needs_graph(tiny_problem):
    model, x, y = tiny_problem
    at = gradient_at(per_sample_ce(model, y), x)
    with pytest.raises(ValueError, match="create_graph"):
        hessian_vector_product(per_sample_ce(model, y), at, x, mode="exact")


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_finite_difference_rejects_bad_h(tiny_problem, bad):
    model, x, y = tiny_problem
    at = gradient_at(per_sample_ce(model, y), x)
    with pytest.raises(ValueError, match="h must be"):
        hessian_vector_product(per_sample_ce(model, y), at, x, mode="finite_difference", h=bad)


def test_lmo_linf_and_l2_closed_forms():
    v = torch.tensor([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert_close(linear_maximizer(v, 0.5, GEOMETRIES["inf"]), torch.tensor([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]],
                                                                  dtype=torch.float64))
    assert_close(linear_maximizer(v, 0.5, GEOMETRIES["l2"]), torch.tensor([[0.3, -0.4, 0.0], [0.0, 0.0, 0.0]],
                                                                 dtype=torch.float64))


def test_lmo_zero_gradient_gives_zero_not_nan():
    for norm in ("inf", "l2"):
        delta = linear_maximizer(torch.zeros(2, 1, 3, 3), 0.3, GEOMETRIES[norm])
        assert torch.equal(delta, torch.zeros(2, 1, 3, 3))


def test_lmo_box_keeps_step_in_data_range():
    x = torch.tensor([[0.0, 0.95, 0.5, 0.02]])
    v = torch.tensor([[-1.0, 1.0, 1.0, -1.0]])
    box = (torch.tensor(0.0), torch.tensor(1.0))
    delta = linear_maximizer(v, 0.1, GEOMETRIES["inf"], x=x, box=box)
    assert_close(delta, torch.tensor([[0.0, 0.05, 0.1, -0.02]]), rtol=0, atol=1e-7)
    # Without clip values there is no box.
    assert_close(linear_maximizer(v, 0.1, GEOMETRIES["inf"], x=x), 0.1 * v)


def test_lmo_per_feature_box():
    x = torch.zeros(1, 2)
    box = (torch.tensor([-1.0, -0.05]), torch.tensor([0.02, 1.0]))
    delta = linear_maximizer(torch.tensor([[1.0, -1.0]]), 0.1, GEOMETRIES["inf"], x=x, box=box)
    assert_close(delta, torch.tensor([[0.02, -0.05]]))


@pytest.mark.parametrize("norm", ["inf", "l2"])
def test_sor_one_iteration_closed_form(tiny_problem, norm):
    model, x, y = tiny_problem
    eps, lam = 0.3, 0.7
    result = sor_loss(per_sample_ce(model, y), x, ThreatModel(eps, norm), iterations=1, lam=lam, hvp="exact")
    g, hess = reference_grad_and_hessian(model, x, y)
    if norm == "inf":
        delta = eps * g.sign()
        first = eps * g.abs().sum(1)
    else:
        delta = eps * g / g.norm(dim=1, keepdim=True)
        first = eps * g.norm(dim=1)
    second = 0.5 * torch.einsum("bi,bij,bj->b", delta, hess, delta)
    losses = nn.functional.cross_entropy(model(x), y, reduction="none")
    assert_close(result.delta, delta)
    assert_close(result.first_order, first)
    assert_close(result.second_order, second)
    assert_close(result.loss, (losses + lam * (first + second)).mean())


def test_sor_weight_gradient_matches_torch_func_reference(tiny_problem):
    """The weights' gradient through g and Hδ, against torch.func's jacrev/hessian (separate machinery)."""
    model, x, y = tiny_problem
    eps, lam = 0.2, 1.3
    result = sor_loss(per_sample_ce(model, y), x, ThreatModel(eps, "inf"), lam=lam, hvp="exact")
    model.zero_grad()
    result.loss.backward()
    ours = [p.grad.clone() for p in model.parameters()]

    params = dict(model.named_parameters())
    delta = result.delta

    def objective(p: dict[str, torch.Tensor]) -> torch.Tensor:
        def loss_one(xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            logits = torch.func.functional_call(model, p, (xi[None],))
            return nn.functional.cross_entropy(logits, yi[None])
        total = 0.0
        for i in range(len(x)):
            g = torch.func.jacrev(loss_one)(x[i], y[i])
            h = torch.func.hessian(loss_one)(x[i], y[i])
            total = total + loss_one(x[i], y[i]) + lam * (g @ delta[i] + 0.5 * delta[i] @ h @ delta[i])
        return total / len(x)

    reference = torch.func.grad(objective)(params)
    for (name, _), mine in zip(model.named_parameters(), ours, strict=True):
        assert_close(mine, reference[name])


def test_sor_finite_difference_matches_its_definition(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    h, eps = 0.5, 0.25
    result = sor_loss(loss_fn, x, ThreatModel(eps, "l2"), h=h, hvp="finite_difference")
    g, _ = reference_grad_and_hessian(model, x, y)
    g_shift, _ = reference_grad_and_hessian(model, x + h * result.delta, y)
    assert_close(result.second_order, 0.5 * (result.delta * (g_shift - g)).sum(1) / h)


def trust_region_maximum(g: np.ndarray, hess: np.ndarray, eps: float) -> float:
    """Global max of gᵀδ + ½δᵀHδ over ‖δ‖ ≤ ε, from the eigen-decomposition and a bisection on the multiplier."""
    w, q = np.linalg.eigh(hess)
    b = q.T @ g

    def boundary_delta(mu: float) -> np.ndarray:
        return q @ (b / (mu - w))

    lo, hi = max(w.max(), 0.0) + 1e-12, w.max() + np.abs(g).sum() / eps + np.abs(w).max() + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.linalg.norm(boundary_delta(mid)) > eps:
            lo = mid
        else:
            hi = mid
    delta = boundary_delta(hi)
    return float(g @ delta + 0.5 * delta @ hess @ delta)


def test_l2_iterations_approach_trust_region_maximum(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    eps = 1.5  # large enough that the curvature matters
    at = gradient_at(loss_fn, x, create_graph=True)
    g, hess = reference_grad_and_hessian(model, x, y)
    optimum = np.array([trust_region_maximum(g[i].numpy(), hess[i].numpy(), eps) for i in range(len(x))])

    def gaps(iterations: int, step: str) -> np.ndarray:
        delta = worst_case_perturbation(loss_fn, at, ThreatModel(eps, "l2"), iterations=iterations, step=step,
                                        hvp="exact")
        value = (g * delta).sum(1) + 0.5 * torch.einsum("bi,bij,bj->b", delta, hess, delta)
        assert np.all(delta.norm(dim=1).numpy() <= eps + 1e-9)
        return optimum - value.numpy()

    assert np.all(gaps(1, "replace") >= -1e-9), "the reference must be the maximum"
    assert np.all(gaps(200, "replace") < 1e-8 * np.maximum(1.0, np.abs(optimum)))
    for step in ("replace", "frank_wolfe"):
        assert gaps(1, step).sum() > gaps(5, step).sum() > gaps(50, step).sum() >= -1e-9


def test_frank_wolfe_averages_with_two_over_k_plus_two(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    at = gradient_at(loss_fn, x, create_graph=True)
    eps = 0.4
    g = at.grad.detach()
    s0 = linear_maximizer(g, eps, GEOMETRIES["inf"])
    s1 = linear_maximizer(g + hessian_vector_product(loss_fn, at, s0, mode="exact"), eps, GEOMETRIES["inf"])
    expected = s0 + (2.0 / 3.0) * (s1 - s0)
    delta = worst_case_perturbation(loss_fn, at, ThreatModel(eps, "inf"), iterations=2, step="frank_wolfe", hvp="exact")
    assert_close(delta, expected)
    assert not delta.requires_grad


def test_search_respects_box_for_every_iterate(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    x01 = torch.sigmoid(x)
    box = (torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    at = gradient_at(loss_fn, x01)
    for step in ("replace", "frank_wolfe"):
        delta = worst_case_perturbation(loss_fn, at, ThreatModel(0.9, "inf"), iterations=4, step=step, box=box)
        assert torch.all(x01 + delta <= 1.0) and torch.all(x01 + delta >= 0.0)
        assert delta.abs().max() <= 0.9 + 1e-12


def test_float32_matches_float64(tiny_problem):
    model, x, y = tiny_problem
    r64 = sor_loss(per_sample_ce(model, y), x, ThreatModel(0.1, "l2"), iterations=2)
    model32 = TinyMLP()
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    r32 = sor_loss(per_sample_ce(model32, y), x.float(), ThreatModel(0.1, "l2"), iterations=2)
    assert r32.loss.dtype == torch.float32
    assert math.isclose(r32.loss.item(), r64.loss.item(), rel_tol=1e-4)


def test_sor_loss_rejects_bad_hyperparameters(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    threat = ThreatModel(0.1, "inf")
    for kwargs, name in [({"threat": 0.1}, "threat"), ({"threat": threat, "iterations": 0}, "iterations"),
                         ({"threat": threat, "h": -1.0}, "h"), ({"threat": threat, "lam": -0.5}, "lam"),
                         ({"threat": threat, "hvp": "magic"}, "hvp"), ({"threat": threat, "step": "jump"}, "step")]:
        with pytest.raises(ValueError, match=name):
            sor_loss(loss_fn, x, **kwargs)
    # The radius and the norm are checked once, by the threat model.
    for args, name in [((0.0, "inf"), "eps"), ((0.1, 3), "norm")]:
        with pytest.raises(ValueError, match=name):
            ThreatModel(*args)


@pytest.mark.parametrize("spelling,expected", [(np.inf, "inf"), ("inf", "inf"), ("Linf", "inf"), (2, "l2"),
                                               ("l2", "l2"), ("L2", "l2"), (2.0, "l2"), (1, "l1"), ("L1", "l1")])
def test_parse_norm(spelling, expected):
    assert parse_norm(spelling) == expected
    assert norm_label(parse_norm(spelling)) == {"inf": "L∞", "l2": "L2", "l1": "L1"}[expected]


@pytest.mark.parametrize("bad", [3, "l3", 0, True, None, -np.inf])
def test_parse_norm_rejects(bad):
    with pytest.raises(ValueError, match="norm"):
        parse_norm(bad)


def test_loss_fn_must_be_per_sample(tiny_problem):
    model, x, y = tiny_problem
    with pytest.raises(ValueError, match="one loss per sample"):
        gradient_at(lambda z: nn.functional.cross_entropy(model(z), y), x)


def test_random_start_search_uses_the_start_and_stays_in_the_ball(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    at = gradient_at(loss_fn, x, create_graph=True)
    start = torch.full_like(x, 0.05)
    with_start = worst_case_perturbation(loss_fn, at, ThreatModel(0.1, "inf"), iterations=1, hvp="exact", start=start)
    _, hessian = reference_grad_and_hessian(model, x, y)
    expected = 0.1 * torch.sign(at.grad + torch.einsum("bij,bj->bi", hessian, start))
    assert_close(with_start, expected)


def test_perturbed_objective_is_the_loss_rise_at_the_found_delta(tiny_problem):
    from art_sor.core.sor import SecondOrderRegularizer

    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    penalty = SecondOrderRegularizer(ThreatModel(0.1, "inf"), lam=0.5, objective="perturbed")(loss_fn, x)
    at = gradient_at(loss_fn, x)
    delta = 0.1 * torch.sign(at.grad)
    expected = 0.5 * (loss_fn(x + delta) - loss_fn(x)).mean()
    assert_close(penalty.value, expected)
    penalty.value.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_loss_difference_estimate_converges_quadratically_to_the_exact_model(tiny_problem):
    """gᵀδ and δᵀHδ from losses at x ± hδ: errors against exact autograd Hessians fall as h² (ratio ≈ 4 per halving)."""
    from art_sor.core.sor import SecondOrderRegularizer

    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    at = gradient_at(loss_fn, x)
    delta = linear_maximizer(at.grad, 0.5, GEOMETRIES["inf"])
    exact_first = (at.grad * delta).sum(1)
    exact_second = torch.stack([
        0.5 * delta[i] @ hessian(lambda z, i=i: loss_fn(torch.cat([x[:i], z[None], x[i + 1:]]))[i], x[i]) @ delta[i]
        for i in range(len(x))])
    errors = []
    for h in (0.2, 0.1, 0.05):
        terms = SecondOrderRegularizer(ThreatModel(0.5, "inf"), hvp="loss_difference", h=h).terms(loss_fn, x)
        torch.testing.assert_close(terms.delta, delta)
        errors.append(((terms.first_order - exact_first).abs().max().item(),
                       (terms.second_order - exact_second).abs().max().item()))
    for coarse, fine in itertools.pairwise(errors):
        for e_coarse, e_fine in zip(coarse, fine, strict=True):
            assert 3.0 < e_coarse / e_fine < 5.0
    assert errors[-1][0] < 1e-3 and errors[-1][1] < 1e-3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hvp": "exact", "h": 0.5}, "h=0.5 has no effect"),
    ({"step": "frank_wolfe"}, "step='frank_wolfe' has no effect with iterations=1"),
    ({"step": "frank_wolfe", "random_start": True}, "step='frank_wolfe' has no effect"),
    ({"objective": "perturbed", "hvp": "exact"}, "hvp='exact' has no effect"),
    ({"objective": "perturbed", "h": 0.5}, "h=0.5 has no effect"),
])
def test_sor_settings_that_cannot_change_what_runs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SecondOrderRegularizer(ThreatModel(0.1, "inf"), **kwargs)


@pytest.mark.parametrize("kwargs", [{"hvp": "exact"}, {"hvp": "finite_difference", "h": 0.5},
                                    {"hvp": "loss_difference", "h": 0.5}, {"step": "frank_wolfe", "iterations": 2},
                                    {"objective": "perturbed", "hvp": "exact", "iterations": 2},
                                    {"objective": "perturbed", "h": 0.5, "random_start": True}])
def test_sor_settings_that_change_what_runs_are_accepted(kwargs):
    SecondOrderRegularizer(ThreatModel(0.1, "inf"), **kwargs)


def test_gradient_norm_step_is_refused_where_it_is_not_used():
    with pytest.raises(ValueError, match=r"h=0\.5 has no effect: mode='double_backprop'"):
        GradientNormRegularizer(ThreatModel(0.1, "inf"), h=0.5)
    assert GradientNormRegularizer(ThreatModel(0.1, "inf"), mode="finite_difference", h=0.5).h == 0.5
