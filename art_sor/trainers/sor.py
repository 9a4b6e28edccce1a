"""``SORTrainer``: ART trainer for the second-order regularizer.

| Paper link: https://arxiv.org/abs/2009.04923
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from art_sor.core.checks import check_count
from art_sor.core.search import StepRule
from art_sor.core.sor import Objective, SecondOrderRegularizer, SORHVPMode
from art_sor.core.threat import ThreatModel
from art_sor.trainers.regularized import RegularizedTrainer, ramp
from art_sor.trainers.torch_step import StepSettings

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class SORTrainer(RegularizedTrainer):
    """Train a ``PyTorchClassifier`` on ``ℓ(x) + λ·[gᵀδ + ½ δᵀHδ]``, SOR's quadratic model of the adversarial loss.

    ``δ`` is the worst case of the quadratic model in the threat model's ε-ball, found in ``iterations`` steps in the
    classifier's raw input space (so ε means what it means in ART's attacks) and kept inside ``clip_values`` when
    the classifier has them. One iteration combines gradient and curvature regularization; more iterations move
    toward PGD adversarial training at a lower cost.

    | Paper link: https://arxiv.org/abs/2009.04923

    :param classifier: ART ``PyTorchClassifier`` with an optimizer; trained in place, on its device (CUDA when the
                       classifier is on CUDA).
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``: the ball of the perturbation search.
    :param iterations: Steps of the perturbation search, at least 1.
    :param h: Finite-difference step of the Hessian-vector products, relative to ``δ``.
    :param lam: Weight ``λ`` of the regularizer.
    :param hvp: ``"finite_difference"``, ``"exact"`` (double backward) or ``"loss_difference"`` (the quadratic
                model from losses at ``x`` and ``x ± hδ``: first-order gradients only, about three standard
                passes; see :class:`~art_sor.core.sor.SecondOrderRegularizer`).
    :param step: ``"replace"`` or ``"frank_wolfe"``.
    :param random_start: Start the search at a random point of the ball (costs one more gradient).
    :param objective: ``"quadratic"`` (the paper's quadratic model) or ``"perturbed"`` (the loss rise at the δ
                      found, i.e. adversarial training on SOR's δ); see
                      :class:`~art_sor.core.sor.SecondOrderRegularizer`.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight λ ramps up: in epoch ``k`` (from 0) it
                                  is ``λ·min(1, (k+1)/(penalty_warmup_epochs+1))``; 0 keeps it constant.
    :param eps_warmup_epochs: The same ramp for ε.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "sor"

    def __init__(
        self,
        classifier: PyTorchClassifier,
        threat: ThreatModel,
        iterations: int = SecondOrderRegularizer.iterations,
        h: float = SecondOrderRegularizer.h,
        lam: float = SecondOrderRegularizer.lam,
        hvp: SORHVPMode = SecondOrderRegularizer.hvp,
        step: StepRule = SecondOrderRegularizer.step,
        random_start: bool = SecondOrderRegularizer.random_start,
        objective: Objective = SecondOrderRegularizer.objective,
        penalty_warmup_epochs: int = 0,
        eps_warmup_epochs: int = 0,
        step_settings: StepSettings = StepSettings(),
    ) -> None:
        super().__init__(classifier, penalty_warmup_epochs=penalty_warmup_epochs, step_settings=step_settings)
        self.threat = threat
        self._set_regularizer(SecondOrderRegularizer(threat, iterations=iterations, h=h, lam=lam, hvp=hvp, step=step,
                                                     box=self._view.box, random_start=random_start,
                                                     objective=objective))
        self.eps_warmup_epochs = check_count(eps_warmup_epochs, "eps_warmup_epochs", minimum=0)
        if self.eps_warmup_epochs and self.regularizer.lam == 0:
            raise ValueError(f"eps_warmup_epochs={self.eps_warmup_epochs} has no effect: lam is 0, so ε enters no "
                             "penalty; drop one of them")

    @property
    def regularizer(self) -> SecondOrderRegularizer:
        """The SOR penalty and its hyperparameters."""
        return self._regularizer

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run, the ε warm-up included."""
        return {**super().config(), "eps_warmup_epochs": self.eps_warmup_epochs}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        super()._begin_epoch(epoch, nb_epochs, nb_batches)
        final = self.regularizer
        radius = final.threat.eps * ramp(epoch, self.eps_warmup_epochs)
        self._active = dataclasses.replace(final, threat=dataclasses.replace(final.threat, eps=radius))
