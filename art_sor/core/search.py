"""Worst-case perturbation of the second-order (quadratic) model of the loss."""

from __future__ import annotations

from typing import Literal

import torch

from art_sor.core.errors import SettingError
from art_sor.core.gradients import GradientAt, LossFn
from art_sor.core.hvp import HVPMode, hessian_vector_product
from art_sor.core.lmo import Box, linear_maximizer
from art_sor.core.threat import ThreatModel

StepRule = Literal["replace", "frank_wolfe"]
STEP_RULES: tuple[StepRule, ...] = ("replace", "frank_wolfe")


def worst_case_perturbation(
    loss_fn: LossFn,
    at: GradientAt,
    threat: ThreatModel,
    iterations: int = 1,
    step: StepRule = "replace",
    hvp: HVPMode = "finite_difference",
    h: float = 1.0,
    box: Box | None = None,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """Approximately maximise ``gᵀδ + ½ δᵀHδ`` over the ε-ball.

    Starting from ``δ₀`` (0 unless ``start`` is given), each step moves toward the ball's extreme point along the
    model's gradient ``v = g + Hδ``: ``"replace"`` sets ``δ ← lmo(v)``, ``"frank_wolfe"`` sets
    ``δ ← δ + γₖ(lmo(v) − δ)`` with ``γₖ = 2/(k+2)``. From ``δ₀ = 0`` the first step needs no Hessian-vector
    product, so ``iterations=1`` gives ``δ = lmo(g)`` at the cost of one gradient.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param loss_fn: Per-sample loss.
    :param at: Loss and gradient at ``x``; built with ``create_graph=True`` when ``hvp="exact"`` and
               ``iterations > 1``.
    :param threat: The ball (radius and norm).
    :param iterations: Number of steps, at least 1.
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param hvp: How ``Hδ`` is computed: ``"exact"`` or ``"finite_difference"``.
    :param h: Finite-difference step.
    :param box: Data bounds that ``x + δ`` must respect, or ``None``.
    :param start: ``δ₀``, e.g. a random point of the ball; its Hessian-vector product costs one more gradient.
    :return: ``δ``, detached from every graph.
    """
    if iterations < 1:
        raise SettingError(f"iterations must be >= 1, got {iterations}", "iterations")
    if step not in STEP_RULES:
        raise SettingError(f"step must be one of {STEP_RULES}, got {step!r}", "step")
    x = at.x.detach()
    grad = at.grad.detach()
    geometry = threat.geometry
    delta = torch.zeros_like(x) if start is None else start.detach()
    for k in range(iterations):
        v = grad if k == 0 and start is None else grad + hessian_vector_product(loss_fn, at, delta, mode=hvp, h=h)
        extreme = linear_maximizer(v, threat.eps, geometry, x=x, box=box)
        delta = extreme if step == "replace" else delta + (2.0 / (k + 2)) * (extreme - delta)
    return delta.detach()
