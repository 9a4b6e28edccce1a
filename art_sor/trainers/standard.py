"""Standard (empirical risk) training with the art-sor loop, the baseline every defence is compared with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from art_sor.trainers.regularized import RegularizedTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class StandardTrainer(RegularizedTrainer):
    """Train on the clean loss alone, with the same loop, history and checkpoints as the defences.

    :param classifier: ART classifier with an optimizer.
    :param amp: Train in mixed precision.
    :param micro_batch_size: Samples per micro-batch (see :class:`~art_sor.trainers.torch_step.TorchStepTrainer`).
    """

    method = "standard"

    def __init__(self, classifier: PyTorchClassifier, amp: bool = False, micro_batch_size: int | None = None) -> None:
        super().__init__(classifier, regularizer=None, amp=amp, micro_batch_size=micro_batch_size)
