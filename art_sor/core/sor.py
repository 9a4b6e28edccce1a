"""The second-order regularizer (SOR) and its training loss.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from art_sor.core.checks import check_choice, check_count, check_non_negative, check_positive
from art_sor.core.gradients import LossFn, batch_dot, gradient_at
from art_sor.core.hvp import HVP_MODES, HVPMode, hessian_vector_product
from art_sor.core.lmo import Box
from art_sor.core.norms import Norm, parse_norm
from art_sor.core.penalty import Penalty
from art_sor.core.search import STEP_RULES, StepRule, worst_case_perturbation


def check_sor_params(eps: float, iterations: int, h: float, lam: float, hvp: str, step: str) -> None:
    """Raise a ``ValueError`` naming the first SOR hyperparameter that is out of range."""
    check_positive(eps, "eps")
    check_count(iterations, "iterations")
    check_positive(h, "h")
    check_non_negative(lam, "lam")
    check_choice(hvp, HVP_MODES, "hvp")
    check_choice(step, STEP_RULES, "step")


@dataclass(frozen=True)
class SORLoss:
    """The SOR training loss of a batch and its parts.

    :ivar loss: ``mean(ℓ + λ·(first_order + second_order))``, a scalar that carries gradients to the weights.
    :ivar clean: Per-sample ``ℓ(x)``.
    :ivar first_order: Per-sample ``gᵀδ``.
    :ivar second_order: Per-sample ``½ δᵀHδ``.
    :ivar delta: The worst-case perturbation of the quadratic model, detached.
    """

    loss: torch.Tensor
    clean: torch.Tensor
    first_order: torch.Tensor
    second_order: torch.Tensor
    delta: torch.Tensor


def sor_loss(
    loss_fn: LossFn,
    x: torch.Tensor,
    eps: float,
    norm: Norm | object = "inf",
    iterations: int = 1,
    h: float = 1.0,
    lam: float = 1.0,
    hvp: HVPMode = "finite_difference",
    step: StepRule = "replace",
    box: Box | None = None,
) -> SORLoss:
    """SOR loss ``mean over the batch of ℓ(x) + λ·[gᵀδ + ½ δᵀHδ]``.

    ``δ`` maximises the quadratic model of the loss over the ε-ball (:func:`worst_case_perturbation`) and is then
    held fixed; the weights get the full gradient through ``g`` and ``Hδ``, which are built with
    ``create_graph=True``. The final ``Hδ`` uses the same ``hvp`` mode as the search.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param loss_fn: Per-sample loss; samples must not interact (batch norm in eval mode).
    :param x: Batch of inputs.
    :param eps: Radius of the threat model's ball.
    :param norm: ``"inf"`` or ``"l2"`` (or ``np.inf``, ``2``).
    :param iterations: Steps of the perturbation search.
    :param h: Finite-difference step of the Hessian-vector products.
    :param lam: Weight ``λ`` of the regularizer.
    :param hvp: ``"exact"`` (double backward) or ``"finite_difference"``.
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param box: Data bounds that ``x + δ`` must respect, or ``None``.
    :return: The loss and its parts.
    """
    norm = parse_norm(norm)
    check_sor_params(eps, iterations, h, lam, hvp, step)
    at = gradient_at(loss_fn, x, create_graph=True)
    delta = worst_case_perturbation(loss_fn, at, eps, norm, iterations=iterations, step=step, hvp=hvp, h=h,
                                    box=box)
    h_delta = hessian_vector_product(loss_fn, at, delta, mode=hvp, h=h, create_graph=True)
    first_order = batch_dot(at.grad, delta)
    second_order = 0.5 * batch_dot(delta, h_delta)
    loss = (at.losses + lam * (first_order + second_order)).mean()
    return SORLoss(loss=loss, clean=at.losses, first_order=first_order, second_order=second_order, delta=delta)


@dataclass(frozen=True)
class SecondOrderRegularizer:
    """SOR as a :class:`~art_sor.core.penalty.Regularizer`: ``λ·mean(gᵀδ + ½ δᵀHδ)``.

    | Paper link: https://arxiv.org/abs/2009.04923
    """

    eps: float
    norm: Norm
    iterations: int = 1
    h: float = 1.0
    lam: float = 1.0
    hvp: HVPMode = "finite_difference"
    step: StepRule = "replace"
    box: Box | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", parse_norm(self.norm))
        check_sor_params(self.eps, self.iterations, self.h, self.lam, self.hvp, self.step)

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean(gᵀδ + ½ δᵀHδ)`` for the batch ``x``."""
        terms = sor_loss(loss_fn, x, self.eps, self.norm, self.iterations, self.h, self.lam, self.hvp,
                         self.step, self.box)
        first, second = terms.first_order.mean(), terms.second_order.mean()
        return Penalty(
            value=self.lam * (first + second),
            clean_losses=terms.clean,
            parts={"first_order": first.detach(), "second_order": second.detach()},
        )
