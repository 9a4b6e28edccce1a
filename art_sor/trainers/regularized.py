"""Training on a clean loss plus a pluggable regularizer: the loop behind SOR and the geometric baselines."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.core.checks import check_bool, check_choice, check_count
from art_sor.core.penalty import Regularizer
from art_sor.estimators.view import BATCH_NORM_MODES, BatchNormMode
from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.steps import OptimizerStep, detached_stats

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


def regularizer_settings(regularizer: Regularizer | None) -> dict[str, Any]:
    """A regularizer's hyperparameters, so that a resumed run with a changed regularizer is refused.

    They are the fields of a dataclass (the data box as whether there is one), else its ``repr``.
    """
    if regularizer is None:
        return {}
    if not dataclasses.is_dataclass(regularizer):
        return {"regularizer": repr(regularizer)}
    settings = {field.name: getattr(regularizer, field.name) for field in dataclasses.fields(regularizer)}
    if "box" in settings:
        settings["box"] = settings["box"] is not None
    return settings


def ramp(epoch: int, warmup_epochs: int) -> float:
    """The warm-up factor of epoch ``epoch`` (from 0): ``min(1, (epoch+1)/(warmup_epochs+1))``."""
    return min(1.0, (epoch + 1) / (warmup_epochs + 1))


class RegularizedTrainer(EpochTrainer):
    """Train an ART ``PyTorchClassifier`` on ``mean ℓ(x) + penalty``, where a regularizer supplies the penalty.

    The regularizer's extra passes run with dropout off, so that no new mask is drawn between ``x`` and ``x + hδ``
    (which would make finite differences meaningless), and never update batch norm's running statistics. By
    default (``batch_norm="batch"``) batch norm normalises them with the statistics of the batch they see, like
    the clean training pass, so the penalty is computed on the network the clean loss trains. ``"eval"``
    normalises with the running statistics instead, which keeps samples independent but, early in training,
    describes another network than the one being trained: under SGD with momentum that mismatch killed the
    hidden units and collapsed training to chance (see the method page). The clean loss runs in train mode as in
    standard training; for models without such layers the regularizer's own clean pass is reused.

    Mixed precision uses ``torch.autocast`` (see :class:`~art_sor.trainers.steps.OptimizerStep`).

    :param classifier: ART classifier with an optimizer; it is trained in place.
    :param regularizer: The penalty, or ``None`` for standard training.
    :param amp: Train in mixed precision.
    :param batch_norm: Statistics batch norm uses in the regularizer's passes: ``"batch"`` or ``"eval"``.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight ramps up: in epoch ``k`` (from 0) the
                                  penalty is multiplied by ``min(1, (k+1)/(penalty_warmup_epochs+1))``; 0 keeps it.
    """

    method = "standard"
    supports_distributed = True

    def __init__(self, classifier: PyTorchClassifier, regularizer: Regularizer | None = None,
                 amp: bool = False, batch_norm: BatchNormMode = "batch", penalty_warmup_epochs: int = 0) -> None:
        super().__init__(classifier)
        self.amp = check_bool(amp, "amp")
        self.batch_norm = check_choice(batch_norm, BATCH_NORM_MODES, "batch_norm")
        self.penalty_warmup_epochs = check_count(penalty_warmup_epochs, "penalty_warmup_epochs", minimum=0)
        self._penalty_weight = 1.0
        self._set_regularizer(regularizer)
        self._step = OptimizerStep(self._view, classifier.optimizer, self.amp, self.method, self._parallel)

    def _set_regularizer(self, regularizer: Regularizer | None) -> None:
        """Configure the penalty (subclasses whose penalty needs the classifier's data box set it after init)."""
        self._regularizer = regularizer
        # The penalty of the current epoch: the configured one, or a warm-up stage of it.
        self._active = regularizer

    @property
    def regularizer(self) -> Regularizer | None:
        """The configured penalty added to the clean loss, or ``None`` for standard training."""
        return self._regularizer

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run, the regularizer's fields included."""
        settings = {**super().config(), "amp": self.amp, "batch_norm": self.batch_norm,
                    **regularizer_settings(self._regularizer)}
        if self._regularizer is not None:
            settings["penalty_warmup_epochs"] = self.penalty_warmup_epochs
        return settings

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._penalty_weight = ramp(epoch, self.penalty_warmup_epochs)

    def _train_batch(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> dict[str, float]:
        return self._train_step(self._view.inputs(x), self._view.labels(y))

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        view = self._view
        self._classifier.optimizer.zero_grad(set_to_none=True)
        with self._step.autocast():
            penalty = None
            if self._active is not None:
                with view.penalty_mode(self.batch_norm, getattr(self._active, "differentiation_order", 2)):
                    clean_fn = view.loss_fn(y)
                    penalty = self._active(clean_fn, x)
                clean_losses = penalty.clean_losses
            if penalty is None or view.mode_dependent:
                view.model.train()
                clean_fn = view.loss_fn(y)
                clean_losses = clean_fn(x)
            clean_loss = clean_losses.mean()
            loss = clean_loss if penalty is None else clean_loss + self._penalty_weight * penalty.value
        self._step(loss, len(x))
        stats = {"loss": loss, "clean_loss": clean_loss,
                 "train_accuracy": (clean_fn.first_logits.argmax(dim=1) == y).float().mean()}
        if penalty is not None:
            stats.update(penalty.parts, penalty=self._penalty_weight * penalty.value)
        return detached_stats(stats)

    def _collapse_advice(self) -> str:
        if self._regularizer is None:
            return super()._collapse_advice()
        if self.batch_norm == "eval" and self._view.batch_norms:
            return ("The regularizer's passes use batch norm's running statistics (batch_norm='eval'), which lag "
                    "the weights early in training; use batch_norm='batch'.")
        return ("The penalty may outweigh the clean loss before the network has learnt anything; warm it up "
                "(penalty_warmup_epochs=5), or lower its weight or the learning rate.")

    def _extra_state(self) -> dict[str, Any]:
        return {"scaler": self._step.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._step.load_state_dict(state["scaler"])
