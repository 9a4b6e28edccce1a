"""The second-order regularizer (SOR) and its training loss.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from art_sor.core.batch import batch_dot
from art_sor.core.checks import check_bool, check_choice, check_count, check_non_negative, check_positive
from art_sor.core.gradients import GradientAt, LossFn, gradient_at
from art_sor.core.hvp import HVP_MODES, hessian_vector_product
from art_sor.core.lmo import Box
from art_sor.core.penalty import Backward, Penalty
from art_sor.core.projection import random_start
from art_sor.core.search import STEP_RULES, StepRule, worst_case_perturbation
from art_sor.core.threat import ThreatModel, check_threat

Objective = Literal["quadratic", "perturbed"]
OBJECTIVES: tuple[Objective, ...] = ("quadratic", "perturbed")
SORHVPMode = Literal["exact", "finite_difference", "loss_difference"]
SOR_HVP_MODES: tuple[SORHVPMode, ...] = (*HVP_MODES, "loss_difference")
"""How SOR estimates its quadratic model: the Hessian-vector products of :mod:`~art_sor.core.hvp`, or
``"loss_difference"``, which estimates ``gᵀδ`` and ``δᵀHδ`` from losses at ``x`` and ``x ± hδ`` alone."""

# Below this, the clean point's weight in the loss is taken as zero and its input gradient gets a pass of its own.
_NEGLIGIBLE_WEIGHT = 1e-6


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

    ``hvp="loss_difference"`` estimates the model from losses alone, ``gᵀδ ≈ [ℓ(x+hδ) − ℓ(x−hδ)]/(2h)`` and
    ``δᵀHδ ≈ [ℓ(x+hδ) − 2ℓ(x) + ℓ(x−hδ)]/h²`` (errors O(h²) on a smooth loss), so that the weights need only
    first-order gradients and each point's graph is released after its own backward; its search (for
    ``iterations > 1``) uses finite-difference products. ``x − hδ`` may leave the data box: the estimate is
    centred at ``x``. At ``h = 1`` the loss-difference penalty is ``ℓ(x+δ) − ℓ(x)`` exactly, i.e.
    ``objective="perturbed"``, and ``ℓ(x−δ)`` drops out of the gradient (see the method page).

    In a trainer (:meth:`backpropagate`) the passes are backpropagated one at a time; the result equals
    backpropagating :meth:`__call__`'s penalty.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param threat: The threat model's ball (radius and norm).
    :param iterations: Steps of the perturbation search.
    :param h: Finite-difference step of the Hessian-vector products (or of the loss differences), relative to
              ``δ``. With ``h = 1`` (the default, chosen by the h/λ sweep in the results), ``g + Hδ`` is the true
              gradient at ``x + δ``.
    :param lam: Weight ``λ`` of the regularizer (default 1, from the same sweep).
    :param hvp: ``"exact"`` (double backward), ``"finite_difference"`` or ``"loss_difference"``.
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param box: Data bounds that ``x + δ`` must respect, or ``None``.
    :param random_start: Start the search at a uniform random point of the ball instead of 0.
    :param objective: ``"quadratic"``: penalise SOR's model ``gᵀδ + ½ δᵀHδ`` (the paper); ``"perturbed"``:
                      penalise the loss rise ``ℓ(x+δ) − ℓ(x)`` at the δ the search found (adversarial training on
                      SOR's δ).
    """

    threat: ThreatModel
    iterations: int = 1
    h: float = 1.0
    lam: float = 1.0
    hvp: SORHVPMode = "finite_difference"
    step: StepRule = "replace"
    box: Box | None = None
    random_start: bool = False
    objective: Objective = "quadratic"

    def __post_init__(self) -> None:
        # Plain Python numbers, so that configurations compare and checkpoints load without pickled NumPy types.
        check_threat(self.threat)
        object.__setattr__(self, "iterations", check_count(self.iterations, "iterations"))
        object.__setattr__(self, "h", check_positive(self.h, "h"))
        object.__setattr__(self, "lam", check_non_negative(self.lam, "lam"))
        check_choice(self.hvp, SOR_HVP_MODES, "hvp")
        check_choice(self.step, STEP_RULES, "step")
        check_bool(self.random_start, "random_start")
        check_choice(self.objective, OBJECTIVES, "objective")
        if self.objective == "perturbed" and self.hvp == "loss_difference":
            raise ValueError("hvp: 'loss_difference' estimates the quadratic objective; objective='perturbed' "
                             "evaluates the loss at x + δ itself (use hvp='finite_difference' for its search)")
        self._refuse_settings_without_effect()

    def _refuse_settings_without_effect(self) -> None:
        """Refuse a setting that cannot change what runs, which a run key and report would record as if it did."""
        default = type(self)
        if self.hvp == "exact" and self.h != default.h:
            raise ValueError(f"h={self.h:g} has no effect: exact Hessian-vector products (hvp='exact') use no "
                             "step; drop h, or use hvp='finite_difference' or 'loss_difference'")
        if self.iterations == 1 and self.step != default.step:
            raise ValueError(f"step={self.step!r} has no effect with iterations=1: the first step of the search "
                             "moves to the ball's extreme point whatever the rule; drop step, or raise iterations")
        searched_products = self.iterations > 1 or self.random_start
        if self.objective == "perturbed" and not searched_products:
            for name in ("hvp", "h"):
                if getattr(self, name) != getattr(default, name):
                    raise ValueError(f"{name}={getattr(self, name)!r} has no effect: with objective='perturbed', "
                                     "iterations=1 and no random_start the search takes no Hessian-vector product; "
                                     f"drop {name}, or raise iterations")

    @property
    def differentiation_order(self) -> int:
        """3 when exact Hessian-vector products enter the penalty (their weight gradient is a third derivative)."""
        return 3 if self.hvp == "exact" and self.objective == "quadratic" else 2

    def _search(self, loss_fn: LossFn, at: GradientAt) -> torch.Tensor:
        """The worst case ``δ`` of the quadratic model around ``at``, from a random start if configured."""
        start = random_start(at.x.detach(), self.threat, self.box) if self.random_start else None
        hvp = "finite_difference" if self.hvp == "loss_difference" else self.hvp
        return worst_case_perturbation(loss_fn, at, self.threat, iterations=self.iterations, step=self.step,
                                       hvp=hvp, h=self.h, box=self.box, start=start)

    def terms(self, loss_fn: LossFn, x: torch.Tensor) -> SORTerms:
        """The per-sample parts of the SOR loss at the batch ``x``, with the graphs to the weights."""
        if self.hvp == "loss_difference":
            at = gradient_at(loss_fn, x)
            delta = self._search(loss_fn, at)
            plus, minus = loss_fn(at.x.detach() + self.h * delta), loss_fn(at.x.detach() - self.h * delta)
            return SORTerms(clean=at.losses, first_order=(plus - minus) / (2 * self.h),
                            second_order=(plus - 2 * at.losses + minus) / (2 * self.h ** 2), delta=delta)
        at = gradient_at(loss_fn, x, create_graph=True)
        delta = self._search(loss_fn, at)
        h_delta = hessian_vector_product(loss_fn, at, delta, mode=self.hvp, h=self.h, create_graph=True)
        return SORTerms(clean=at.losses, first_order=batch_dot(at.grad, delta),
                        second_order=0.5 * batch_dot(delta, h_delta), delta=delta)

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return ``λ·mean(gᵀδ + ½ δᵀHδ)`` (or ``λ·mean(ℓ(x+δ) − ℓ(x))``) for the batch ``x``."""
        if self.objective == "perturbed":
            at = gradient_at(loss_fn, x, create_graph=self.hvp == "exact")
            delta = self._search(loss_fn, at)
            rise = (loss_fn(at.x.detach() + delta) - at.losses).mean()
            return Penalty(value=self.lam * rise, clean_losses=at.losses, parts={"loss_rise": rise.detach()})
        terms = self.terms(loss_fn, x)
        first, second = terms.first_order.mean(), terms.second_order.mean()
        return Penalty(value=self.lam * (first + second), clean_losses=terms.clean,
                       parts={"first_order": first.detach(), "second_order": second.detach()})

    def backpropagate(self, loss_fn: LossFn, x: torch.Tensor, backward: Backward, weight: float = 1.0,
                      clean: bool = True) -> Penalty:
        """Backpropagate ``clean·mean ℓ(x) + weight·penalty`` one pass at a time; return the penalty, detached.

        The loss is linear in each pass's output, so each pass is backpropagated with its own coefficient as soon
        as ``δ`` is known and its graph is released: the peak memory is that of one pass, not of all of them. With
        ``"loss_difference"`` and ``objective="perturbed"`` the clean pass's backward also gives the search its
        input gradient. Exact Hessian-vector products differentiate the clean pass's own graph, so the quadratic
        objective with ``hvp="exact"`` is backpropagated once.

        :param clean: Include the clean loss ``mean ℓ(x)`` (the loop's clean training pass).
        """
        own = 1.0 if clean else 0.0
        scale = weight * self.lam
        h = self.h
        if self.objective == "quadratic" and self.hvp == "exact":
            penalty = self(loss_fn, x)
            backward(own * penalty.clean_losses.mean() + weight * penalty.value)
            return Penalty(penalty.value.detach(), penalty.clean_losses.detach(), penalty.parts)
        if self.objective == "perturbed":
            if self.hvp == "exact":
                at = gradient_at(loss_fn, x, create_graph=True)
                delta = self._search(loss_fn, at)
                backward((own - scale) * at.losses.mean())
            else:
                at = _clean_point(loss_fn, x, backward, own - scale)
                delta = self._search(loss_fn, at)
            perturbed = loss_fn(at.x.detach() + delta).mean()
            backward(scale * perturbed)
            rise = perturbed.detach() - at.losses.detach().mean()
            return Penalty(value=self.lam * rise, clean_losses=at.losses.detach(), parts={"loss_rise": rise})
        if self.hvp == "finite_difference":
            # λ[gᵀδ + ½δᵀ(g₊ − g)/h] = λ(1 − 1/(2h))·gᵀδ + λ/(2h)·g₊ᵀδ, with g₊ the gradient at x + hδ.
            at = gradient_at(loss_fn, x, create_graph=True)
            delta = self._search(loss_fn, at)
            first = batch_dot(at.grad, delta).mean()
            backward(own * at.losses.mean() + scale * (1 - 0.5 / h) * first)
            shifted = gradient_at(loss_fn, at.x.detach() + h * delta, create_graph=True)
            cross = batch_dot(shifted.grad, delta).mean()
            backward(scale * 0.5 / h * cross)
            first, second = first.detach(), 0.5 * (cross.detach() - first.detach()) / h
        else:
            # λ[(ℓ₊ − ℓ₋)/(2h) + (ℓ₊ − 2ℓ + ℓ₋)/(2h²)]: one coefficient per point.
            at = _clean_point(loss_fn, x, backward, own - scale / h ** 2)
            delta = self._search(loss_fn, at)
            plus = loss_fn(at.x + h * delta).mean()
            backward(scale * (0.5 / h + 0.5 / h ** 2) * plus)
            minus_weight = scale * (0.5 / h ** 2 - 0.5 / h)
            if abs(minus_weight) > _NEGLIGIBLE_WEIGHT:
                minus = loss_fn(at.x - h * delta).mean()
                backward(minus_weight * minus)
            else:
                # Out of the gradient (h = 1); its value still goes into the history's parts.
                with torch.no_grad():
                    minus = loss_fn(at.x - h * delta).mean()
            plus, minus, centre = plus.detach(), minus.detach(), at.losses.mean()
            first, second = (plus - minus) / (2 * h), (plus - 2 * centre + minus) / (2 * h ** 2)
        return Penalty(value=self.lam * (first + second), clean_losses=at.losses.detach(),
                       parts={"first_order": first, "second_order": second})


def _clean_point(loss_fn: LossFn, x: torch.Tensor, backward: Backward, weight: float) -> GradientAt:
    """Loss and input gradient at ``x``, with ``weight·mean ℓ(x)`` backpropagated into the weights.

    One backward pass gives both: the input gradient of ``weight·mean ℓ`` is ``weight/B·∇ℓ``. A negligible weight
    gets an input-only backward instead.
    """
    leaf = x.detach().requires_grad_(True)
    losses = loss_fn(leaf)
    if abs(weight) > _NEGLIGIBLE_WEIGHT:
        (grad,) = backward(weight * losses.mean(), (leaf,))
        # A float16 step whose scaled gradient overflowed is skipped by the gradient scaler anyway; zeros keep its δ
        # (and so its loss) finite meanwhile.
        grad = torch.nan_to_num(grad * (len(leaf) / weight), nan=0.0, posinf=0.0, neginf=0.0)
    else:
        (grad,) = torch.autograd.grad(losses.sum(), leaf)
    return GradientAt(x=leaf.detach(), losses=losses.detach(), grad=grad)


@dataclass(frozen=True)
class SORLoss(SORTerms):
    """The SOR training loss of a batch and its per-sample parts.

    :ivar loss: ``mean(ℓ + λ·(first_order + second_order))``, a scalar that carries gradients to the weights.
    """

    loss: torch.Tensor


def sor_loss(
    loss_fn: LossFn,
    x: torch.Tensor,
    threat: ThreatModel,
    iterations: int = 1,
    h: float = SecondOrderRegularizer.h,
    lam: float = SecondOrderRegularizer.lam,
    hvp: SORHVPMode = "finite_difference",
    step: StepRule = "replace",
    box: Box | None = None,
) -> SORLoss:
    """SOR loss ``mean over the batch of ℓ(x) + λ·[gᵀδ + ½ δᵀHδ]`` (see :class:`SecondOrderRegularizer`).

    | Paper link: https://arxiv.org/abs/2009.04923

    :param loss_fn: Per-sample loss.
    :param x: Batch of inputs.
    :return: The loss and its parts. The other parameters are those of :class:`SecondOrderRegularizer`.
    """
    regularizer = SecondOrderRegularizer(threat, iterations=iterations, h=h, lam=lam, hvp=hvp, step=step, box=box)
    terms = regularizer.terms(loss_fn, x)
    loss = (terms.clean + regularizer.lam * (terms.first_order + terms.second_order)).mean()
    return SORLoss(clean=terms.clean, first_order=terms.first_order, second_order=terms.second_order,
                   delta=terms.delta, loss=loss)
