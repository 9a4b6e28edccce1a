"""Linear maximisation over the ε-ball: the extreme point a perturbation step moves toward."""

from __future__ import annotations

import torch

from art_sor.core.errors import SettingTypeError
from art_sor.core.norms import NormGeometry

Box = tuple[torch.Tensor, torch.Tensor]
"""Lower and upper bounds of the data, broadcastable to the input batch."""


def linear_maximizer(
    v: torch.Tensor, eps: float, geometry: NormGeometry, x: torch.Tensor | None = None, box: Box | None = None
) -> torch.Tensor:
    """Per-sample maximiser of ``vᵀδ`` over ``‖δ‖ ≤ ε``: the norm's :meth:`~art_sor.core.norms.NormGeometry.steepest`.

    L∞ gives ``ε·sign(v)``; L2 gives ``ε·v/‖v‖``; L1 the vertex on ``v``'s largest coordinate. A sample whose ``v``
    is zero gets ``δ = 0``. With a ``box``, the step is clipped so that ``x + δ`` stays in the data range:
    ``δ = clip(x + δ) − x``. For L∞ this is the exact maximiser over the intersection of ball and box; for L2 and
    L1 it is a feasible point of that intersection, which is what ART's attacks use too.

    :param v: Batch of directions, shape ``(B, ...)``.
    :param eps: Radius of the ball (a threat model's, or a step's).
    :param geometry: The ball's norm, e.g. a :class:`~art_sor.core.threat.ThreatModel`'s ``geometry``.
    :param x: Batch the perturbation is added to; needed only with ``box``.
    :param box: ``(lower, upper)`` bounds of the data, or ``None`` for no bounds.
    :return: ``δ``, same shape as ``v``.
    """
    if not isinstance(geometry, NormGeometry):
        raise SettingTypeError(f"geometry must be a NormGeometry (a ThreatModel's geometry), got {geometry!r}",
                               "geometry")
    return clip_to_box(geometry.steepest(v, eps), x, box)


def clip_to_box(delta: torch.Tensor, x: torch.Tensor | None, box: Box | None) -> torch.Tensor:
    """``clip(x + δ) − x``: the part of the step that keeps ``x + δ`` in the data range (``δ`` without a box)."""
    if box is None:
        return delta
    if x is None:
        raise ValueError("x is needed to clip the perturbation to the box")
    return torch.maximum(torch.minimum(x + delta, box[1]), box[0]) - x
