"""SOR with memory: one cheap SOR search step per sample and epoch, accumulated across epochs.

SOR's search moves ``δ`` toward the ball's extreme point along its quadratic model's gradient ``g + Hδ``. Started
from 0 every time, one step is FGSM's ``lmo(g)``, which overfits catastrophically at large radii, and several steps
cost what PGD does. Here each sample keeps the ``δ`` its search found in the previous epoch; each epoch takes one
Frank–Wolfe step from it, ``δ ← m·δ + (1 − m)·lmo(g + Hδ)``, so the search continues over epochs at the price of
a single step, and the network trains on ``ℓ(x + δ)``, SOR's perturbed objective. With ``h = 1`` the model's
gradient ``g + (∇ℓ(x + hδ) − g)/h`` is the gradient at ``x + δ`` itself, which needs no pass at ``x``: a step costs
what N-FGSM's does. With ``h < 1`` the finite difference is taken at ``x + hδ`` beside the clean gradient.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.core.checks import check_count, check_positive
from art_sor.core.errors import SettingError
from art_sor.core.gradients import gradient_at
from art_sor.core.hvp import hessian_vector_product
from art_sor.core.lmo import linear_maximizer
from art_sor.core.penalty import Backward
from art_sor.core.projection import project
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.trainers.optimizer_step import detached_stats
from art_sor.trainers.torch_step import StepSettings, TorchStepTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier

    from art_sor.classifiers.view import RecordingLoss


class SORMemoryTrainer(TorchStepTrainer):
    """Train on ``ℓ(x + δ)`` with ``δ`` SOR's search continued from each sample's ``δ`` of the previous epoch.

    At a sample's first visit the search starts at 0 and its first Frank–Wolfe step is a full one (``δ = lmo(g)``);
    afterwards each of the ``iterations`` steps is ``δ ← memory·δ + (1 − memory)·lmo(g + Hδ)``, a Frank–Wolfe step of
    constant rate that keeps ``δ`` inside the ball and the data box without a projection. The remembered ``δ`` is
    projected onto the current ball first (the data may be augmented, or ε changed). The trainer keeps one ``δ`` per
    training sample (as much memory as the training inputs), saved with the training state so that a resumed run is
    the same run; it reads ``fit``'s sample indices, so it trains with ``fit`` on whole batches.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param memory: ``m`` in [0, 1): the weight the remembered ``δ`` keeps in each step.
    :param iterations: Search steps per sample and epoch.
    :param h: Finite-difference step of the Hessian-vector product, relative to ``δ``; 1 takes the gradient at
              ``x + δ`` (no clean pass), below 1 adds the clean gradient and evaluates at ``x + hδ``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`; no ``micro_batch_size``
                          (the bank is indexed by whole batches).
    """

    method = "sor-memory"
    adversarial_statistics = True
    needs_sample_indices = True

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, memory: float = 0.5,
                 iterations: int = 1, h: float = 1.0, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, step_settings)
        if step_settings.micro_batch_size is not None:
            raise SettingError("sor-memory does not support micro_batch_size: it keeps one δ per sample and steps on "
                               "whole batches; drop micro_batch_size", "micro_batch_size")
        self.threat = check_threat(threat)
        if isinstance(memory, bool) or not isinstance(memory, (int, float)) or not 0 <= memory < 1:
            raise SettingError(f"memory must be a number in [0, 1) (1 would never move δ), got {memory!r}", "memory")
        self.memory = float(memory)
        self.iterations = check_count(iterations, "iterations")
        self.h = check_positive(h, "h")
        self._bank: torch.Tensor | None = None
        self._visited: torch.Tensor | None = None

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "memory": self.memory, "iterations": self.iterations,
                "h": self.h}

    @property
    def remembered(self) -> torch.Tensor | None:
        """The bank of remembered perturbations, one per training sample (``None`` before ``fit``)."""
        return self._bank

    def check_batches(self, n: int, batch_size: int) -> None:
        """As :meth:`TorchStepTrainer.check_batches`; start a bank of ``n`` perturbations, none visited yet."""
        super().check_batches(n, batch_size)
        if self._bank is None or len(self._bank) != n:
            view = self._view
            self._bank = torch.zeros((n, *self._classifier.input_shape), dtype=view.dtype, device=view.device)
            self._visited = torch.zeros(n, dtype=torch.bool, device=view.device)

    def _search(self, loss_fn: RecordingLoss, x: torch.Tensor, start: torch.Tensor, fresh: torch.Tensor
                ) -> torch.Tensor:
        box, threat = self._view.box, self.threat
        delta = project(start, threat, x, box)
        # SOR's model gradient g + Hδ by finite differences of step h; at h = 1 it is the gradient at x + δ, and
        # otherwise the clean gradient it needs is the same for every step.
        clean = None if self.h == 1.0 else gradient_at(loss_fn, x)
        # Frank–Wolfe's first step from 0 is a full one; every other step keeps the weight m on δ.
        keep = torch.where(fresh, 0.0, self.memory).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        for _ in range(self.iterations):
            direction = (gradient_at(loss_fn, x + delta).grad if clean is None else
                         clean.grad + hessian_vector_product(loss_fn, clean, delta, mode="finite_difference", h=self.h))
            delta = keep * delta + (1 - keep) * linear_maximizer(direction, threat.eps, threat.geometry, x=x, box=box)
            keep = torch.full_like(keep, self.memory)
        return delta.detach()

    def fit_generator(self, generator: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Refused before any work: a generator's batches carry no sample indices to keep a δ for."""
        raise SettingError("sor-memory keeps one δ per training sample and needs the sample indices that fit(x, y) "
                           "gives its steps; fit_generator does not give them (train with fit, without "
                           "augmentation)", "generator")

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`TorchStepTrainer.training_step`, for the samples at ``indices`` of the training set."""
        if indices is None:
            raise SettingError("sor-memory keeps one δ per training sample and needs the indices that fit(x, y) "
                               "gives its steps; fit_generator does not give them", "indices")
        self._index = torch.as_tensor(indices, device=self._bank.device)
        return super().training_step(x, y, indices)

    def _micro_step(self, x: torch.Tensor, y: torch.Tensor, backward: Backward) -> dict[str, torch.Tensor]:
        view, index = self._view, self._index
        with self._step.autocast():
            with view.perturbation_mode(self.step_settings.batch_norm):
                delta = self._search(view.loss_fn(y), x, self._bank[index], ~self._visited[index])
            view.model.train()
            logits = view.logits(x + delta)
            loss = view.per_sample_loss(logits, y).mean()
        backward(loss)
        self._bank[index] = delta.to(self._bank.dtype)
        self._visited[index] = True
        return detached_stats({"loss": loss, "train_accuracy": (logits.argmax(dim=1) == y).float().mean()})

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "remembered": self._bank, "visited": self._visited}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self._bank = state["remembered"].to(self._view.device)
        self._visited = state["visited"].to(self._view.device)
