"""Projection onto the ε-ball (and the data box), random starts inside it, and PGD ascent within it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from art_sor.core.batch import TINY, per_sample, sample_norms, unit_directions
from art_sor.core.lmo import Box, linear_maximizer
from art_sor.core.norms import Norm


def project(delta: torch.Tensor, eps: float, norm: Norm, x: torch.Tensor | None = None, box: Box | None = None
            ) -> torch.Tensor:
    """Project each sample's ``δ`` onto ``‖δ‖ ≤ ε``, then clip ``x + δ`` to ``box`` when one is given."""
    if norm == "inf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * torch.clamp(eps / per_sample(sample_norms(delta), delta).clamp_min(TINY), max=1.0)
    if box is None:
        return delta
    if x is None:
        raise ValueError("x is needed to clip the perturbation to the box")
    return torch.maximum(torch.minimum(x + delta, box[1]), box[0]) - x


def random_start(x: torch.Tensor, eps: float, norm: Norm, box: Box | None = None) -> torch.Tensor:
    """Uniform random ``δ`` in the ε-ball (L∞: per coordinate; L2: uniform in the ball), clipped to ``box``."""
    if norm == "inf":
        delta = (torch.rand_like(x) * 2 - 1) * eps
    else:
        direction = unit_directions(torch.randn_like(x))
        radius = eps * torch.rand(len(x), device=x.device, dtype=x.dtype) ** (1.0 / x[0].numel())
        delta = direction * per_sample(radius, x)
    return project(delta, eps, norm, x, box)


def projected_gradient_ascent(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float,
                              norm: Norm, steps: int, step_size: float, box: Box | None = None,
                              start: torch.Tensor | None = None) -> torch.Tensor:
    """PGD: maximise a per-sample ``objective(δ)`` over the ε-ball (and the data box) by steepest ascent steps.

    Each step moves ``step_size`` along the norm's steepest direction (``sign`` for L∞, the normalised gradient
    for L2) and projects back.

    :param objective: Maps ``δ`` (shape of ``x``) to per-sample values to maximise.
    :param start: Initial ``δ``; by default a uniform random point of the ball.
    :return: ``δ``, detached.
    """
    x = x.detach()
    delta = (random_start(x, eps, norm, box) if start is None else start).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        (ascent,) = torch.autograd.grad(objective(delta).sum(), delta)
        delta = project(delta.detach() + linear_maximizer(ascent, step_size, norm), eps, norm, x, box)
    return delta.detach()
