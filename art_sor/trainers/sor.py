"""``SORTrainer``: ART trainer for the second-order regularizer.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.classifiers.view import BatchNormMode
from art_sor.core.checks import check_count
from art_sor.core.gradients import LossFn
from art_sor.core.penalty import Backward, Penalty
from art_sor.core.search import StepRule
from art_sor.core.sor import Objective, SecondOrderRegularizer, SORHVPMode
from art_sor.trainers.regularized import RegularizedTrainer, ramp

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class SORTrainer(RegularizedTrainer):
    """Train a ``PyTorchClassifier`` on ``ℓ(x) + λ·[gᵀδ + ½ δᵀHδ]``, SOR's quadratic model of the adversarial loss.

    ``δ`` is the worst case of the quadratic model in the ε-ball of ``norm``, found in ``iterations`` steps in the
    classifier's raw input space (so ε means what it means in ART's attacks) and kept inside ``clip_values`` when
    the classifier has them. One iteration combines gradient and curvature regularization; more iterations move
    toward PGD adversarial training at a lower cost.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param classifier: ART ``PyTorchClassifier`` with an optimizer; trained in place, on its device (CUDA when the
                       classifier is on CUDA).
    :param eps: Radius of the threat model.
    :param norm: ``np.inf``, ``"inf"``, ``2`` or ``"l2"``.
    :param iterations: Steps of the perturbation search, at least 1.
    :param h: Finite-difference step of the Hessian-vector products, relative to ``δ``.
    :param lam: Weight ``λ`` of the regularizer.
    :param hvp: ``"finite_difference"``, ``"exact"`` (double backward) or ``"loss_difference"`` (the quadratic
                model from losses at ``x`` and ``x ± hδ``: first-order gradients only, about three standard
                passes; see :class:`~art_sor.core.sor.SecondOrderRegularizer`).
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param amp: Train in mixed precision with ``torch.autocast``.
    :param batch_norm: Statistics batch norm uses in the regularizer's passes: ``"batch"`` (those of the batch,
                       as in the clean training pass; running statistics untouched) or ``"eval"`` (the running
                       statistics). See :class:`~art_sor.trainers.regularized.RegularizedTrainer`.
    :param random_start: Start the search at a random point of the ball (costs one more gradient).
    :param objective: ``"quadratic"`` (the paper's quadratic model) or ``"perturbed"`` (the loss rise at the δ
                      found, i.e. adversarial training on SOR's δ); see
                      :class:`~art_sor.core.sor.SecondOrderRegularizer`.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight λ ramps up: in epoch ``k`` (from 0) it
                                  is ``λ·min(1, (k+1)/(penalty_warmup_epochs+1))``; 0 keeps it constant.
    :param eps_warmup_epochs: The same ramp for ε.
    :param memory: 0 (the paper), or in (0, 1): each sample's search starts at its ``δ`` of the previous epoch and
                   takes Frank–Wolfe steps of rate ``1 − memory`` (see
                   :class:`~art_sor.core.sor.SecondOrderRegularizer`). The trainer keeps one ``δ`` per training
                   sample (as much memory as the training inputs), checkpointed with the training state; it needs
                   ``fit`` (whose sample indices it reads) and whole batches.
    :param micro_batch_size: Samples per micro-batch whose gradients accumulate before each optimizer step
                             (see :class:`~art_sor.trainers.torch_step.TorchStepTrainer`); ``None`` for whole
                             batches.
    """

    method = "sor"

    def __init__(
        self,
        classifier: PyTorchClassifier,
        eps: float,
        norm: Any = np.inf,
        iterations: int = SecondOrderRegularizer.iterations,
        h: float = SecondOrderRegularizer.h,
        lam: float = SecondOrderRegularizer.lam,
        hvp: SORHVPMode = SecondOrderRegularizer.hvp,
        step: StepRule = SecondOrderRegularizer.step,
        amp: bool = False,
        batch_norm: BatchNormMode = "batch",
        random_start: bool = SecondOrderRegularizer.random_start,
        objective: Objective = SecondOrderRegularizer.objective,
        penalty_warmup_epochs: int = 0,
        eps_warmup_epochs: int = 0,
        memory: float = SecondOrderRegularizer.memory,
        micro_batch_size: int | None = None,
    ) -> None:
        super().__init__(classifier, amp=amp, batch_norm=batch_norm, penalty_warmup_epochs=penalty_warmup_epochs,
                         micro_batch_size=micro_batch_size)
        self._set_regularizer(SecondOrderRegularizer(eps=eps, norm=norm, iterations=iterations, h=h, lam=lam,
                                                     hvp=hvp, step=step, box=self._view.box,
                                                     random_start=random_start, objective=objective,
                                                     memory=memory))
        self.eps_warmup_epochs = check_count(eps_warmup_epochs, "eps_warmup_epochs", minimum=0)
        if memory > 0 and micro_batch_size is not None:
            raise ValueError("micro_batch_size: SOR with memory keeps one δ per sample of whole batches; leave "
                             "micro_batch_size at None")
        # One δ per training sample (memory > 0), allocated when fit says how many samples there are.
        self._memory_bank: torch.Tensor | None = None

    @property
    def regularizer(self) -> SecondOrderRegularizer:
        """The SOR penalty and its hyperparameters."""
        return self._regularizer

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run, the ε warm-up included."""
        return {**super().config(), "eps_warmup_epochs": self.eps_warmup_epochs}

    def check_batches(self, n: int, batch_size: int) -> None:
        """As :meth:`RegularizedTrainer.check_batches`; with memory, start a bank of ``n`` zero perturbations."""
        super().check_batches(n, batch_size)
        if self.regularizer.memory > 0 and (self._memory_bank is None or len(self._memory_bank) != n):
            view = self._view
            self._memory_bank = torch.zeros((n, *self._classifier.input_shape), dtype=view.dtype,
                                            device=view.device)

    def _train_batch(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        if self.regularizer.memory == 0:
            return super()._train_batch(x, y)
        index = self.batch_indices
        if index is None:
            raise ValueError("memory: SOR with memory needs the sample indices of fit(x, y); fit_generator does not "
                             "give them")
        index = torch.as_tensor(index, device=self._memory_bank.device)
        remembered = self._memory_bank[index]
        epoch_regularizer = self._active
        # The first visit of every sample has no δ yet: the plain search from 0 saves the product at δ = 0.
        self._active = _WarmStarted(epoch_regularizer, remembered if bool(remembered.any()) else None)
        try:
            stats = super()._train_batch(x, y)
        finally:
            found, self._active = self._active.delta, epoch_regularizer
        self._memory_bank[index] = found
        return stats

    def _extra_state(self) -> dict[str, Any]:
        state = super()._extra_state()
        if self._memory_bank is not None:
            state["memory_bank"] = self._memory_bank
        return state

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        if "memory_bank" in state:
            self._memory_bank = state["memory_bank"].to(self._view.device)

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        super()._begin_epoch(epoch, nb_epochs, nb_batches)
        final = self.regularizer
        self._active = dataclasses.replace(final, eps=final.eps * ramp(epoch, self.eps_warmup_epochs))


class _WarmStarted:
    """One batch's SOR penalty whose search starts at the batch's remembered ``δ``; keeps the ``δ`` it finds."""

    def __init__(self, regularizer: SecondOrderRegularizer, start: torch.Tensor | None) -> None:
        self.regularizer, self.start = regularizer, start
        self.differentiation_order = regularizer.differentiation_order
        self.delta: torch.Tensor | None = None

    def backpropagate(self, loss_fn: LossFn, x: torch.Tensor, backward: Backward, weight: float = 1.0,
                      clean: bool = True) -> Penalty:
        """The penalty of :meth:`SecondOrderRegularizer.backpropagate` from :attr:`start`."""
        penalty = self.regularizer.backpropagate(loss_fn, x, backward, weight, clean, start=self.start)
        self.delta = penalty.delta
        return penalty

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> Penalty:
        """Not used: the trainer backpropagates the penalty in parts."""
        raise TypeError("a warm-started SOR penalty is backpropagated in parts; call backpropagate")
