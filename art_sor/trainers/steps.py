"""One optimizer step under optional mixed precision, shared by the trainers that run their own loss."""

from __future__ import annotations

from typing import Any

import torch

from art_sor.estimators.view import ClassifierView
from art_sor.trainers.distributed import DataParallel


class OptimizerStep:
    """Backward, optimizer step and (for float16 on CUDA) gradient scaling, with a clear error on a NaN loss.

    Mixed precision uses ``torch.autocast``: float16 with a gradient scaler on CUDA, bfloat16 on CPU; no apex.

    :param view: The classifier being trained.
    :param optimizer: Its optimizer.
    :param amp: Whether to run in mixed precision.
    :param method: Trainer name for error messages.
    :param parallel: The data-parallel group whose gradients are averaged before each step.
    """

    def __init__(self, view: ClassifierView, optimizer: torch.optim.Optimizer, amp: bool, method: str,
                 parallel: DataParallel) -> None:
        self.view, self.optimizer, self.amp, self.method, self.parallel = view, optimizer, amp, method, parallel
        device_type = view.device.type
        self.scaler = torch.amp.GradScaler(device_type, enabled=amp and device_type == "cuda")
        self.parameters = [p for p in view.model.parameters() if p.requires_grad]

    def autocast(self) -> torch.autocast:
        """The autocast context for the forward passes (disabled without ``amp``)."""
        device_type = self.view.device.type
        return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16,
                              enabled=self.amp)

    def __call__(self, loss: torch.Tensor, samples: int) -> None:
        """Backpropagate ``loss`` (the mean over this process's ``samples``) and step the optimizer.

        :raises FloatingPointError: If the loss is NaN or infinite.
        """
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.method}: the training loss became {loss.item()}; lower the learning "
                                     "rate or the regularizer's weight")
        # Only the parameters need gradients: this prunes the backward passes toward the input leaves.
        self.scaler.scale(loss).backward(inputs=self.parameters)
        self.parallel.average_gradients(self.parameters, samples)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state, for checkpoints."""
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scaler's state."""
        self.scaler.load_state_dict(state)


def detached_stats(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Scalar tensors as floats with one device-to-host copy rather than one per statistic."""
    values = torch.stack([value.detach().float() for value in stats.values()]).tolist()
    return dict(zip(stats, values, strict=True))
