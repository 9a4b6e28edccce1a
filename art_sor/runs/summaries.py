"""Rows of the ``train`` and ``compare`` jobs and their summaries: mean ± std over seeds, Pareto front, tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from art_sor.evaluation.diagnostics import ENSEMBLE_CHECK, ensemble_check
from art_sor.runs.evaluating import TestSetEvaluation
from art_sor.runs.reports import Table, percent
from art_sor.runs.run_key import RunKey
from art_sor.runs.trained_model import TrainedModel


@dataclass(frozen=True)
class TrainingSummary:
    """What a row states about a model's training: its run key, epochs, selection, cost and per-epoch history.

    :ivar defence: The defence's spec.
    :ivar run: The run's key, from which reports read the settings back.
    :ivar epochs: Epochs trained.
    :ivar selected_epoch: The epoch whose weights the model holds.
    :ivar training_seconds: Wall-clock seconds spent training.
    :ivar training_cpu_seconds: CPU seconds of the training process's threads.
    :ivar world_size: Processes that trained it.
    :ivar path: Where the model was saved, if it was.
    :ivar history: One record per epoch.
    :ivar clock: The clock a comparison's budget and times are measured by (``None`` outside a comparison).
    :ivar training_seconds_by_clock: The training time by that clock.
    :ivar logs: Where its run was logged (TensorBoard, MLflow), if it was.
    """

    defence: str
    run: RunKey
    epochs: int
    selected_epoch: int
    training_seconds: float
    training_cpu_seconds: float
    world_size: int
    path: str | None
    history: list[dict[str, Any]]
    clock: str | None = None
    training_seconds_by_clock: float | None = None
    logs: dict[str, str] | None = None

    @classmethod
    def of(cls, trained: TrainedModel) -> TrainingSummary:
        """The summary of ``trained``."""
        return cls(trained.spec.label, trained.key, trained.epochs, trained.selected_epoch, trained.training_seconds,
                   trained.training_cpu_seconds, trained.world_size, str(trained.path) if trained.path else None,
                   trained.history)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: the clock's entries only in a comparison, the logs only where the run was logged."""
        data = {"defence": self.defence, "run": self.run.to_dict(), "epochs": self.epochs,
                "selected_epoch": self.selected_epoch, "training_seconds": self.training_seconds,
                "training_cpu_seconds": self.training_cpu_seconds, "world_size": self.world_size,
                "path": self.path, "history": self.history}
        if self.clock is not None:
            data |= {"training_seconds_by_clock": self.training_seconds_by_clock, "clock": self.clock}
        if self.logs is not None:
            data["logs"] = self.logs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(data["defence"], RunKey.from_dict(data["run"]), data["epochs"], data["selected_epoch"],
                   data["training_seconds"], data["training_cpu_seconds"], data["world_size"], data["path"],
                   data["history"], data.get("clock"), data.get("training_seconds_by_clock"), data.get("logs"))


@dataclass
class TrainingJobRow:
    """One row of the ``train`` job: how a defence was trained and how it fared."""

    training: TrainingSummary
    result: TestSetEvaluation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"training": self.training.to_dict(), **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingJobRow:
        """Inverse of :meth:`to_dict`."""
        return cls(training=TrainingSummary.from_dict(data["training"]), result=TestSetEvaluation.from_dict(data))

    def to_markdown(self) -> str:
        """A short summary: this row of the job's table."""
        return "\n".join(train_table([self]).markdown())

    def __str__(self) -> str:
        return self.to_markdown()


def train_table(rows: Sequence[TrainingJobRow]) -> Table:
    """Epochs, seconds per epoch, clean accuracy (whole test set) and the attack's accuracy, per defence."""
    attack_label = rows[0].result.evaluation.robustness.attacks[0].label
    return Table(["defence", "epochs", "s/epoch", "clean (%)", f"{attack_label} (%)"],
                 [[row.training.defence, str(row.training.epochs),
                   f"{row.training.training_seconds / max(1, row.training.epochs):.2f}",
                   percent(row.result.clean_accuracy), percent(row.result.evaluation.robustness.attacks[0].accuracy)]
                  for row in rows])


