"""Each norm's geometry against independent computations: vertices, bisection, and the law of a uniform ball."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from art_sor.core.batch import batch_dot
from art_sor.core.norms import GEOMETRIES, geometry_of
from art_sor.core.threat import ThreatModel

NAMES = sorted(GEOMETRIES)
EPS = 0.7


def _batch(seed: int = 0, shape: tuple[int, ...] = (6, 2, 3)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _sizes(name: str, delta: torch.Tensor) -> np.ndarray:
    return GEOMETRIES[name].size(delta.flatten(1).numpy())


def _reference_size(name: str, flat: np.ndarray) -> np.ndarray:
    return np.linalg.norm(flat, ord={"inf": np.inf, "l2": 2, "l1": 1}[name], axis=1)


@pytest.mark.parametrize("name", NAMES)
def test_size_is_numpys_norm_and_dual_is_the_rise_over_the_unit_ball(name):
    v = _batch()
    flat = v.flatten(1).numpy()
    np.testing.assert_allclose(GEOMETRIES[name].size(flat), _reference_size(name, flat))
    dual_order = {"inf": 1, "l2": 2, "l1": np.inf}[name]
    np.testing.assert_allclose(GEOMETRIES[name].dual(v.flatten(1)).numpy(),
                               np.linalg.norm(flat, ord=dual_order, axis=1))


@pytest.mark.parametrize("name", NAMES)
def test_steepest_step_is_on_the_sphere_and_no_vertex_rises_more(name):
    geometry, v = GEOMETRIES[name], _batch(1)
    step = geometry.steepest(v, EPS)
    np.testing.assert_allclose(_sizes(name, step), EPS)
    rise = batch_dot(v, step)
    np.testing.assert_allclose(rise.numpy(), EPS * geometry.dual(v.flatten(1)).numpy())
    # Random points of the ball never rise more than the maximiser.
    others = geometry.project(_batch(2, (200, *v.shape[1:])) * 3, EPS)
    for sample in range(len(v)):
        assert float((others.flatten(1) @ v[sample].flatten()).max()) <= float(rise[sample]) + 1e-12
    assert torch.equal(geometry.steepest(torch.zeros_like(v), EPS), torch.zeros_like(v))
    length = float(geometry.steepest(torch.ones(1, 24, dtype=torch.float64), EPS).norm())
    assert geometry.step_length(EPS, 24) == pytest.approx(length)


def _l1_projection_by_bisection(y: np.ndarray, eps: float) -> np.ndarray:
    if np.abs(y).sum() <= eps:
        return y
    low, high = 0.0, float(np.abs(y).max())
    for _ in range(200):
        theta = (low + high) / 2
        low, high = (theta, high) if np.clip(np.abs(y) - theta, 0, None).sum() > eps else (low, theta)
    return np.sign(y) * np.clip(np.abs(y) - (low + high) / 2, 0, None)


@pytest.mark.parametrize("name", NAMES)
def test_projection_is_the_closest_point_of_the_ball(name):
    geometry = GEOMETRIES[name]
    y = _batch(3) * 2
    y[0] *= 1e-3  # inside: unchanged
    projected = geometry.project(y, EPS)
    assert np.all(_sizes(name, projected) <= EPS * (1 + 1e-9))
    torch.testing.assert_close(projected[0], y[0])
    torch.testing.assert_close(geometry.project(projected, EPS), projected)
    candidates = geometry.project(_batch(4, (500, *y.shape[1:])), EPS)
    for sample in range(len(y)):
        best = float((projected[sample] - y[sample]).norm())
        assert best <= float((candidates - y[sample]).flatten(1).norm(dim=1).min()) + 1e-12
    if name == "l1":
        for sample in range(len(y)):
            expected = _l1_projection_by_bisection(y[sample].flatten().numpy(), EPS)
            np.testing.assert_allclose(projected[sample].flatten().numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_random_points_are_uniform_in_the_ball(name):
    # For a uniform point of any d-dimensional ball, (‖δ‖/ε)^d is uniform on [0, 1].
    torch.manual_seed(0)
    dimension, samples = 3, 20000
    points = GEOMETRIES[name].random(torch.zeros(samples, dimension, dtype=torch.float64), EPS)
    radii = np.sort((_sizes(name, points) / EPS) ** dimension)
    assert radii.max() <= 1
    ks = np.abs(radii - np.arange(1, samples + 1) / samples).max()
    assert ks < 0.015, ks
    # Symmetric: no coordinate or sign is favoured.
    np.testing.assert_allclose(points.mean(0).numpy(), 0, atol=0.02)


def test_threat_model_owns_its_geometry_and_geometry_of_accepts_every_spelling():
    for spelling, name in [(np.inf, "inf"), ("l2", "l2"), (1, "l1")]:
        threat = ThreatModel(0.5, spelling)
        assert threat.geometry is GEOMETRIES[name] is geometry_of(spelling) is geometry_of(threat.geometry)
    assert ThreatModel(0.5, "l1").label == "L1 ε = 0.5"
    with pytest.raises(ValueError, match="norm"):
        geometry_of("l3")


@pytest.mark.parametrize(("eps", "norm", "refused"), [(8, "inf", True), (0.5, "inf", True), (0.49, "inf", False),
                                                      (8 / 255, "inf", False), (4.0, "l2", True),
                                                      (3.9, "l2", False), (32.0, "l1", True), (31.0, "l1", False)])
def test_a_radius_that_reaches_the_centre_of_the_box_is_refused(eps, norm, refused):
    threat = ThreatModel(eps, norm)
    if not refused:
        threat.check_box((0.0, 1.0), (1, 8, 8))
        return
    with pytest.raises(ValueError, match=r"^eps .* reaches the centre of the data box") as error:
        threat.check_box((0.0, 1.0), (1, 8, 8))
    assert ("eps=8/255" in str(error.value)) == (eps == 8)
    threat.check_box(None, (1, 8, 8))  # no box, nothing to reach
