"""Hessian-vector products of a per-sample loss with respect to its input."""

from __future__ import annotations

from typing import Literal

import torch

from art_sor.core.batch import batch_dot
from art_sor.core.errors import SettingError
from art_sor.core.gradients import GradientAt, LossFn, gradient_at

HVPMode = Literal["exact", "finite_difference"]
HVP_MODES: tuple[HVPMode, ...] = ("exact", "finite_difference")


def hessian_vector_product(
    loss_fn: LossFn,
    at: GradientAt,
    v: torch.Tensor,
    mode: HVPMode = "finite_difference",
    h: float = 1.0,
    create_graph: bool = False,
) -> torch.Tensor:
    """Per-sample product ``H v`` of the input Hessian at ``at.x`` with ``v``.

    ``"exact"`` differentiates ``∇ℓ(x)ᵀv`` a second time (double backward) and needs ``at`` to have been built
    with ``create_graph=True``. ``"finite_difference"`` returns ``(∇ℓ(x + h·v) − ∇ℓ(x)) / h``, which costs one
    more gradient instead of a second-order pass and also sees the curvature of piecewise-linear (ReLU) networks
    at the scale ``h·‖v‖`` rather than only at ``x``.

    :param loss_fn: Per-sample loss.
    :param at: Loss and gradient at the expansion point.
    :param v: Direction, same shape as ``at.x``.
    :param mode: ``"exact"`` or ``"finite_difference"``.
    :param h: Finite-difference step, a multiple of ``v``.
    :param create_graph: Keep the graph so the result can be differentiated with respect to the parameters.
    :return: ``H v``, same shape as ``v``.
    """
    if mode == "exact":
        if not at.grad.requires_grad:
            raise ValueError("at: the exact Hessian-vector product needs a gradient built with create_graph=True")
        (hv,) = torch.autograd.grad(batch_dot(at.grad, v).sum(), at.x, create_graph=create_graph,
                                    retain_graph=True)
        return hv
    if mode == "finite_difference":
        if not h > 0:
            raise SettingError(f"h must be > 0, got {h}", "h")
        grad = at.grad if create_graph else at.grad.detach()
        shifted = gradient_at(loss_fn, at.x.detach() + h * v, create_graph=create_graph)
        return (shifted.grad - grad) / h
    raise SettingError(f"hvp must be one of {HVP_MODES}, got {mode!r}", "hvp")
