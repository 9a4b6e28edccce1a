"""The base of every trainer whose step art-sor writes in torch: precision, batch norm, micro-batches, the step."""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.classifiers.view import BATCH_NORM_MODES, BatchNormMode
from art_sor.core.checks import check_bool, check_choice, check_count
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.penalty import Backward
from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.optimizer_step import OptimizerStep

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


@dataclass(frozen=True)
class StepSettings:
    """How a torch-step trainer runs its step: precision, batch norm in the extra passes, micro-batches.

    Every value is checked here, once; a trainer takes the whole object (see :class:`TorchStepTrainer`), and the
    defence registry supplies it to every defence like the threat model.

    :param amp: Train in mixed precision (``torch.autocast``: float16 with a gradient scaler on CUDA, bfloat16 on
                CPU).
    :param batch_norm: Statistics batch norm uses in the extra passes (regularizer or attack): ``"batch"`` (those of
                       the batch each pass sees, as in the clean training pass; running statistics untouched) or
                       ``"eval"`` (the running statistics); see
                       :class:`~art_sor.trainers.regularized.RegularizedTrainer`.
    :param micro_batch_size: Samples per micro-batch whose gradients accumulate before each optimizer step, or
                             ``None`` for whole batches.
    """

    amp: bool = False
    batch_norm: BatchNormMode = "batch"
    micro_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_bool(self.amp, "amp")
        check_choice(self.batch_norm, BATCH_NORM_MODES, "batch_norm")
        if self.micro_batch_size is not None:
            object.__setattr__(self, "micro_batch_size", check_count(self.micro_batch_size, "micro_batch_size"))

    def changed(self) -> list[str]:
        """The names of the settings that differ from their defaults."""
        default = StepSettings()
        return [name for name, value in asdict(self).items() if value != getattr(default, name)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, as trainers report it in their configuration."""
        return asdict(self)


class TorchStepTrainer(EpochTrainer):
    """An :class:`~art_sor.trainers.base.EpochTrainer` that owns the settings and state of its own torch step.

    It owns the :class:`StepSettings` (mixed precision, the batch-norm mode of the extra passes, micro-batches),
    the optimizer step with its gradient scaler, and their checkpointed state; a subclass says what one
    micro-batch contributes (:meth:`_micro_step`).

    With ``micro_batch_size``, each batch is split into micro-batches whose gradients accumulate before one
    optimizer step, so that the peak memory falls with the micro-batch. The loss is the batch's mean either way;
    batch norm normalises each micro-batch over itself (and updates its running statistics once per micro-batch),
    so on a model with batch norm the result is that of training at the micro-batch size with the batch's step.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer; it is trained in place.
    :param step_settings: Mixed precision, batch norm in the extra passes and micro-batches (see
                          :class:`StepSettings`); the defaults train in full precision, on whole batches, with
                          batch statistics.
    """

    supports_distributed = True

    def __init__(self, classifier: PyTorchClassifier, step_settings: StepSettings = StepSettings()) -> None:
        super().__init__(classifier)
        if not isinstance(step_settings, StepSettings):
            raise SettingTypeError(f"step_settings must be a StepSettings, got {type(step_settings).__name__} "
                                   f"{step_settings!r}", "step_settings")
        self.step_settings = step_settings
        if step_settings.batch_norm != "batch" and not self._view.batch_norms:
            raise SettingError(f"batch_norm={step_settings.batch_norm!r} has no effect: classifier.model has no "
                               "batch-norm layer (dropout is off in the extra passes either way); drop batch_norm",
                               "batch_norm")
        self._step = OptimizerStep(self._view, classifier.optimizer, step_settings.amp, self.method, self._parallel)

    @property
    def scales_gradients(self) -> bool:
        """Whether the loss is scaled against float16 underflow (``amp`` on CUDA; bfloat16 on CPUs needs none)."""
        return self._step.scaler.is_enabled()

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run, the step's settings included."""
        return {**super().config(), **self.step_settings.to_dict()}

    def check_batches(self, n: int, batch_size: int) -> None:
        """As :meth:`EpochTrainer.check_batches`, and refuse a ``micro_batch_size`` that splits nothing or leaves one.

        A ``micro_batch_size`` not below ``batch_size`` splits no batch; one that leaves micro-batches of one sample
        is refused under batch norm.
        """
        super().check_batches(n, batch_size)
        size, layer = self.step_settings.micro_batch_size, self._batch_norm_layer()
        if size is not None and size >= batch_size:
            raise SettingError(f"micro_batch_size {size} is not below batch_size {batch_size}, so no batch is split "
                               "and it has no effect; choose a smaller micro_batch_size or drop it",
                               "micro_batch_size")
        if size is None or layer is None:
            return
        # Each batch splits into micro-batches of `size` and a remainder.
        sizes = {part for length in (batch_size, n % batch_size or batch_size)
                 for part in (min(size, length), length % size)}
        if 1 in sizes:
            raise SettingError(f"micro_batch_size {size} leaves micro-batches of one sample (batch_size "
                               f"{batch_size}, {n} samples), which the model's {layer} cannot normalise in "
                               "training; choose another micro_batch_size", "micro_batch_size")

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`EpochTrainer.training_step`."""
        x, y = self._view.inputs(x), self._view.labels(y)
        size = self.step_settings.micro_batch_size or len(x)
        self._step.zero_grad()
        totals: dict[str, torch.Tensor] = {}
        for start in range(0, len(x), size):
            share = min(size, len(x) - start) / len(x)
            stats = self._micro_step(x[start:start + size], y[start:start + size], self._step.backward(share))
            for key, value in stats.items():
                totals[key] = totals[key] + share * value if key in totals else share * value
        self._step.step(len(x))
        return totals

    @abc.abstractmethod
    def _micro_step(self, x: torch.Tensor, y: torch.Tensor, backward: Backward) -> dict[str, torch.Tensor]:
        """Backpropagate one micro-batch's mean loss through ``backward``.

        :return: Its detached mean statistics, at least ``loss`` and ``train_accuracy``.
        """

    def check_losses(self) -> None:
        """As :meth:`EpochTrainer.check_losses`."""
        self._step.check()

    def _extra_state(self) -> dict[str, Any]:
        return {"scaler": self._step.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._step.load_state_dict(state["scaler"])
