"""Adversarial training on art-sor's own loop: PGD-AT (Madry et al.), FGSM-RS (Wong et al.), N-FGSM (de Jorge et al.).

All train on ``ℓ(x + δ)`` alone. PGD-AT's and FGSM-RS's ``δ`` comes from PGD on the cross-entropy: a uniform
random start in the ε-ball, ``steps`` steps of ``step_size`` along the norm's steepest direction, projection onto
the ball and the data box; N-FGSM starts from wider noise and does not project.
The attack's passes run like a regularizer's (dropout off, batch norm on the statistics of the batch each pass
sees, running statistics untouched, see :class:`~art_sor.trainers.regularized.RegularizedTrainer`); the training pass
on ``x + δ`` runs in train mode and updates the running statistics, as in Madry et al.'s and Rice et al.'s code.
Beside ART's adapters, these show what adversarial training costs without ART's per-batch overhead.

| Paper link: https://arxiv.org/abs/1706.06083
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from art_sor.core.checks import check_count, check_positive
from art_sor.core.lmo import linear_maximizer
from art_sor.core.penalty import Backward
from art_sor.core.projection import projected_gradient_ascent, random_start
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.trainers.optimizer_step import detached_stats
from art_sor.trainers.torch_step import StepSettings, TorchStepTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class PGDTrainer(TorchStepTrainer):
    """Train on PGD adversarial examples: ``min_θ mean ℓ(x + δ_PGD)``.

    No attack pass is at the training point ``x + δ``, so none can serve as the training pass.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param steps: PGD steps.
    :param step_size: PGD step, by default ``2.5·ε/steps`` (Madry et al.).
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "pgd-at"
    adversarial_statistics = True

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, steps: int = 7,
                 step_size: float | None = None, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, step_settings)
        self.threat = check_threat(threat)
        self.steps = check_count(steps, "steps")
        self.step_size = check_positive(step_size if step_size is not None else self._default_step_size(),
                                        "step_size")

    def _default_step_size(self) -> float:
        return 2.5 * self.threat.eps / self.steps

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "steps": self.steps, "step_size": self.step_size}

    def perturbation(self, loss_fn: Any, x: torch.Tensor) -> torch.Tensor:
        """The training perturbation of ``x`` (detached), from the attack's passes."""
        return projected_gradient_ascent(lambda d: loss_fn(x + d), x, self.threat, self.steps, self.step_size,
                                         self._view.box)

    def _micro_step(self, x: torch.Tensor, y: torch.Tensor, backward: Backward) -> dict[str, torch.Tensor]:
        view = self._view
        with self._step.autocast():
            with view.perturbation_mode(self.step_settings.batch_norm):
                delta = self.perturbation(view.loss_fn(y), x)
            view.model.train()
            logits = view.logits(x + delta)
            loss = view.per_sample_loss(logits, y).mean()
        backward(loss)
        return detached_stats({"loss": loss, "train_accuracy": (logits.argmax(dim=1) == y).float().mean()})


class FGSMRSTrainer(PGDTrainer):
    """"Fast is better than free": one FGSM step of ``1.25ε`` from a uniform random start (Wong et al. 2020).

    | Paper link: https://arxiv.org/abs/2001.03994

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param step_size: The step, by default ``1.25·ε``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "fgsm-rs"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, step_size: float | None = None,
                 step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, threat, steps=1, step_size=step_size, step_settings=step_settings)

    def _default_step_size(self) -> float:
        return 1.25 * self.threat.eps


class NFGSMTrainer(PGDTrainer):
    """N-FGSM (de Jorge et al. 2022): one FGSM step of ``ε`` from uniform noise of radius ``2ε``, not projected.

    ``δ = η + ε·sign(∇ℓ(x + η))`` with ``η`` uniform in the ball of radius ``noise`` (``2ε`` by default); the
    perturbation is not projected back onto the ε-ball (its L∞ size reaches ``3ε``), only clipped to the data
    box. Stronger noise and no projection avoid the catastrophic overfitting of FGSM training at the cost of one
    gradient, about twice a standard step.

    | Paper link: https://arxiv.org/abs/2202.01181

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param step_size: The FGSM step, by default ``ε``.
    :param noise: Radius of the uniform noise, by default ``2ε``.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`.
    """

    method = "n-fgsm"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, step_size: float | None = None,
                 noise: float | None = None, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, threat, steps=1, step_size=step_size, step_settings=step_settings)
        self.noise = check_positive(noise if noise is not None else 2 * self.threat.eps, "noise")
        # The noise is drawn from the threat model's ball at another radius.
        self._noise_ball = dataclasses.replace(self.threat, eps=self.noise)

    def _default_step_size(self) -> float:
        return self.threat.eps

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "noise": self.noise}

    def perturbation(self, loss_fn: Any, x: torch.Tensor) -> torch.Tensor:
        """The training perturbation of ``x`` (detached), from N-FGSM's noise and one signed step."""
        box = self._view.box
        start = random_start(x, self._noise_ball, box).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(x + start).sum(), start)
        return (start.detach() + linear_maximizer(grad, self.step_size, self.threat.geometry, x=x + start.detach(),
                                                  box=box)).detach()
