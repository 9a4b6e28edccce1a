"""Single-step adversarial training kept locally linear by a penalty: GradAlign, ELLE and ELLE-A.

Each trains on ``ℓ(x + δ) + λ·penalty`` with ``δ`` one FGSM step (from ``x``, or for ELLE optionally from N-FGSM's
noise), and a penalty that keeps the loss locally linear in the ε-ball, the guard against catastrophic overfitting:
GradAlign penalises misaligned input gradients (a double backward), ELLE the linearity error of loss values at three
points (forward passes only). The attack's and the penalty's passes run like a regularizer's (dropout off, batch
norm on the statistics of the batch each pass sees); the training pass on ``x + δ`` runs in train mode, as in
:class:`~art_sor.trainers.adversarial.PGDTrainer`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.core.checks import check_non_negative, check_positive
from art_sor.core.gradient_alignment import gradient_alignment_penalty
from art_sor.core.gradients import gradient_at
from art_sor.core.linearity_error import AdaptiveWeight, linearity_error
from art_sor.core.lmo import linear_maximizer
from art_sor.core.penalty import Backward
from art_sor.core.projection import random_start
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.trainers.optimizer_step import detached_stats
from art_sor.trainers.torch_step import StepSettings, TorchStepTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier

    from art_sor.classifiers.view import RecordingLoss
    from art_sor.core.gradients import GradientAt


class GuardedFGSMTrainer(TorchStepTrainer):
    """FGSM training plus a local-linearity penalty; a subclass says what the penalty is (:meth:`_penalty`).

    ``δ = η + step_size·lmo(∇ℓ(x + η))``, with ``η`` uniform noise of radius ``noise`` (none by default), clipped to
    the data box and, as in N-FGSM, not projected back onto the ε-ball.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param step_size: The FGSM step, by default ``ε``.
    :param noise: Radius of the noise the step starts from; 0 starts at ``x``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    adversarial_statistics = True

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, step_size: float | None = None,
                 noise: float = 0.0, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, step_settings)
        self.threat = check_threat(threat)
        self.step_size = check_positive(step_size if step_size is not None else self.threat.eps, "step_size")
        self.noise = check_non_negative(noise, "noise")
        # The noise is drawn from the threat model's ball at another radius (none at 0).
        self._noise_ball = dataclasses.replace(self.threat, eps=self.noise) if self.noise > 0 else None

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "step_size": self.step_size, "noise": self.noise}

    def _attack(self, loss_fn: RecordingLoss, x: torch.Tensor) -> tuple[torch.Tensor, GradientAt]:
        """The FGSM perturbation (detached) and the gradient it stepped along."""
        box = self._view.box
        noise = self._noise_ball
        start = random_start(x, noise, box) if noise is not None else torch.zeros_like(x)
        at = gradient_at(loss_fn, x + start)
        step = linear_maximizer(at.grad, self.step_size, self.threat.geometry, x=x + start, box=box)
        return (start + step).detach(), at

    @abc.abstractmethod
    def _penalty(self, loss_fn: RecordingLoss, x: torch.Tensor, at: GradientAt) -> dict[str, torch.Tensor]:
        """The weighted penalty (``"penalty"``, with its graph) and its parts for the history."""

    def _micro_step(self, x: torch.Tensor, y: torch.Tensor, backward: Backward) -> dict[str, torch.Tensor]:
        view = self._view
        with self._step.autocast():
            with view.perturbation_mode(self.step_settings.batch_norm):
                delta, at = self._attack(view.loss_fn(y), x)
                parts = self._penalty(view.loss_fn(y), x, at)
                penalty = parts["penalty"]
                # The penalty's graph is released before the training pass builds its own.
                if penalty.requires_grad:
                    backward(penalty)
            view.model.train()
            logits = view.logits(x + delta)
            adversarial_loss = view.per_sample_loss(logits, y).mean()
        backward(adversarial_loss)
        return detached_stats({**parts, "adversarial_loss": adversarial_loss, "loss": adversarial_loss + penalty,
                               "train_accuracy": (logits.argmax(dim=1) == y).float().mean()})


