"""Local linearity regularization (LLR).

``γ(ε, x) = max_{‖δ‖≤ε} |ℓ(x+δ) − ℓ(x) − δᵀ∇ℓ(x)|`` measures how far the loss is from its linear model in the
ball; a few PGD steps find the maximiser ``δ_LLR``. The training loss is ``ℓ + λ·γ + μ·|δ_LLRᵀ∇ℓ(x)|``.

| Paper link: https://arxiv.org/abs/1907.02610
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from art_sor.core.batch import batch_dot
from art_sor.core.checks import check_count, check_non_negative, check_positive
from art_sor.core.gradients import LossFn, gradient_at
from art_sor.core.lmo import Box
from art_sor.core.penalty import Penalty
from art_sor.core.projection import projected_gradient_ascent
from art_sor.core.threat import ThreatModel, check_threat


def linearity_gap(loss_fn: LossFn, x: torch.Tensor, losses: torch.Tensor, grad: torch.Tensor, delta: torch.Tensor
                  ) -> torch.Tensor:
    """Per-sample ``|ℓ(x+δ) − ℓ(x) − δᵀ∇ℓ(x)|`` given ``ℓ(x)`` and ``∇ℓ(x)``."""
    return (loss_fn(x + delta) - losses - batch_dot(delta, grad)).abs()


def maximize_linearity_gap(loss_fn: LossFn, x: torch.Tensor, losses: torch.Tensor, grad: torch.Tensor,
                           threat: ThreatModel, steps: int, step_size: float, box: Box | None = None) -> torch.Tensor:
    """PGD from a random start on the linearity gap; ``losses`` and ``grad`` are taken as constants.

    :return: ``δ_LLR``, detached.
    """
    x, losses, grad = x.detach(), losses.detach(), grad.detach()
    return projected_gradient_ascent(lambda delta: linearity_gap(loss_fn, x, losses, grad, delta), x, threat, steps,
                                     step_size, box)


@dataclass(frozen=True)
class LocalLinearityRegularizer:
    """LLR as a :class:`~art_sor.core.penalty.Regularizer`: ``λ·mean γ + μ·mean |δ_LLRᵀ∇ℓ(x)|``.

    | Paper link: https://arxiv.org/abs/1907.02610

    :param threat: The threat model's ball.
    :param lam: Weight ``λ`` of the linearity gap (the paper's 4.0).
    :param mu: Weight ``μ`` of the gradient term (the paper's 3.0).
    :param steps: PGD steps of the inner maximisation.
    :param step_size: PGD step, by default ``2.5·ε/steps``.
    :param box: Data bounds for ``x + δ``.
    """

    threat: ThreatModel
    lam: float = 4.0
    mu: float = 3.0
    steps: int = 3
    step_size: float | None = None
    box: Box | None = None

    def __post_init__(self) -> None:
        check_threat(self.threat)
        object.__setattr__(self, "lam", check_non_negative(self.lam, "lam"))
        object.__setattr__(self, "mu", check_non_negative(self.mu, "mu"))
        object.__setattr__(self, "steps", check_count(self.steps, "steps"))
        step_size = 2.5 * self.threat.eps / self.steps if self.step_size is None else self.step_size
        object.__setattr__(self, "step_size", check_positive(step_size, "step_size"))

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean γ + μ·mean |δᵀg|`` at the PGD maximiser ``δ`` of the linearity gap."""
        at = gradient_at(loss_fn, x, create_graph=True)
        delta = maximize_linearity_gap(loss_fn, x, at.losses, at.grad, self.threat, self.steps, self.step_size,
                                       self.box)
        gap = linearity_gap(loss_fn, at.x, at.losses, at.grad, delta).mean()
        slope = batch_dot(delta, at.grad).abs().mean()
        return Penalty(value=self.lam * gap + self.mu * slope, clean_losses=at.losses,
                       parts={"linearity_gap": gap.detach(), "gradient_term": slope.detach()})
