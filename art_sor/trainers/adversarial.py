"""Adversarial training on art-sor's own loop: PGD-AT (Madry et al.) and FGSM with a random start (Wong et al.).

Both train on ``ℓ(x + δ)`` alone, with ``δ`` from PGD on the cross-entropy: a uniform random start in the ε-ball,
``steps`` steps of ``step_size`` along the norm's steepest direction, projection onto the ball and the data box.
The attack's passes run like a regularizer's (dropout off, batch norm on the statistics of the batch each pass
sees, running statistics untouched, see :class:`~art_sor.trainers.regularized.RegularizedTrainer`); the training pass
on ``x + δ`` runs in train mode and updates the running statistics, as in Madry et al.'s and Rice et al.'s code.
Beside ART's adapters, these show what adversarial training costs without ART's per-batch overhead.

| Paper link: https://arxiv.org/abs/1706.06083
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.core.checks import check_bool, check_choice, check_count, check_positive
from art_sor.core.projection import projected_gradient_ascent
from art_sor.core.threat import ThreatModel
from art_sor.estimators.view import BATCH_NORM_MODES, BatchNormMode
from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.steps import OptimizerStep, detached_stats

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class PGDTrainer(EpochTrainer):
    """Train on PGD adversarial examples: ``min_θ mean ℓ(x + δ_PGD)``.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Radius of the threat model.
    :param norm: ``np.inf``/``"inf"`` or ``2``/``"l2"``.
    :param steps: PGD steps.
    :param step_size: PGD step, by default ``2.5·ε/steps`` (Madry et al.).
    :param amp: Train in mixed precision.
    :param batch_norm: Statistics batch norm uses in the attack's passes, ``"batch"`` or ``"eval"``.
    """

    method = "pgd-at"
    supports_distributed = True

    def __init__(self, classifier: PyTorchClassifier, eps: float, norm: Any = np.inf, steps: int = 7,
                 step_size: float | None = None, amp: bool = False, batch_norm: BatchNormMode = "batch") -> None:
        super().__init__(classifier)
        self.threat = ThreatModel(eps, norm)
        self.steps = check_count(steps, "steps")
        self.step_size = check_positive(step_size if step_size is not None else self._default_step_size(),
                                        "step_size")
        self.amp = check_bool(amp, "amp")
        self.batch_norm = check_choice(batch_norm, BATCH_NORM_MODES, "batch_norm")
        self._step = OptimizerStep(self._view, classifier.optimizer, self.amp, self.method, self._parallel)

    def _default_step_size(self) -> float:
        return 2.5 * self.threat.eps / self.steps

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "steps": self.steps, "step_size": self.step_size,
                "amp": self.amp, "batch_norm": self.batch_norm}

    def _train_batch(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> dict[str, float]:
        view = self._view
        x, y = view.inputs(x), view.labels(y)
        with self._step.autocast(), view.penalty_mode(self.batch_norm):
            loss_fn = view.loss_fn(y)
            delta = projected_gradient_ascent(lambda d: loss_fn(x + d), x, self.threat.eps, self.threat.norm,
                                              self.steps, self.step_size, view.box)
        self._classifier.optimizer.zero_grad(set_to_none=True)
        view.model.train()
        with self._step.autocast():
            logits = view.logits(x + delta)
            loss = view.per_sample_loss(logits, y).mean()
        self._step(loss, len(x))
        return detached_stats({"loss": loss, "train_accuracy": (logits.argmax(dim=1) == y).float().mean()})

    def _extra_state(self) -> dict[str, Any]:
        return {"scaler": self._step.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._step.load_state_dict(state["scaler"])


class FGSMRSTrainer(PGDTrainer):
    """"Fast is better than free": one FGSM step of ``1.25ε`` from a uniform random start (Wong et al. 2020).

    | Paper link: https://arxiv.org/abs/2001.03994

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Radius of the threat model.
    :param norm: ``np.inf``/``"inf"`` or ``2``/``"l2"``.
    :param step_size: The step, by default ``1.25·ε``.
    :param amp: Train in mixed precision.
    :param batch_norm: Statistics batch norm uses in the attack's pass, ``"batch"`` or ``"eval"``.
    """

    method = "fgsm-rs"

    def __init__(self, classifier: PyTorchClassifier, eps: float, norm: Any = np.inf, step_size: float | None = None,
                 amp: bool = False, batch_norm: BatchNormMode = "batch") -> None:
        super().__init__(classifier, eps, norm, steps=1, step_size=step_size, amp=amp, batch_norm=batch_norm)

    def _default_step_size(self) -> float:
        return 1.25 * self.threat.eps
