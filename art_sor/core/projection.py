"""Projection onto the ε-ball (and the data box), random starts inside it, and PGD ascent within it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from art_sor.core.lmo import Box, clip_to_box, linear_maximizer
from art_sor.core.threat import ThreatModel


def project(delta: torch.Tensor, threat: ThreatModel, x: torch.Tensor | None = None, box: Box | None = None
            ) -> torch.Tensor:
    """Project each sample's ``δ`` onto the threat model's ball, then clip ``x + δ`` to ``box`` when one is given."""
    return clip_to_box(threat.geometry.project(delta, threat.eps), x, box)


def random_start(x: torch.Tensor, threat: ThreatModel, box: Box | None = None) -> torch.Tensor:
    """Uniform random ``δ`` in the threat model's ball, clipped to ``box``."""
    return project(threat.geometry.random(x, threat.eps), threat, x, box)


def projected_gradient_ascent(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                              threat: ThreatModel, steps: int, step_size: float, box: Box | None = None,
                              start: torch.Tensor | None = None) -> torch.Tensor:
    """PGD: maximise a per-sample ``objective(δ)`` over the ε-ball (and the data box) by steepest ascent steps.

    Each step moves ``step_size`` along the norm's steepest direction (``sign`` for L∞, the normalised gradient
    for L2, the largest coordinate for L1) and projects back.

    :param objective: Maps ``δ`` (shape of ``x``) to per-sample values to maximise.
    :param threat: The ball ``δ`` stays in.
    :param start: Initial ``δ``; by default a uniform random point of the ball.
    :return: ``δ``, detached.
    """
    x = x.detach()
    delta = (random_start(x, threat, box) if start is None else start).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        (ascent,) = torch.autograd.grad(objective(delta).sum(), delta)
        delta = project(delta.detach() + linear_maximizer(ascent, step_size, threat.geometry), threat, x, box)
    return delta.detach()
