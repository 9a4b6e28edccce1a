"""One optimizer step, in parts and micro-batches, under optional mixed precision, without host synchronisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from art_sor.classifiers.view import ClassifierView
from art_sor.core.penalty import Backward
from art_sor.trainers.distributed import DataParallel


class OptimizerStep:
    """Accumulated backward passes, the optimizer step and (for float16 on CUDA) gradient scaling.

    A step is :meth:`zero_grad`, any number of :meth:`backward` parts (of one or more micro-batches), then
    :meth:`step`. Whether every loss was finite is kept on the device and read by :meth:`check` (the loop calls it
    every few steps and at the end of each epoch), so that a step never waits for the device.

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
        self._finite = torch.ones((), dtype=torch.bool, device=view.device)
        self._bad_loss = torch.zeros((), dtype=torch.float32, device=view.device)

    def autocast(self) -> torch.autocast:
        """The autocast context for the forward passes (disabled without ``amp``)."""
        device_type = self.view.device.type
        return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16,
                              enabled=self.amp)

    def zero_grad(self) -> None:
        """Start a step."""
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, share: float = 1.0) -> Backward:
        """The :class:`~art_sor.core.penalty.Backward` of a micro-batch that holds ``share`` of the step's samples.

        Each part is scaled by ``share`` (so that the micro-batches' mean losses add up to the batch's mean) and by
        the gradient scaler; the gradients it returns for ``also`` are those of the unscaled part.
        """

        def backward(loss: torch.Tensor, also: Sequence[torch.Tensor] = ()) -> tuple[torch.Tensor, ...]:
            value = loss.detach().float()
            finite = torch.isfinite(value)
            self._bad_loss = torch.where(self._finite & ~finite, value, self._bad_loss)
            self._finite = self._finite & finite
            for tensor in also:
                tensor.grad = None
            # Backward outside autocast, as torch recommends; only the parameters (and ``also``) get gradients,
            # which prunes the passes toward the input leaves.
            with torch.autocast(self.view.device.type, enabled=False):
                self.scaler.scale(loss * share).backward(inputs=[*self.parameters, *also])
            if not also:
                return ()
            factor = self.scaler.scale(torch.full((), share, device=loss.device))
            return tuple(tensor.grad / factor for tensor in also)

        return backward

    def step(self, samples: int) -> None:
        """Average the gradients over processes (``samples`` on this one) and step the optimizer."""
        self.parallel.average_gradients(self.parameters, samples)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def check(self) -> None:
        """Read the finiteness flag from the device.

        :raises FloatingPointError: If a loss since the last check was NaN or infinite.
        """
        if not bool(self._finite):
            value = float(self._bad_loss)
            self._finite.fill_(True)
            raise FloatingPointError(f"{self.method}: the training loss became {value}; lower the learning "
                                     "rate or the regularizer's weight")

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state, for checkpoints."""
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scaler's state."""
        self.scaler.load_state_dict(state)


def detached_stats(stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scalar statistics, detached, in float32 and still on their device (the loop reads them in bulk)."""
    return {key: value.detach().float() for key, value in stats.items()}
