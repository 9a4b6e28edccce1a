"""Training on a clean loss plus a pluggable regularizer: the loop behind SOR and the geometric baselines."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from art_sor.core.checks import check_count
from art_sor.core.penalty import Backward, Regularizer, backpropagate_penalty
from art_sor.core.threat import ThreatModel
from art_sor.trainers.optimizer_step import detached_stats
from art_sor.trainers.torch_step import StepSettings, TorchStepTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


def regularizer_settings(regularizer: Regularizer | None) -> dict[str, Any]:
    """A regularizer's hyperparameters, so that a resumed run with a changed regularizer is refused.

    They are the fields of a dataclass (a threat model as its ``eps`` and ``norm``, the data box as whether there is
    one), else its ``repr``.
    """
    if regularizer is None:
        return {}
    if not dataclasses.is_dataclass(regularizer):
        return {"regularizer": repr(regularizer)}
    settings: dict[str, Any] = {}
    for field in dataclasses.fields(regularizer):
        value = getattr(regularizer, field.name)
        settings.update(value.to_dict() if isinstance(value, ThreatModel) else {field.name: value})
    if "box" in settings:
        settings["box"] = settings["box"] is not None
    return settings


def ramp(epoch: int, warmup_epochs: int) -> float:
    """The warm-up factor of epoch ``epoch`` (from 0): ``min(1, (epoch+1)/(warmup_epochs+1))``."""
    return min(1.0, (epoch + 1) / (warmup_epochs + 1))


class RegularizedTrainer(TorchStepTrainer):
    """Train an ART ``PyTorchClassifier`` on ``mean ℓ(x) + penalty``, where a regularizer supplies the penalty.

    The regularizer's extra passes run with dropout off, so that no new mask is drawn between ``x`` and ``x + hδ``
    (which would make finite differences meaningless). By default (``batch_norm="batch"`` in the
    :class:`~art_sor.trainers.torch_step.StepSettings`) batch norm normalises
    them with the statistics of the batch they see, like the clean training pass, so the penalty is computed on
    the network the clean loss trains. ``"eval"`` normalises with the running statistics instead, which keeps
    samples independent but, early in training, describes another network than the one being trained: under SGD
    with momentum that mismatch killed the hidden units and collapsed training to chance (see the method page).

    The regularizer's first pass, at ``x``, is the clean training pass whenever the two compute the same thing:
    with ``batch_norm="batch"`` (or no batch norm) and no active dropout. That pass then updates batch norm's
    running statistics, once per step as in standard training, and no separate clean pass runs. With dropout or
    ``batch_norm="eval"``, a separate train-mode clean pass gives the clean loss.

    Each regularizer pass is backpropagated as soon as its coefficient in the loss is known
    (:func:`~art_sor.core.penalty.backpropagate_penalty`), so its graph does not outlive it.

    :param classifier: ART classifier with an optimizer; it is trained in place.
    :param regularizer: The penalty, or ``None`` for standard training.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight ramps up: in epoch ``k`` (from 0) the
                                  penalty is multiplied by ``min(1, (k+1)/(penalty_warmup_epochs+1))``; 0 keeps it.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "regularized"

    def __init__(self, classifier: PyTorchClassifier, regularizer: Regularizer | None = None,
                 penalty_warmup_epochs: int = 0, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, step_settings)
        self.penalty_warmup_epochs = check_count(penalty_warmup_epochs, "penalty_warmup_epochs", minimum=0)
        self._penalty_weight = 1.0
        self._set_regularizer(regularizer)

    def _set_regularizer(self, regularizer: Regularizer | None) -> None:
        """Configure the penalty (subclasses whose penalty needs the classifier's data box set it after init).

        :raises ValueError: If ``penalty_warmup_epochs`` is set for a penalty of weight 0, which it cannot change.
        """
        if self.penalty_warmup_epochs and getattr(regularizer, "lam", None) == 0:
            raise ValueError(f"penalty_warmup_epochs={self.penalty_warmup_epochs} has no effect: lam is 0, so there "
                             "is no penalty to warm up; drop one of them")
        self._regularizer = regularizer
        # The penalty of the current epoch: the configured one, or a warm-up stage of it.
        self._active = regularizer

    @property
    def regularizer(self) -> Regularizer | None:
        """The configured penalty added to the clean loss, or ``None`` for standard training."""
        return self._regularizer

    @property
    def epoch_regularizer(self) -> Regularizer | None:
        """The penalty of the current epoch: :attr:`regularizer`, or the warm-up stage of it this epoch trains with."""
        return self._active

    @property
    def penalty_weight(self) -> float:
        """The current epoch's weight on the penalty (below 1 during ``penalty_warmup_epochs``)."""
        return self._penalty_weight

    @property
    def reuses_clean_pass(self) -> bool:
        """Whether the regularizer's pass at ``x`` serves as the clean training pass (see the class docstring)."""
        view = self._view
        return not view.has_dropout and (self.step_settings.batch_norm == "batch" or not view.batch_norms)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run, the regularizer's fields included."""
        settings = {**super().config(), **regularizer_settings(self._regularizer)}
        if self._regularizer is not None:
            settings["penalty_warmup_epochs"] = self.penalty_warmup_epochs
        return settings

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._penalty_weight = ramp(epoch, self.penalty_warmup_epochs)

    def _micro_step(self, x: torch.Tensor, y: torch.Tensor, backward: Backward) -> dict[str, torch.Tensor]:
        view = self._view
        penalty = None
        with self._step.autocast():
            reuse = self._active is not None and self.reuses_clean_pass
            if self._active is not None:
                order = getattr(self._active, "differentiation_order", 2)
                with view.perturbation_mode(self.step_settings.batch_norm, order, update_running_stats=reuse):
                    clean_fn = view.loss_fn(y)
                    penalty = backpropagate_penalty(self._active, clean_fn, x, backward, self._penalty_weight,
                                                    clean=reuse)
            if reuse:
                clean_loss = penalty.clean_losses.mean()
            else:
                view.model.train()
                clean_fn = view.loss_fn(y)
                clean_loss = clean_fn(x).mean()
                backward(clean_loss)
        stats = {"loss": clean_loss, "clean_loss": clean_loss,
                 "train_accuracy": (clean_fn.first_logits.argmax(dim=1) == y).float().mean()}
        if penalty is not None:
            weighted = self._penalty_weight * penalty.value
            stats.update(penalty.parts, penalty=weighted, loss=clean_loss + weighted)
        return detached_stats(stats)

    def _collapse_advice(self) -> str:
        if self._regularizer is None:
            return super()._collapse_advice()
        if self.step_settings.batch_norm == "eval" and self._view.batch_norms:
            return ("The regularizer's passes use batch norm's running statistics (batch_norm='eval'), which lag "
                    "the weights early in training; use batch_norm='batch'.")
        return ("The penalty may outweigh the clean loss before the network has learnt anything; warm it up "
                "(penalty_warmup_epochs=5), or lower its weight or the learning rate.")
