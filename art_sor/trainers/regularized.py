"""Training on a clean loss plus a pluggable regularizer: the loop behind SOR and the geometric baselines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from art_sor.bridge import ClassifierView
from art_sor.core.penalty import Regularizer
from art_sor.trainers.base import EpochTrainer

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class RegularizedTrainer(EpochTrainer):
    """Train an ART ``PyTorchClassifier`` on ``mean ℓ(x) + penalty``, where a regularizer supplies the penalty.

    The regularizer's extra passes run with the model in eval mode: batch-norm then uses its running statistics,
    so samples do not interact (per-sample gradients stay per-sample), the perturbed inputs do not pollute the
    running statistics, and dropout draws no new mask between ``x`` and ``x + hδ`` (which would make finite
    differences meaningless). The clean loss runs in train mode as in standard training; for models without
    such layers the regularizer's own clean pass is reused.

    Mixed precision uses ``torch.autocast`` (float16 with a gradient scaler on CUDA, bfloat16 on CPU); no apex.

    :param classifier: ART classifier with an optimizer; it is trained in place.
    :param regularizer: The penalty, or ``None`` for standard training.
    :param amp: Train in mixed precision.
    """

    method = "standard"

    def __init__(self, classifier: PyTorchClassifier, regularizer: Regularizer | None = None,
                 amp: bool = False) -> None:
        super().__init__(classifier)
        self._view = ClassifierView(classifier)
        self._regularizer = regularizer
        self.amp = bool(amp)
        device_type = self._view.device.type
        self._scaler = torch.amp.GradScaler(device_type, enabled=self.amp and device_type == "cuda")
        self._parameters = [p for p in self._view.model.parameters() if p.requires_grad]

    @property
    def regularizer(self) -> Regularizer | None:
        """The penalty added to the clean loss, or ``None`` for standard training."""
        return self._regularizer

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run (saved with checkpoints and reports)."""
        return {**super().config(), "amp": self.amp}

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return self._train_step(self._view.inputs(x), self._view.labels(y))

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        view = self._view
        optimizer = self._classifier.optimizer
        optimizer.zero_grad(set_to_none=True)
        amp_dtype = torch.float16 if view.device.type == "cuda" else torch.bfloat16
        with torch.autocast(view.device.type, dtype=amp_dtype, enabled=self.amp):
            penalty = None
            if self._regularizer is not None:
                with view.eval_mode():
                    clean_fn = view.loss_fn(y)
                    penalty = self._regularizer(clean_fn, x)
                clean_losses = penalty.clean_losses
            if penalty is None or view.mode_dependent:
                view.model.train()
                clean_fn = view.loss_fn(y)
                clean_losses = clean_fn(x)
            clean_loss = clean_losses.mean()
            loss = clean_loss if penalty is None else clean_loss + penalty.value
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.method}: the training loss became {loss.item()}; lower the learning "
                                     "rate or the regularizer's weight")
        # Only the parameters need gradients: this prunes the backward passes toward the input leaves.
        self._scaler.scale(loss).backward(inputs=self._parameters)
        self._scaler.step(optimizer)
        self._scaler.update()
        stats = {
            "loss": loss.detach(),
            "clean_loss": clean_loss.detach(),
            "train_accuracy": (clean_fn.first_logits.argmax(dim=1) == y).float().mean(),
        }
        if penalty is not None:
            stats.update(penalty.parts, penalty=penalty.value.detach())
        # One device-to-host copy per step rather than one per statistic.
        values = torch.stack([value.float() for value in stats.values()]).tolist()
        return dict(zip(stats, values, strict=True))

    def _extra_state(self) -> dict[str, Any]:
        return {"scaler": self._scaler.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._scaler.load_state_dict(state["scaler"])
