"""Input-gradient regularization (GR): the dual norm of the loss gradient, ``λ·ε‖g‖_*``.

``ε‖g‖_*`` is the first-order increase of the loss over the ε-ball, ``max_{‖δ‖≤ε} gᵀδ``: ``ε‖g‖₁`` for L∞ and
``ε‖g‖₂`` for L2. ``mode="double_backprop"`` differentiates it through ``g`` (Drucker & LeCun 1992; Ross &
Doshi-Velez 2018); ``mode="finite_difference"`` replaces it by ``(ℓ(x + hδ*) − ℓ(x))/h`` with ``δ* = lmo(g)``
held fixed, which needs no second-order pass (Finlay & Oberman 2019).

| Paper link: https://arxiv.org/abs/1905.11468
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from art_sor.core.checks import check_choice, check_non_negative, check_positive
from art_sor.core.gradients import LossFn, gradient_at
from art_sor.core.lmo import linear_maximizer
from art_sor.core.penalty import Penalty
from art_sor.core.threat import ThreatModel, check_threat

GRMode = Literal["double_backprop", "finite_difference"]
GR_MODES: tuple[GRMode, ...] = ("double_backprop", "finite_difference")


@dataclass(frozen=True)
class GradientNormRegularizer:
    """GR as a :class:`~art_sor.core.penalty.Regularizer`: ``λ·mean(ε‖∇ₓℓ‖_*)``.

    | Paper link: https://arxiv.org/abs/1905.11468

    :param threat: The threat model: its radius scales the dual norm of its norm (L1 for L∞, L2 for L2).
    :param lam: Weight ``λ``.
    :param mode: ``"double_backprop"`` or ``"finite_difference"``.
    :param h: Finite-difference step, relative to ``δ*`` (``mode="finite_difference"`` only).
    """

    threat: ThreatModel
    lam: float = 1.0
    mode: GRMode = "double_backprop"
    h: float = 0.1

    def __post_init__(self) -> None:
        check_threat(self.threat)
        object.__setattr__(self, "lam", check_non_negative(self.lam, "lam"))
        object.__setattr__(self, "h", check_positive(self.h, "h"))
        check_choice(self.mode, GR_MODES, "mode")
        if self.mode == "double_backprop" and self.h != type(self).h:
            raise ValueError(f"h={self.h:g} has no effect: mode='double_backprop' differentiates exactly and uses no "
                             "step; drop h, or use mode='finite_difference'")

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean(ε‖g‖_*)`` for the batch ``x``."""
        if self.mode == "double_backprop":
            at = gradient_at(loss_fn, x, create_graph=True)
            flat = at.grad.flatten(1)
            increase = self.threat.eps * self.threat.geometry.dual(flat)
        else:
            at = gradient_at(loss_fn, x)
            direction = linear_maximizer(at.grad, self.threat.eps, self.threat.geometry)
            increase = (loss_fn(x + self.h * direction) - at.losses) / self.h
        mean_increase = increase.mean()
        return Penalty(value=self.lam * mean_increase, clean_losses=at.losses,
                       parts={"gradient_norm": mean_increase.detach()})

