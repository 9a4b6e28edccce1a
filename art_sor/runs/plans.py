"""What a comparison will do, fixed before it runs: its plan, and its default defences and attacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from art.estimators.classification import PyTorchClassifier

from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.evaluation.attacks import quick_attack
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.budget_fractions import check_budget_fractions
from art_sor.runs.epoch_hooks import CLOCKS, Budget
from art_sor.runs.training_setup import TrainingSetup

COMPARE_ATTACKS = ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "square")


DEFAULT_DEFENCES = ("standard", "sor", "sor:iterations=3,step=frank_wolfe", "gr", "cure", "llr", "pgd-at", "fgsm-rs",
                    "madry-pgd", "trades")


ExtraMetrics = Callable[[PyTorchClassifier, Dataset, ThreatModel], dict[str, float]]


@dataclass(frozen=True)
class ComparisonPlan:
    """What is compared and how; equal plans give comparable rows.

    :param setup: The training setup; with a budget, ``setup.epochs`` caps the epochs.
    :param evaluation: How every model is evaluated.
    :param budget: Train each defence until its training time reaches this; ``None`` for equal epochs.
    :param seeds: Seeds; each defence trains once per seed.
    :param monitor_attack: Cheap attack run after every epoch for the robustness-vs-compute curves; empty for the
                           norm's :func:`~art_sor.evaluation.attacks.quick_attack` with 10 steps.
    :param monitor_samples: Leading test images it runs on.
    :param extras: What the extra metrics are (e.g. ``alignment, judge=<path>``); their cache matches on it.
    :param clock: The clock training time is measured with, ``"wall"`` or ``"cpu"`` (see
                  :data:`~art_sor.runs.epoch_hooks.CLOCKS`); empty for the budget's, else ``"wall"``.
    :param budget_fractions: Keep each run's model at the first epoch whose cumulative training time crosses each
                             of these fractions of the budget, and evaluate each kept model (a row per fraction):
                             in (0, 1], sorted, distinct, the last 1; empty to evaluate the final model only. They
                             need a budget, which :func:`~art_sor.runs.comparison_job.comparison_job` may measure.
    """

    setup: TrainingSetup
    evaluation: EvaluationPlan
    budget: Budget | None = None
    seeds: tuple[int, ...] = (0,)
    monitor_attack: str = ""
    monitor_samples: int = 200
    extras: str = ""
    clock: str = ""
    budget_fractions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.budget_fractions:
            object.__setattr__(self, "budget_fractions", check_budget_fractions(self.budget_fractions))
            if self.setup.select != "last":
                raise SettingError(f"budget_fractions keeps the model of the epochs that cross them, which select="
                                   f"{self.setup.select!r} would not report; select 'last'", "budget_fractions")
        if not self.monitor_attack:
            object.__setattr__(self, "monitor_attack", quick_attack(self.threat.norm, 10))
        if self.budget is not None and self.clock and self.clock != self.budget.clock:
            raise SettingError(f"clock is {self.clock!r} but the budget is measured in {self.budget.clock!r} time",
                               "clock")
        if self.clock and self.clock not in CLOCKS:
            raise SettingError(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}", "clock")

    @property
    def timing_clock(self) -> str:
        """The clock training time is measured with: ``clock``, else the budget's, else ``"wall"``."""
        return self.clock or (self.budget.clock if self.budget else "wall")

    @property
    def threat(self) -> ThreatModel:
        """The threat model."""
        return self.evaluation.threat
