"""Comparison rows summarised per defence: mean ± std over seeds and the Pareto front of robustness against compute."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from art_sor.runs.comparison import ComparisonRow
    from art_sor.runs.evaluating import TestSetEvaluation

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from art_sor.evaluation.diagnostics import ENSEMBLE_CHECK, ensemble_check


@dataclass
class Spread:
    """Mean and standard deviation over seeds (0 for one seed)."""

    mean: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Mean and sample standard deviation of ``values``."""
        return cls(float(np.mean(values)), float(statistics.stdev(values)) if len(values) > 1 else 0.0)

    def text(self, scale: float = 100.0, digits: int = 1) -> str:
        """``mean ± std`` (just the mean for one seed)."""
        mean = f"{scale * self.mean:.{digits}f}"
        return mean if self.std == 0 else f"{mean} ± {scale * self.std:.{digits}f}"


@dataclass
class DefenceSummary:
    """A defence over its seeds."""

    defence: str
    rows: list[ComparisonRow]
    on_front: bool = False

    def spread(self, value: Callable[[ComparisonRow], float]) -> Spread:
        """Mean and spread of ``value`` over the seeds."""
        return Spread.of([value(row) for row in self.rows])

    @property
    def seconds(self) -> Spread:
        """Training seconds."""
        return self.spread(lambda row: row.training["training_seconds_by_clock"])

    @property
    def worst_case(self) -> Spread:
        """Worst-case robust accuracy."""
        return self.spread(lambda row: row.worst_case_accuracy)


def summarise(rows: Sequence[ComparisonRow]) -> list[DefenceSummary]:
    """Rows grouped by defence (in order of appearance), with the Pareto front of robustness against compute.

    A defence is on the front when no other one is at least as robust (mean worst case) for at most the same mean
    training time, and better in one of the two.
    """
    groups: dict[str, list[ComparisonRow]] = {}
    for row in rows:
        groups.setdefault(row.defence, []).append(row)
    summaries = [DefenceSummary(defence, group) for defence, group in groups.items()]
    for summary in summaries:
        seconds, robust = summary.seconds.mean, summary.worst_case.mean
        summary.on_front = not any(
            other.seconds.mean <= seconds and other.worst_case.mean >= robust
            and (other.seconds.mean < seconds or other.worst_case.mean > robust)
            for other in summaries if other is not summary)
    return summaries


def obfuscation_flags(result: TestSetEvaluation) -> list[str]:
    """Reasons to suspect gradient obfuscation in an evaluation: an ensemble far below PGD, failed diagnostics.

    The ensemble check is taken afresh from the attacks, so that evaluations cached before it existed get it too.
    """
    flags = [f"failed: {check.name}" for check in result.evaluation.checks
             if check.passed is False and check.name != ENSEMBLE_CHECK]
    gap = ensemble_check(result.evaluation.robustness)
    return [gap.detail, *flags] if gap.passed is False else flags
