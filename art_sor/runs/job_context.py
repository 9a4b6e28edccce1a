"""The context a job runs in, whatever it computes: progress bars, overwriting, messages and tracking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from art_sor.runs.tracking import Tracking


@dataclass(frozen=True)
class JobContext:
    """How a job runs, as its caller chose it: built once (by the command line) and passed whole.

    :ivar verbose: Show progress bars.
    :ivar overwrite: Replace what a folder holds from other settings instead of refusing it.
    :ivar announce: Where the job says what it is doing, one line at a time.
    :ivar tracking: Where every trained model's run is logged (TensorBoard, MLflow), or ``None``.
    """

    verbose: bool = True
    overwrite: bool = False
    announce: Callable[[str], None] = print
    tracking: Tracking | None = None
