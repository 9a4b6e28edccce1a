"""Trainers for the geometric baselines SOR is compared with: GR, CURE and LLR.

They share SOR's loop (:class:`~art_sor.trainers.regularized.RegularizedTrainer`) and differ only in the
regularizer, so that comparisons measure the regularizers and nothing else. Their defaults are the regularizers'
own (the dataclass fields in :mod:`art_sor.core`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from art_sor.core.checks import check_count
from art_sor.core.curvature import CurvatureRegularizer
from art_sor.core.gradient_norm import GradientNormRegularizer, GRMode
from art_sor.core.local_linearity import LocalLinearityRegularizer
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.trainers.regularized import RegularizedTrainer, ramp
from art_sor.trainers.torch_step import StepSettings

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class GRTrainer(RegularizedTrainer):
    """Input-gradient regularization: ``ℓ + λ·ε‖∇ₓℓ‖_*`` (dual norm of the threat model).

    | Paper link: https://arxiv.org/abs/1905.11468

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model: L∞ (penalty ``ε‖g‖₁``) or L2 (``ε‖g‖₂``).
    :param lam: Weight ``λ``.
    :param mode: ``"double_backprop"`` or ``"finite_difference"`` (Finlay & Oberman).
    :param h: Finite-difference step relative to ``δ*`` (finite-difference mode only).
    :param penalty_warmup_epochs: Epochs over which the penalty's weight ramps up (see
                                  :class:`~art_sor.trainers.regularized.RegularizedTrainer`).
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "gr"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel,
                 lam: float = GradientNormRegularizer.lam, mode: GRMode = GradientNormRegularizer.mode,
                 h: float = GradientNormRegularizer.h, penalty_warmup_epochs: int = 0,
                 step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, GradientNormRegularizer(threat, lam=lam, mode=mode, h=h),
                         penalty_warmup_epochs=penalty_warmup_epochs, step_settings=step_settings)
        self.threat = threat


class CURETrainer(RegularizedTrainer):
    """Curvature regularization: ``ℓ + λ‖∇ℓ(x + h·z) − ∇ℓ(x)‖²`` with ``z = sign(g)/‖sign(g)‖₂``.

    By default ``h·z`` reaches the edge of the threat model: ``h = ε·√d`` for L∞ (so that ``h·z = ε·sign(g)``)
    and ``h = ε`` for L2 and L1. As in CURE, ``h`` can grow over the first epochs: in epoch ``k`` (from 0) it is
    ``h·min(1, (k+1)/(warmup_epochs+1))``.

    | Paper link: https://arxiv.org/abs/1811.09716

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, used for the default ``h``.
    :param lam: Weight ``λ``.
    :param h: Final L2 length of the step, or ``None`` for the default above.
    :param warmup_epochs: Epochs over which ``h`` ramps up; 0 keeps it constant.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight ramps up.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "cure"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel,
                 lam: float = CurvatureRegularizer.lam, h: float | None = None, warmup_epochs: int = 0,
                 penalty_warmup_epochs: int = 0, step_settings: StepSettings = StepSettings()) -> None:
        threat = check_threat(threat)
        if h is None:
            h = threat.geometry.step_length(threat.eps, math.prod(classifier.input_shape))
        super().__init__(classifier, CurvatureRegularizer(h=h, lam=lam), penalty_warmup_epochs=penalty_warmup_epochs,
                         step_settings=step_settings)
        self.threat = threat
        self.warmup_epochs = check_count(warmup_epochs, "warmup_epochs", minimum=0)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "warmup_epochs": self.warmup_epochs}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        super()._begin_epoch(epoch, nb_epochs, nb_batches)
        final = self.regularizer
        self._active = dataclasses.replace(final, h=final.h * ramp(epoch, self.warmup_epochs))


class LLRTrainer(RegularizedTrainer):
    """Local linearity regularization: ``ℓ + λ·γ(ε, x) + μ·|δ_LLRᵀ∇ℓ(x)|``.

    | Paper link: https://arxiv.org/abs/1907.02610

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model's ball.
    :param lam: Weight of the linearity gap.
    :param mu: Weight of the gradient term.
    :param steps: PGD steps of the inner maximisation.
    :param step_size: PGD step, by default ``2.5·ε/steps``.
    :param penalty_warmup_epochs: Epochs over which the penalty's weight ramps up.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "llr"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel,
                 lam: float = LocalLinearityRegularizer.lam, mu: float = LocalLinearityRegularizer.mu,
                 steps: int = LocalLinearityRegularizer.steps, step_size: float | None = None,
                 penalty_warmup_epochs: int = 0, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, penalty_warmup_epochs=penalty_warmup_epochs, step_settings=step_settings)
        self.threat = threat
        self._set_regularizer(LocalLinearityRegularizer(threat, lam=lam, mu=mu, steps=steps,
                                                        step_size=step_size, box=self._view.box))
