"""ELLE: the local linearity error of the loss from loss values alone, and ELLE-A's adaptive weight.

For ``x_a, x_b`` uniform in the ε-ball around ``x`` and ``α ~ U[0, 1]``, a loss that is linear in the ball has
``ℓ((1−α)x_a + αx_b) = (1−α)ℓ(x_a) + αℓ(x_b)``; ELLE penalises the mean squared violation. No input gradient and
no double backward are needed: three forward passes and their backward.

| Paper link: https://arxiv.org/abs/2401.11618
"""

from __future__ import annotations

import math

import torch

from art_sor.core.checks import check_non_negative, check_positive
from art_sor.core.gradients import LossFn
from art_sor.core.lmo import Box
from art_sor.core.projection import random_start
from art_sor.core.threat import ThreatModel


def linearity_error(loss_fn: LossFn, x: torch.Tensor, threat: ThreatModel, box: Box | None = None,
                    alpha: torch.Tensor | None = None) -> torch.Tensor:
    """ELLE's ``mean over the batch of (ℓ(x_c) − (1−α)ℓ(x_a) − αℓ(x_b))²``, with the graph to the weights.

    The three points go through the model as three batches of ``B`` (the paper's code concatenates them into one
    batch of ``3B``; the two differ only for a model with batch norm, whose statistics are then per point).

    | Paper link: https://arxiv.org/abs/2401.11618

    :param loss_fn: Per-sample loss.
    :param x: Batch of inputs.
    :param threat: The ball ``x_a`` and ``x_b`` are drawn from.
    :param box: Data bounds for ``x_a`` and ``x_b`` (``x_c`` lies between them), or ``None``.
    :param alpha: Per-sample ``α`` of shape ``(B,)``, drawn uniformly when ``None``.
    :return: The scalar error (before its weight λ).
    """
    x = x.detach()
    size = len(x)
    point_a, point_b = x + random_start(x, threat, box), x + random_start(x, threat, box)
    if alpha is None:
        alpha = torch.rand(size, device=x.device, dtype=x.dtype)
    weight = alpha.reshape(size, *([1] * (x.dim() - 1)))
    point_c = (1 - weight) * point_a + weight * point_b
    loss_a, loss_b, loss_c = loss_fn(point_a), loss_fn(point_b), loss_fn(point_c)
    return (loss_c - (1 - alpha) * loss_a - alpha * loss_b).square().mean()


class AdaptiveWeight:
    """ELLE-A's weight: off until the linearity error jumps, then ``λ_max``, decaying geometrically.

    After each step with error ``E``: if more than two errors have been seen and ``E > mean + s·std`` of all the
    earlier ones, the weight becomes ``λ_max``; otherwise it is multiplied by ``decay``. Then ``E`` joins the
    statistics (a running mean and population standard deviation, as ``np.mean``/``np.std`` of the paper's code).
    The weight starts at 0, so that the penalty costs nothing until the loss stops being locally linear.

    | Paper link: https://arxiv.org/abs/2401.11618

    :param lam_max: The weight after a jump (the paper's 4000).
    :param decay: Factor applied to the weight at every step without a jump (the paper's 0.99).
    :param sensitivity: ``s``, standard deviations above the mean that count as a jump (the paper's 2).
    """

    def __init__(self, lam_max: float = 4000.0, decay: float = 0.99, sensitivity: float = 2.0) -> None:
        self.lam_max = check_non_negative(lam_max, "lam_max")
        self.decay = check_positive(decay, "decay")
        if self.decay > 1:
            raise ValueError(f"decay must be at most 1, got {decay}")
        self.sensitivity = check_non_negative(sensitivity, "sensitivity")
        self.value = 0.0
        self._count, self._mean, self._squares = 0, 0.0, 0.0

    def update(self, error: float) -> float:
        """Set the weight of the next step from this step's error; return it."""
        std = math.sqrt(self._squares / self._count) if self._count else 0.0
        if self._count > 2 and error > self._mean + self.sensitivity * std:
            self.value = self.lam_max
        else:
            self.value *= self.decay
        # Welford's update of the running mean and sum of squared deviations.
        self._count += 1
        shift = error - self._mean
        self._mean += shift / self._count
        self._squares += shift * (error - self._mean)
        return self.value

    def state_dict(self) -> dict[str, float]:
        """The weight and the error statistics, for checkpoints."""
        return {"value": self.value, "count": self._count, "mean": self._mean, "squares": self._squares}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore :meth:`state_dict`'s values."""
        self.value, self._count = float(state["value"]), int(state["count"])
        self._mean, self._squares = float(state["mean"]), float(state["squares"])
