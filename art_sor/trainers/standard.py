"""Standard (empirical risk) training with the art-sor loop, the baseline every defence is compared with."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from art_sor.trainers.regularized import RegularizedTrainer
from art_sor.trainers.torch_step import StepSettings

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class StandardTrainer(RegularizedTrainer):
    """Train on the clean loss alone, with the same loop, history and checkpoints as the defences.

    :param classifier: ART classifier with an optimizer.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`. Standard training makes no
                          extra passes, so ``batch_norm`` has nothing to act on: it is recorded as the default,
                          whatever a run sets for its other defences, and leaves standard training's key alone.
    """

    method = "standard"

    def __init__(self, classifier: PyTorchClassifier, step_settings: StepSettings = StepSettings()) -> None:
        if isinstance(step_settings, StepSettings):
            step_settings = dataclasses.replace(step_settings, batch_norm=StepSettings.batch_norm)
        super().__init__(classifier, regularizer=None, step_settings=step_settings)
