"""The contract between a training regularizer and the training loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from art_sor.core.gradients import LossFn


@dataclass(frozen=True)
class Penalty:
    """What a regularizer adds to the clean loss of one batch.

    :ivar value: Weighted penalty, a scalar; the parameters get gradients through it when the regularizer was
                 called directly, and it is detached when the regularizer backpropagated it itself.
    :ivar clean_losses: Per-sample losses ``ℓ(x)`` from the regularizer's first pass, which is at ``x``; the loop
                        reuses them as the clean loss when that pass is the clean training pass.
    :ivar parts: Detached scalar parts (batch means) for the training history.
    """

    value: torch.Tensor
    clean_losses: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class Backward(Protocol):
    """Backpropagates one scalar part of a batch's training loss into the weights at once, releasing its graph.

    The weights' gradients accumulate over the calls of one step. For each tensor of ``also`` (a leaf of the
    part's graph) it returns that tensor's gradient of ``loss``, taken in the same backward pass.
    """

    def __call__(self, loss: torch.Tensor, also: Sequence[torch.Tensor] = ()) -> tuple[torch.Tensor, ...]:
        """Backpropagate ``loss``."""
        ...


class Regularizer(Protocol):
    """A penalty on the loss landscape around each input, computed from a per-sample loss.

    The first evaluation of ``loss_fn`` must be at ``x`` itself: the training loop reuses it as the clean pass.
    A regularizer whose penalty needs derivatives of order three in all (the weight gradient of exact
    Hessian-vector products) says so with an attribute ``differentiation_order = 3``; two is assumed otherwise.
    """

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return the penalty for the batch ``x``."""
        ...


@runtime_checkable
class StagedRegularizer(Regularizer, Protocol):
    """A regularizer that backpropagates its loss in parts.

    Each pass's graph is then released after its own backward rather than held until the end of the step.
    """

    def backpropagate(self, loss_fn: LossFn, x: torch.Tensor, backward: Backward, weight: float = 1.0,
                      clean: bool = True) -> Penalty:
        """Backpropagate ``clean·mean ℓ(x) + weight·penalty`` through ``backward``; return the penalty, detached."""
        ...


def backpropagate_penalty(regularizer: Regularizer, loss_fn: LossFn, x: torch.Tensor, backward: Backward,
                          weight: float = 1.0, clean: bool = True) -> Penalty:
    """Backpropagate ``clean·mean ℓ(x) + weight·penalty`` of ``regularizer`` and return its penalty, detached.

    A :class:`StagedRegularizer` backpropagates in parts; any other regularizer builds its penalty with the graph
    of every pass and is backpropagated once.

    :param clean: Include the clean loss ``mean ℓ(x)`` of the regularizer's own pass at ``x``.
    """
    if isinstance(regularizer, StagedRegularizer):
        return regularizer.backpropagate(loss_fn, x, backward, weight, clean)
    penalty = regularizer(loss_fn, x)
    loss = weight * penalty.value
    if clean:
        loss = loss + penalty.clean_losses.mean()
    backward(loss)
    return Penalty(value=penalty.value.detach(), clean_losses=penalty.clean_losses.detach(), parts=penalty.parts)


class ParameterBackward:
    """A :class:`Backward` that accumulates into the ``.grad`` of ``parameters`` (for use outside a trainer).

    :param parameters: The tensors whose gradients accumulate.
    """

    def __init__(self, parameters: Sequence[torch.Tensor]) -> None:
        self.parameters = list(parameters)

    def __call__(self, loss: torch.Tensor, also: Sequence[torch.Tensor] = ()) -> tuple[torch.Tensor, ...]:
        """Backpropagate ``loss`` into the parameters and return the gradients of ``also``."""
        for tensor in also:
            tensor.grad = None
        loss.backward(inputs=[*self.parameters, *also])
        return tuple(tensor.grad for tensor in also)
