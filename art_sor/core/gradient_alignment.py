"""GradAlign: the penalty on the misalignment of input gradients inside the ε-ball.

``1 − cos(∇ℓ(x), ∇ℓ(x + η))`` with ``η`` uniform in the ball: a network whose loss is locally linear has aligned
gradients, and FGSM training that keeps them aligned does not overfit catastrophically.

| Paper link: https://arxiv.org/abs/2007.02617
"""

from __future__ import annotations

import torch

from art_sor.core.gradients import LossFn, gradient_at
from art_sor.core.lmo import Box
from art_sor.core.projection import random_start
from art_sor.core.threat import ThreatModel


def gradient_misalignment(clean_grad: torch.Tensor, other_grad: torch.Tensor) -> torch.Tensor:
    """``1 − mean cos(g₁, g₂)`` over the samples whose two gradients are both non-zero (0 if there is none).

    Samples with a zero gradient have no direction; the paper's code leaves them out of the mean.

    :param clean_grad: Per-sample gradients at ``x``, shape ``(B, ...)``.
    :param other_grad: Per-sample gradients at the random points, same shape.
    :return: A scalar.
    """
    first, second = clean_grad.flatten(1), other_grad.flatten(1)
    first_norm, second_norm = first.norm(dim=1), second.norm(dim=1)
    keep = (first_norm > 0) & (second_norm > 0)
    if not bool(keep.any()):
        return other_grad.sum() * 0.0
    cosine = (first[keep] * second[keep]).sum(dim=1) / (first_norm[keep] * second_norm[keep])
    return 1.0 - cosine.mean()


def gradient_alignment_penalty(loss_fn: LossFn, x: torch.Tensor, clean_grad: torch.Tensor, threat: ThreatModel,
                               box: Box | None = None) -> torch.Tensor:
    """GradAlign's ``1 − mean cos(∇ℓ(x), ∇ℓ(x + η))``, differentiable in the weights through ``∇ℓ(x + η)``.

    As in the paper's code, ``∇ℓ(x)`` is held constant (it is the FGSM step's own gradient) and only the gradient
    at the random point carries a graph (a double backward). ``η`` is uniform in the ε-ball and clipped to ``box``.

    | Paper link: https://arxiv.org/abs/2007.02617

    :param loss_fn: Per-sample loss.
    :param x: Batch of inputs.
    :param clean_grad: ``∇ℓ(x)``, per sample.
    :param threat: The ball ``η`` is drawn from.
    :param box: Data bounds for ``x + η``, or ``None``.
    :return: The scalar penalty (before its weight λ).
    """
    x = x.detach()
    at = gradient_at(loss_fn, x + random_start(x, threat, box), create_graph=True)
    return gradient_misalignment(clean_grad.detach(), at.grad)
