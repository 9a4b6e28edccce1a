"""The second-order regularizer (SOR) and its training loss.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from art_sor.core.batch import batch_dot
from art_sor.core.checks import check_bool, check_choice, check_count, check_non_negative, check_positive
from art_sor.core.gradients import LossFn, gradient_at
from art_sor.core.hvp import HVP_MODES, HVPMode, hessian_vector_product
from art_sor.core.lmo import Box
from art_sor.core.norms import Norm, parse_norm
from art_sor.core.penalty import Penalty
from art_sor.core.projection import random_start
from art_sor.core.search import STEP_RULES, StepRule, worst_case_perturbation

Objective = Literal["quadratic", "perturbed"]
OBJECTIVES: tuple[Objective, ...] = ("quadratic", "perturbed")


@dataclass(frozen=True)
class SORTerms:
    """Per-sample parts of the SOR loss of a batch.

    :ivar clean: ``ℓ(x)``.
    :ivar first_order: ``gᵀδ``.
    :ivar second_order: ``½ δᵀHδ``.
    :ivar delta: The worst-case perturbation of the quadratic model, detached.
    """

    clean: torch.Tensor
    first_order: torch.Tensor
    second_order: torch.Tensor
    delta: torch.Tensor


@dataclass(frozen=True)
class SecondOrderRegularizer:
    """SOR as a :class:`~art_sor.core.penalty.Regularizer`: ``λ·mean(gᵀδ + ½ δᵀHδ)``.

    ``δ`` maximises the quadratic model of the loss over the ε-ball (:func:`worst_case_perturbation`) and is then
    held fixed; the weights get the full gradient through ``g`` and ``Hδ``, which are built with
    ``create_graph=True``. The final ``Hδ`` uses the same ``hvp`` mode as the search.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param eps: Radius of the threat model's ball.
    :param norm: ``"inf"`` or ``"l2"`` (or ``np.inf``, ``2``).
    :param iterations: Steps of the perturbation search.
    :param h: Finite-difference step of the Hessian-vector products, relative to ``δ``. With ``h = 1`` (the
              default, chosen by the h/λ sweep in the results), ``g + Hδ`` is the true gradient at ``x + δ``.
    :param lam: Weight ``λ`` of the regularizer (default 1, from the same sweep).
    :param hvp: ``"exact"`` (double backward) or ``"finite_difference"``.
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param box: Data bounds that ``x + δ`` must respect, or ``None``.
    :param random_start: Start the search at a uniform random point of the ball instead of 0.
    :param objective: ``"quadratic"``: penalise SOR's model ``gᵀδ + ½ δᵀHδ`` (the paper); ``"perturbed"``:
                      penalise the loss rise ``ℓ(x+δ) − ℓ(x)`` at the δ the search found (adversarial training on
                      SOR's δ).
    """

    eps: float
    norm: Norm
    iterations: int = 1
    h: float = 1.0
    lam: float = 1.0
    hvp: HVPMode = "finite_difference"
    step: StepRule = "replace"
    box: Box | None = None
    random_start: bool = False
    objective: Objective = "quadratic"

    def __post_init__(self) -> None:
        # Plain Python numbers, so that configurations compare and checkpoints load without pickled NumPy types.
        object.__setattr__(self, "norm", parse_norm(self.norm))
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        object.__setattr__(self, "iterations", check_count(self.iterations, "iterations"))
        object.__setattr__(self, "h", check_positive(self.h, "h"))
        object.__setattr__(self, "lam", check_non_negative(self.lam, "lam"))
        check_choice(self.hvp, HVP_MODES, "hvp")
        check_choice(self.step, STEP_RULES, "step")
        check_bool(self.random_start, "random_start")
        check_choice(self.objective, OBJECTIVES, "objective")

    @property
    def differentiation_order(self) -> int:
        """3 when exact Hessian-vector products enter the penalty (their weight gradient is a third derivative)."""
        return 3 if self.hvp == "exact" and self.objective == "quadratic" else 2

    def terms(self, loss_fn: LossFn, x: torch.Tensor) -> SORTerms:
        """The per-sample parts of the SOR loss at the batch ``x``; samples must not interact."""
        at = gradient_at(loss_fn, x, create_graph=True)
        start = random_start(at.x.detach(), self.eps, self.norm, self.box) if self.random_start else None
        delta = worst_case_perturbation(loss_fn, at, self.eps, self.norm, iterations=self.iterations, step=self.step,
                                        hvp=self.hvp, h=self.h, box=self.box, start=start)
        h_delta = hessian_vector_product(loss_fn, at, delta, mode=self.hvp, h=self.h, create_graph=True)
        return SORTerms(clean=at.losses, first_order=batch_dot(at.grad, delta),
                        second_order=0.5 * batch_dot(delta, h_delta), delta=delta)

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean(gᵀδ + ½ δᵀHδ)`` (or ``λ·mean(ℓ(x+δ) − ℓ(x))``) for the batch ``x``."""
        if self.objective == "perturbed":
            at = gradient_at(loss_fn, x, create_graph=self.hvp == "exact")
            start = random_start(at.x.detach(), self.eps, self.norm, self.box) if self.random_start else None
            delta = worst_case_perturbation(loss_fn, at, self.eps, self.norm, iterations=self.iterations,
                                            step=self.step, hvp=self.hvp, h=self.h, box=self.box, start=start)
            rise = (loss_fn(at.x.detach() + delta) - at.losses).mean()
            return Penalty(value=self.lam * rise, clean_losses=at.losses, parts={"loss_rise": rise.detach()})
        terms = self.terms(loss_fn, x)
        first, second = terms.first_order.mean(), terms.second_order.mean()
        return Penalty(value=self.lam * (first + second), clean_losses=terms.clean,
                       parts={"first_order": first.detach(), "second_order": second.detach()})


@dataclass(frozen=True)
class SORLoss(SORTerms):
    """The SOR training loss of a batch and its per-sample parts.

    :ivar loss: ``mean(ℓ + λ·(first_order + second_order))``, a scalar that carries gradients to the weights.
    """

    loss: torch.Tensor


def sor_loss(
    loss_fn: LossFn,
    x: torch.Tensor,
    eps: float,
    norm: Norm | object = "inf",
    iterations: int = 1,
    h: float = SecondOrderRegularizer.h,
    lam: float = SecondOrderRegularizer.lam,
    hvp: HVPMode = "finite_difference",
    step: StepRule = "replace",
    box: Box | None = None,
) -> SORLoss:
    """SOR loss ``mean over the batch of ℓ(x) + λ·[gᵀδ + ½ δᵀHδ]`` (see :class:`SecondOrderRegularizer`).

    | Paper link: https://arxiv.org/abs/2009.04923

    :param loss_fn: Per-sample loss; samples must not interact (batch norm in eval mode).
    :param x: Batch of inputs.
    :return: The loss and its parts. The other parameters are those of :class:`SecondOrderRegularizer`.
    """
    regularizer = SecondOrderRegularizer(eps=eps, norm=norm, iterations=iterations, h=h, lam=lam, hvp=hvp, step=step,
                                         box=box)
    terms = regularizer.terms(loss_fn, x)
    loss = (terms.clean + regularizer.lam * (terms.first_order + terms.second_order)).mean()
    return SORLoss(clean=terms.clean, first_order=terms.first_order, second_order=terms.second_order,
                   delta=terms.delta, loss=loss)
