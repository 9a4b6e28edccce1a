"""Curvature regularization (CURE): ``λ‖∇ℓ(x + h·z) − ∇ℓ(x)‖²`` with ``z = sign(g)/‖sign(g)‖₂``.

A finite-difference estimate of ``h²‖Hz‖²`` along the gradient-sign direction, which penalises the curvature
that makes the loss rise faster than linearly in the worst direction.

| Paper link: https://arxiv.org/abs/1811.09716
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from art_sor.core.checks import check_non_negative, check_positive
from art_sor.core.gradients import LossFn, gradient_at
from art_sor.core.lmo import linear_maximizer
from art_sor.core.norms import GEOMETRIES
from art_sor.core.penalty import Penalty


@dataclass(frozen=True)
class CurvatureRegularizer:
    """CURE as a :class:`~art_sor.core.penalty.Regularizer`: ``λ·mean ‖∇ℓ(x + h·z) − ∇ℓ(x)‖²``.

    | Paper link: https://arxiv.org/abs/1811.09716

    :param h: L2 length of the finite-difference step ``h·z``.
    :param lam: Weight ``λ``.
    """

    h: float
    lam: float = 4.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "h", check_positive(self.h, "h"))
        object.__setattr__(self, "lam", check_non_negative(self.lam, "lam"))

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean ‖∇ℓ(x + h·z) − ∇ℓ(x)‖²`` for the batch ``x``."""
        at = gradient_at(loss_fn, x, create_graph=True)
        # z = sign(g)/‖sign(g)‖₂ is the L2 maximiser of zᵀ·sign(g); it is 0 where g is 0.
        z = linear_maximizer(torch.sign(at.grad.detach()), 1.0, GEOMETRIES["l2"])
        shifted = gradient_at(loss_fn, at.x.detach() + self.h * z, create_graph=True)
        curvature = (shifted.grad - at.grad).flatten(1).pow(2).sum(1).mean()
        return Penalty(value=self.lam * curvature, clean_losses=at.losses,
                       parts={"curvature": curvature.detach()})