@dataclass
class ComparisonRow:
    """One defence trained with one seed: its training, evaluation, curve and extra metrics.

    With budget fractions, a run gives one row per fraction, each of the model kept at the first epoch whose
    cumulative training time crossed it (its training, curve and evaluation up to that epoch).
    """

    defence: str
    seed: int
    training: TrainingSummary
    result: TestSetEvaluation
    curve: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    budget_fraction: float | None = None

    @property
    def worst_case_accuracy(self) -> float:
        """Per-sample worst case over every full-set attack."""
        return self.result.evaluation.robustness.worst_case_accuracy()

    @property
    def seconds_by_clock(self) -> float:
        """Training seconds by the comparison's clock, which every comparison row records."""
        seconds = self.training.training_seconds_by_clock
        if seconds is None:
            raise ValueError(f"the row of {self.defence} (seed {self.seed}) records no training time by a clock")
        return seconds

    @property
    def flags(self) -> list[str]:
        """Reasons to suspect gradient obfuscation."""
        return obfuscation_flags(self.result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; ``budget_fraction`` only in a row that has one."""
        fraction = {} if self.budget_fraction is None else {"budget_fraction": self.budget_fraction}
        return {"defence": self.defence, "seed": self.seed, **fraction, "training": self.training.to_dict(),
                "curve": self.curve, "extra": self.extra, "worst_case_accuracy": self.worst_case_accuracy,
                "flags": self.flags, **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonRow:
        """Inverse of :meth:`to_dict`."""
        return cls(defence=data["defence"], seed=data["seed"], training=TrainingSummary.from_dict(data["training"]),
                   result=TestSetEvaluation.from_dict(data), curve=data["curve"], extra=data["extra"],
                   budget_fraction=data.get("budget_fraction"))

    def to_markdown(self) -> str:
        """A short summary: the comparison table of this row alone."""
        return ComparisonResult([self]).to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


class ComparisonResult(list[ComparisonRow]):
    """The rows of :func:`~art_sor.runs.comparison.run_comparison` (a list), printed as the comparison table."""

    def to_markdown(self) -> str:
        """The comparison table (:func:`comparison_table`): cost, accuracies over seeds, Pareto front, flags."""
        return "\n".join(comparison_table(summarise(self)).markdown()) if self else "(no rows)"

    def __str__(self) -> str:
        return self.to_markdown()


@dataclass
class ReferenceRow:
    """A model evaluated under the comparison's plan but not trained by it (a published model, say).

    :ivar name: Its name in the table.
    :ivar source: How it was given (a path, or ``robustbench:NAME``).
    :ivar identity: What identifies its weights.
    :ivar result: Its evaluation.
    """

    name: str
    source: str
    identity: dict[str, Any]
    result: TestSetEvaluation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"name": self.name, "source": self.source, "model": self.identity,
                "worst_case_accuracy": self.result.evaluation.robustness.worst_case_accuracy(),
                "flags": obfuscation_flags(self.result), **self.result.to_dict()}


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
    """A defence over its seeds (at one fraction of the budget, where the comparison has budget fractions)."""

    defence: str
    rows: list[ComparisonRow]
    on_front: bool = False
    budget_fraction: float | None = None

    def spread(self, value: Callable[[ComparisonRow], float]) -> Spread:
        """Mean and spread of ``value`` over the seeds."""
        return Spread.of([value(row) for row in self.rows])

    @property
    def seconds(self) -> Spread:
        """Training seconds."""
        return self.spread(lambda row: row.seconds_by_clock)

    @property
    def worst_case(self) -> Spread:
        """Worst-case robust accuracy."""
        return self.spread(lambda row: row.worst_case_accuracy)


def summarise(rows: Sequence[ComparisonRow]) -> list[DefenceSummary]:
    """Rows grouped by defence and budget fraction (in order of appearance), with the Pareto front.

    A summary is on the front when no other one is at least as robust (mean worst case) for at most the same mean
    training time, and better in one of the two.
    """
    groups: dict[tuple[str, float | None], list[ComparisonRow]] = {}
    for row in rows:
        groups.setdefault((row.defence, row.budget_fraction), []).append(row)
    summaries = [DefenceSummary(defence, group, budget_fraction=fraction)
                 for (defence, fraction), group in groups.items()]
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


def comparison_table(summaries: Sequence[DefenceSummary]) -> Table:
    """The comparison table: cost, accuracies (mean ± std over seeds), Pareto membership and flags.

    With budget fractions, a row per defence and fraction, its share of the budget in a ``budget`` column, and
    ``× standard`` against standard training at the same fraction.
    """
    rows = [row for summary in summaries for row in summary.rows]
    attack_labels = list(dict.fromkeys(a.label for row in rows for a in row.result.evaluation.robustness.attacks))
    extra_labels = list(dict.fromkeys(label for row in rows for label in row.extra))
    bases = {s.budget_fraction: s.seconds.mean for s in summaries if s.defence == "standard"}
    fractions = any(summary.budget_fraction is not None for summary in summaries)
    header = ["defence", *(["budget"] if fractions else []), "seeds", "epochs", "train s", "× standard", "clean",
              *attack_labels, "worst case", *extra_labels, "Pareto front", "flags"]
    cells = []
    for summary in summaries:
        base = bases.get(summary.budget_fraction)
        def accuracy(label: str, summary: DefenceSummary = summary) -> str:
            values = [next((a.accuracy for a in row.result.evaluation.robustness.attacks if a.label == label), None)
                      for row in summary.rows]
            return "" if None in values else Spread.of(values).text()

        epochs = sorted({row.training.epochs for row in summary.rows})
        flags = sorted({flag for row in summary.rows for flag in row.flags})
        budget = [] if not fractions else [f"{100 * summary.budget_fraction:g} %"
                                           if summary.budget_fraction is not None else ""]
        cells.append([summary.defence, *budget, str(len(summary.rows)), "–".join(map(str, (epochs[0], epochs[-1])))
                      if len(epochs) > 1 else str(epochs[0]), summary.seconds.text(1.0, 0),
                      f"{summary.seconds.mean / base:.2f}" if base else "",
                      summary.spread(lambda row: row.result.clean_accuracy).text(),
                      *[accuracy(label) for label in attack_labels], summary.worst_case.text(),
                      *[summary.spread(lambda row, label=label: row.extra.get(label, math.nan)).text(1.0, 3)
                        for label in extra_labels],
                      "yes" if summary.on_front else "", "; ".join(flags) or "none"])
    return Table(header, cells)
