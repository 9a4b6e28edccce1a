"""Linear maximisation over the ε-ball: the extreme point a perturbation step moves toward."""

from __future__ import annotations

import torch

from art_sor.core.batch import TINY, per_sample, sample_norms
from art_sor.core.norms import Norm

Box = tuple[torch.Tensor, torch.Tensor]
"""Lower and upper bounds of the data, broadcastable to the input batch."""


def linear_maximizer(
    v: torch.Tensor, eps: float, norm: Norm, x: torch.Tensor | None = None, box: Box | None = None
) -> torch.Tensor:
    """Per-sample maximiser of ``vᵀδ`` over ``‖δ‖ ≤ ε``.

    L∞ gives ``ε·sign(v)``; L2 gives ``ε·v/‖v‖``. A sample whose ``v`` is zero gets ``δ = 0``. With a ``box``,
    the step is clipped so that ``x + δ`` stays in the data range: ``δ = clip(x + δ) − x``. For L∞ this is the
    exact maximiser over the intersection of ball and box; for L2 it is a feasible point of that intersection,
    which is what ART's attacks use too.

    :param v: Batch of directions, shape ``(B, ...)``.
    :param eps: Radius of the ball.
    :param norm: ``"inf"`` or ``"l2"``.
    :param x: Batch the perturbation is added to; needed only with ``box``.
    :param box: ``(lower, upper)`` bounds of the data, or ``None`` for no bounds.
    :return: ``δ``, same shape as ``v``.
    """
    if norm == "inf":
        delta = eps * torch.sign(v)
    elif norm == "l2":
        norms = per_sample(sample_norms(v), v)
        delta = torch.where(norms > TINY, eps * v / norms.clamp_min(TINY), torch.zeros_like(v))
    else:
        raise ValueError(f"norm must be 'inf' or 'l2', got {norm!r}")
    if box is None:
        return delta
    if x is None:
        raise ValueError("x is needed to clip the step to the box")
    lower, upper = box
    return torch.maximum(torch.minimum(x + delta, upper), lower) - x
