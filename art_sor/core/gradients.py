"""Per-sample input gradients of a per-sample loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

LossFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps a batch ``x`` of shape ``(B, ...)`` to per-sample losses of shape ``(B,)``."""


@dataclass(frozen=True)
class GradientAt:
    """A loss evaluated at a point, with its input gradient.

    :ivar x: The leaf tensor the gradient was taken at.
    :ivar losses: Per-sample losses ``ℓ(x)``, shape ``(B,)``.
    :ivar grad: Per-sample input gradients ``∇ₓℓ(x)``, shape of ``x``.
    """

    x: torch.Tensor
    losses: torch.Tensor
    grad: torch.Tensor


def gradient_at(loss_fn: LossFn, x: torch.Tensor, create_graph: bool = False) -> GradientAt:
    """Evaluate ``loss_fn`` at ``x`` and take the per-sample input gradient.

    The gradient is that of the summed losses. It is each sample's own gradient when the samples of a batch do
    not interact; under batch norm with the batch's statistics (the trainers' default) they do, and the
    gradient is that of the batch's loss, the one the training pass differentiates too.

    :param loss_fn: Per-sample loss.
    :param x: Batch of inputs; it is not modified.
    :param create_graph: Keep the graph of the gradient, so that the parameters (and Hessian-vector products)
                         can be differentiated through it.
    :return: The leaf, the losses and the gradient.
    """
    leaf = x.detach().requires_grad_(True)
    losses = loss_fn(leaf)
    if losses.shape != leaf.shape[:1]:
        raise ValueError(f"loss_fn must return one loss per sample, shape {tuple(leaf.shape[:1])}, "
                         f"got {tuple(losses.shape)}")
    # The graph is kept so that callers can still backpropagate through ``losses``.
    (grad,) = torch.autograd.grad(losses.sum(), leaf, create_graph=create_graph, retain_graph=True)
    return GradientAt(x=leaf, losses=losses, grad=grad)