class GradAlignTrainer(GuardedFGSMTrainer):
    """GradAlign (Andriushchenko & Flammarion 2020): FGSM training plus ``λ·(1 − cos(∇ℓ(x), ∇ℓ(x + η)))``.

    FGSM starts at ``x`` with a step of ``ε`` (the paper's zero init); ``∇ℓ(x)`` is that step's own gradient and
    ``η`` is uniform in the ε-ball. The penalty's weight gradient takes a double backward through ``∇ℓ(x + η)``.
    ``λ = 0.2`` is the paper's value for CIFAR-10 at ε = 8/255; its scripts grow it with ε
    (``0.2·10^((255ε − 8)/8)``, 2.0 at ε = 16/255, which ELLE's scripts keep up to 26/255).

    | Paper link: https://arxiv.org/abs/2007.02617

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param lam: Weight ``λ`` of the penalty.
    :param step_size: The FGSM step, by default ``ε``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "gradalign"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, lam: float = 0.2,
                 step_size: float | None = None, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, threat, step_size=step_size, step_settings=step_settings)
        self.lam = check_non_negative(lam, "lam")

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        settings = {**super().config(), "lam": self.lam}
        del settings["noise"]
        return settings

    def _penalty(self, loss_fn: RecordingLoss, x: torch.Tensor, at: GradientAt) -> dict[str, torch.Tensor]:
        misalignment = gradient_alignment_penalty(loss_fn, x, at.grad, self.threat, self._view.box)
        return {"penalty": self.lam * misalignment, "gradient_misalignment": misalignment}


class ELLETrainer(GuardedFGSMTrainer):
    """ELLE (Abad Rocamora et al. 2024): FGSM (or N-FGSM) training plus ``λ·`` the local linearity error.

    The error is :func:`~art_sor.core.linearity_error.linearity_error`, from loss values at two uniform points of the
    ball and a random point between them: no double backward. ``λ = 1000`` is the paper's value for CIFAR-10 up to
    ε = 8/255; its scripts use 5000 from 10/255 to 20/255 and 10000 above. ``noise=2ε`` gives N-FGSM + ELLE.

    | Paper link: https://arxiv.org/abs/2401.11618

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param lam: Weight ``λ`` of the linearity error.
    :param step_size: The FGSM step, by default ``ε``.
    :param noise: Radius of the noise the FGSM step starts from; 0 (the paper's ELLE) starts at ``x``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "elle"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, lam: float = 1000.0,
                 step_size: float | None = None, noise: float = 0.0,
                 step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, threat, step_size=step_size, noise=noise, step_settings=step_settings)
        self.lam = check_non_negative(lam, "lam")

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "lam": self.lam}

    def _weight(self) -> float:
        return self.lam

    def _penalty(self, loss_fn: RecordingLoss, x: torch.Tensor, at: GradientAt) -> dict[str, torch.Tensor]:
        weight = self._weight()
        # With a zero weight (ELLE-A between jumps) the error is only measured: no graph, no backward.
        with torch.set_grad_enabled(weight > 0 and torch.is_grad_enabled()):
            error = linearity_error(loss_fn, x, self.threat, self._view.box)
        return {"penalty": weight * error, "linearity_error": error,
                "penalty_weight": torch.full((), weight, device=error.device)}


class ELLEATrainer(ELLETrainer):
    """ELLE-A: ELLE with the adaptive weight of :class:`~art_sor.core.linearity_error.AdaptiveWeight`.

    The weight is 0 until a step's linearity error exceeds the mean of the earlier ones by ``sensitivity`` standard
    deviations, then ``lam_max``, decaying by ``decay`` at every step without a jump. The weight and the error
    statistics are part of the checkpointed state, so a resumed run continues them.

    | Paper link: https://arxiv.org/abs/2401.11618

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param lam_max: The weight after a jump (the paper's 4000, at every ε).
    :param decay: The weight's factor at every step without a jump (the paper's 0.99).
    :param sensitivity: Standard deviations above the mean error that count as a jump (the paper's 2).
    :param step_size: The FGSM step, by default ``ε``.
    :param noise: Radius of the noise the FGSM step starts from; 0 (the paper's ELLE-A) starts at ``x``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "elle-a"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, lam_max: float = 4000.0,
                 decay: float = 0.99, sensitivity: float = 2.0, step_size: float | None = None, noise: float = 0.0,
                 step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, threat, lam=lam_max, step_size=step_size, noise=noise,
                         step_settings=step_settings)
        self.adaptive = AdaptiveWeight(lam_max, decay, sensitivity)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        settings = {**super().config(), "lam_max": self.adaptive.lam_max, "decay": self.adaptive.decay,
                    "sensitivity": self.adaptive.sensitivity}
        del settings["lam"]
        return settings

    def _weight(self) -> float:
        return self.adaptive.value

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`TorchStepTrainer.training_step`, then the weight of the next step from this step's error."""
        totals = super().training_step(x, y, indices)
        # The paper's rule reads each step's error on the host, as its code does.
        self.adaptive.update(float(totals["linearity_error"]))
        return totals

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "adaptive_weight": self.adaptive.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.adaptive.load_state_dict(state["adaptive_weight"])
