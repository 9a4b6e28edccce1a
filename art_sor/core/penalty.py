"""The contract between a training regularizer and the training loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from art_sor.core.gradients import LossFn


@dataclass(frozen=True)
class Penalty:
    """What a regularizer adds to the clean loss of one batch.

    :ivar value: Weighted penalty, a scalar the parameters get gradients through.
    :ivar clean_losses: Per-sample losses ``ℓ(x)`` from the regularizer's own pass at ``x``; the loop reuses them
                        as the clean loss when the model behaves the same in train and eval mode.
    :ivar parts: Detached scalar parts (batch means) for the training history.
    """

    value: torch.Tensor
    clean_losses: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class Regularizer(Protocol):
    """A penalty on the loss landscape around each input, computed from a per-sample loss.

    A regularizer whose penalty needs derivatives of order three in all (the weight gradient of exact
    Hessian-vector products) says so with an attribute ``differentiation_order = 3``; two is assumed otherwise.
    """

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Return the penalty for the batch ``x``."""
        ...
