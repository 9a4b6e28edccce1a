"""Standard (empirical risk) training with the art-sor loop, the baseline every defence is compared with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from art_sor.core.errors import SettingError
from art_sor.trainers.regularized import RegularizedTrainer
from art_sor.trainers.torch_step import StepSettings

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class StandardTrainer(RegularizedTrainer):
    """Train on the clean loss alone, with the same loop, history and checkpoints as the defences.

    :param classifier: ART classifier with an optimizer.
    :param step_settings: See :class:`~art_sor.trainers.torch_step.TorchStepTrainer`; ``batch_norm`` has no extra
                          passes to act on.
    """

    method = "standard"

    def __init__(self, classifier: PyTorchClassifier, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier, regularizer=None, step_settings=step_settings)
        if step_settings.batch_norm != StepSettings.batch_norm:
            raise SettingError(f"batch_norm={step_settings.batch_norm!r} has no effect: standard training makes no "
                               "extra passes; drop batch_norm", "batch_norm")
