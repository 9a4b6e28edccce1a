"""Projection onto the ε-ball (and the data box), and random starts inside it, for PGD-style inner loops."""

from __future__ import annotations

import torch

from art_sor.core.lmo import Box
from art_sor.core.norms import Norm

_TINY = 1e-12


def project(delta: torch.Tensor, eps: float, norm: Norm, x: torch.Tensor | None = None, box: Box | None = None
            ) -> torch.Tensor:
    """Project each sample's ``δ`` onto ``‖δ‖ ≤ ε``, then clip ``x + δ`` to ``box`` when one is given."""
    if norm == "inf":
        delta = delta.clamp(-eps, eps)
    else:
        norms = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
        delta = delta * torch.clamp(eps / norms.clamp_min(_TINY), max=1.0)
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
        direction = torch.randn_like(x)
        direction = direction / direction.flatten(1).norm(dim=1).clamp_min(_TINY).view(-1, *([1] * (x.dim() - 1)))
        radius = eps * torch.rand(len(x), device=x.device, dtype=x.dtype) ** (1.0 / x[0].numel())
        delta = direction * radius.view(-1, *([1] * (x.dim() - 1)))
    return project(delta, eps, norm, x, box)
