"""Defences compared on one dataset, model and set of attacks, at equal epochs or at equal compute, resumably.

Each defence (and seed) gets a folder holding its training state, finished model and cached evaluation, each
carrying the full key of what produced it; rerunning a comparison reuses whatever is finished with the same
settings and only does the rest. With a budget, every defence trains whole epochs until its cumulative training
time reaches it, and a cheap attack after every epoch traces robustness against compute.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.plotting import COLOURS, save_figure, style
from art_sor.registry import DEFENCES
from art_sor.runs.epoch_hooks import CLOCKS, Budget, RobustnessMonitor
from art_sor.runs.evaluating import (
    EvaluationPlan,
    OpenedModel,
    TestSetEvaluation,
    attack_notes,
    cached_evaluation,
    evaluate_model,
)
from art_sor.runs.folders import exclusive
from art_sor.runs.identity import plain
from art_sor.runs.reports import Report, Table
from art_sor.runs.setup import TrainingSetup
from art_sor.runs.tracking import Tracking, logs_line
from art_sor.runs.trained_model import MODEL_FILE, TrainedModel
from art_sor.runs.training import train_defence
from art_sor.specs import Spec
from art_sor.storage import read_checked_json, write_checked_json
from art_sor.trainers.distributed import DataParallel

COMPARE_ATTACKS = ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "square")
DEFAULT_DEFENCES = ("standard", "sor", "sor:iterations=3,step=frank_wolfe", "gr", "cure", "llr", "pgd-at", "fgsm-rs",
                    "madry-pgd", "trades")
ENSEMBLE_GAP = 0.03
"""An ensemble (AutoAttack) more than this below the reference attack (PGD) is flagged as possible obfuscation."""
EVALUATION_FILE = "evaluation.json"
EXTRA_FILE = "extra_metrics.json"

ExtraMetrics = Callable[[PyTorchClassifier, Dataset, ThreatModel], dict[str, float]]


@dataclass(frozen=True)
class ComparisonPlan:
    """What is compared and how; equal plans give comparable rows.

    :param setup: The training setup; with a budget, ``setup.epochs`` caps the epochs.
    :param evaluation: How every model is evaluated.
    :param budget: Train each defence until its training time reaches this; ``None`` for equal epochs.
    :param seeds: Seeds; each defence trains once per seed.
    :param monitor_attack: Cheap attack run after every epoch for the robustness-vs-compute curves.
    :param monitor_samples: Leading test images it runs on.
    :param extras: What the extra metrics are (e.g. ``alignment, judge=<path>``); their cache matches on it.
    :param clock: The clock training time is measured with, ``"wall"`` or ``"cpu"`` (see
                  :data:`~art_sor.runs.epoch_hooks.CLOCKS`); empty for the budget's, else ``"wall"``.
    """

    setup: TrainingSetup
    evaluation: EvaluationPlan
    budget: Budget | None = None
    seeds: tuple[int, ...] = (0,)
    monitor_attack: str = "pgd:steps=10"
    monitor_samples: int = 200
    extras: str = ""
    clock: str = ""

    def __post_init__(self) -> None:
        if self.budget is not None and self.clock and self.clock != self.budget.clock:
            raise ValueError(f"clock is {self.clock!r} but the budget is measured in {self.budget.clock!r} time")
        if self.clock and self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")

    @property
    def timing_clock(self) -> str:
        """The clock training time is measured with: ``clock``, else the budget's, else ``"wall"``."""
        return self.clock or (self.budget.clock if self.budget else "wall")

    @property
    def threat(self) -> ThreatModel:
        """The threat model."""
        return self.evaluation.threat


@dataclass
class ComparisonRow:
    """One defence trained with one seed: its training, evaluation, curve and extra metrics."""

    defence: str
    seed: int
    training: dict[str, Any]
    result: TestSetEvaluation
    curve: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def worst_case_accuracy(self) -> float:
        """Per-sample worst case over every full-set attack."""
        return self.result.evaluation.robustness.worst_case_accuracy()

    @property
    def flags(self) -> list[str]:
        """Reasons to suspect gradient obfuscation."""
        return obfuscation_flags(self.result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"defence": self.defence, "seed": self.seed, "training": self.training, "curve": self.curve,
                "extra": self.extra, "worst_case_accuracy": self.worst_case_accuracy, "flags": self.flags,
                **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonRow:
        """Inverse of :meth:`to_dict`."""
        return cls(defence=data["defence"], seed=data["seed"], training=data["training"],
                   result=TestSetEvaluation.from_dict(data), curve=data["curve"], extra=data["extra"])

    def to_markdown(self) -> str:
        """A short summary: the comparison table of this row alone."""
        return ComparisonResult([self]).to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


class ComparisonResult(list[ComparisonRow]):
    """The rows of :func:`run_comparison` (a list), printed as the comparison table."""

    def to_markdown(self) -> str:
        """The comparison table (:func:`comparison_table`): cost, accuracies over seeds, Pareto front, flags."""
        return "\n".join(comparison_table(summarise(self)).markdown()) if self else "(no rows)"

    def __str__(self) -> str:
        return self.to_markdown()


def obfuscation_flags(result: TestSetEvaluation) -> list[str]:
    """Reasons to suspect gradient obfuscation in an evaluation: failed diagnostics, an ensemble far below PGD."""
    robustness = result.evaluation.robustness
    flags = [f"failed: {check.name}" for check in result.evaluation.checks if check.passed is False]
    gap = robustness.ensemble_gap
    if gap is not None and gap > ENSEMBLE_GAP:
        ensemble = min((r for r in robustness.attacks if r.ensemble), key=lambda r: r.accuracy)
        flags.insert(0, f"{ensemble.label} {100 * gap:.1f} points below {robustness.reference.label}")
    return flags


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


def evaluate_references(references: Sequence[OpenedModel], sources: Sequence[str], data: Dataset,
                        plan: ComparisonPlan, out: str | Path, verbose: bool = True,
                        announce: Callable[[str], None] = print) -> list[ReferenceRow]:
    """Evaluate fixed reference models with the comparison's plan, each cached in ``out/references/<model>``.

    :param sources: How each model was given, for the report.
    """
    rows = []
    with exclusive(out) as folder:
        for position, (model, source) in enumerate(zip(references, sources, strict=True), 1):
            announce(f"[reference {position}/{len(references)}] {model.name}: evaluating")
            result = evaluate_model(model.classifier, data, plan.evaluation, model.identity,
                                    folder / "references" / model.folder / EVALUATION_FILE, verbose=verbose)
            rows.append(ReferenceRow(model.name, source, model.identity, result))
    return rows


def reference_table(references: Sequence[ReferenceRow]) -> Table:
    """Accuracies of the reference models, with their obfuscation flags."""
    labels = list(dict.fromkeys(a.label for row in references for a in row.result.evaluation.robustness.attacks))
    cells = []
    for row in references:
        accuracy = {a.label: a.accuracy for a in row.result.evaluation.robustness.attacks}
        cells.append([row.name, f"{100 * row.result.clean_accuracy:.1f}",
                      *[f"{100 * accuracy[label]:.1f}" if label in accuracy else "" for label in labels],
                      f"{100 * row.result.evaluation.robustness.worst_case_accuracy():.1f}",
                      "; ".join(obfuscation_flags(row.result)) or "none"])
    return Table(["reference model", "clean", *labels, "worst case", "flags"], cells)


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


def budget_of(spec: Spec, epochs: int, data: Dataset, threat: ThreatModel, setup: TrainingSetup, clock: str,
              out: Path, verbose: bool = True, overwrite: bool = False) -> Budget:
    """The budget that ``spec`` needs for ``epochs`` epochs with ``setup``, by ``clock``.

    The reference run is saved in ``out/budget-reference`` and reused like any other run.
    """
    trained = train_defence(spec, data, threat, replace(setup, epochs=epochs), out / "budget-reference" / spec.folder,
                            verbose=verbose, overwrite=overwrite)
    return Budget(sum(record[CLOCKS[clock]] for record in trained.history), clock)


def run_comparison(specs: Sequence[Spec | str], data: Dataset, plan: ComparisonPlan, out: str | Path,
                   extra_metrics: ExtraMetrics | None = None, verbose: bool = True, overwrite: bool = False,
                   announce: Callable[[str], None] = print, tracking: Tracking | None = None) -> ComparisonResult:
    """Train (or resume) and evaluate every defence with every seed; one row per defence and seed, in order.

    :param tracking: Log every row as its own run, named ``<defence folder>/seed-<seed>``, with its settings,
                     epochs (robustness monitor included) and final evaluation (extra metrics included).
    """
    specs = [DEFENCES.check(spec) for spec in specs]
    rows = ComparisonResult()
    leader = DataParallel.current().leader
    monitor_x, monitor_y = data.x_test[:plan.monitor_samples], data.y_test[:plan.monitor_samples]
    monitor = RobustnessMonitor(monitor_x, monitor_y, plan.threat, plan.monitor_attack)
    with exclusive(out) as folder:
        runs = [(spec, seed) for spec in specs for seed in plan.seeds]
        for position, (spec, seed) in enumerate(runs, 1):
            where = folder / spec.folder / f"seed-{seed}"
            prefix = f"[{position}/{len(runs)}] {spec.label} (seed {seed})"
            finished = (where / MODEL_FILE).exists() and not overwrite
            announce(f"{prefix}: {'checking the saved model' if finished else 'training'}")
            tracker = tracking.open(f"{spec.folder}/seed-{seed}", where) if tracking and leader else None
            with tracker or contextlib.nullcontext():
                trained = train_defence(spec, data, plan.threat, replace(plan.setup, seed=seed), where,
                                        verbose=verbose, overwrite=overwrite, budget=plan.budget, monitor=monitor,
                                        tracker=tracker)
                if trained.reused:
                    announce(f"{prefix}: reused the finished model in {where}")
                if not leader:
                    continue  # rank 0 evaluates and reports
                identity = trained.key.to_dict() | {"epochs": trained.epochs}
                result = cached_evaluation(plan.evaluation, identity, where / EVALUATION_FILE)
                if result is not None:
                    announce(f"{prefix}: reused its evaluation")
                else:
                    announce(f"{prefix}: evaluating")
                    result = evaluate_model(trained.classifier, data, plan.evaluation, identity,
                                            where / EVALUATION_FILE, verbose=verbose)
                extra = _extra(trained, data, plan, identity, where, extra_metrics, announce, prefix)
                training = _training(trained, plan.timing_clock)
                if tracker is not None:
                    tracker.log_final(result.metrics() | extra, trained.epochs)
                    training["logs"] = tracker.where()
                rows.append(ComparisonRow(spec.label, seed, training, result, _curve(trained, plan.timing_clock),
                                          extra))
    return rows


def _training(trained: TrainedModel, clock: str) -> dict[str, Any]:
    summary = trained.summary()
    summary["training_seconds_by_clock"] = sum(record[CLOCKS[clock]] for record in trained.history)
    summary["clock"] = clock
    return summary


def _curve(trained: TrainedModel, clock: str) -> list[dict[str, float]]:
    spent, points = 0.0, []
    for record in trained.history:
        spent += record[CLOCKS[clock]]
        points.append({"epoch": record["epoch"], "seconds": spent,
                       "accuracy": record.get("monitor_robust_accuracy", math.nan)})
    return points


def _extra(trained: TrainedModel, data: Dataset, plan: ComparisonPlan, identity: dict[str, Any], where: Path,
           extra_metrics: ExtraMetrics | None, announce: Callable[[str], None], prefix: str) -> dict[str, float]:
    if extra_metrics is None:
        return {}
    key = {"model": plain(identity), "extras": plan.extras}
    path = where / EXTRA_FILE
    if path.exists():
        stored = read_checked_json(path)
        if stored["key"] == key:
            return stored["value"]
    announce(f"{prefix}: extra metrics ({plan.extras})")
    value = extra_metrics(trained.classifier, data, plan.threat)
    write_checked_json(path, {"key": key, "value": value})
    return value


def comparison_table(summaries: Sequence[DefenceSummary]) -> Table:
    """The comparison table: cost, accuracies (mean ± std over seeds), Pareto membership and flags."""
    rows = [row for summary in summaries for row in summary.rows]
    attack_labels = list(dict.fromkeys(a.label for row in rows for a in row.result.evaluation.robustness.attacks))
    extra_labels = list(dict.fromkeys(label for row in rows for label in row.extra))
    standard = next((s for s in summaries if s.defence == "standard"), None)
    base = standard.seconds.mean if standard else None
    header = ["defence", "seeds", "epochs", "train s", "× standard", "clean", *attack_labels, "worst case",
              *extra_labels, "Pareto front", "flags"]
    cells = []
    for summary in summaries:
        def accuracy(label: str, summary: DefenceSummary = summary) -> str:
            values = [next((a.accuracy for a in row.result.evaluation.robustness.attacks if a.label == label), None)
                      for row in summary.rows]
            return "" if None in values else Spread.of(values).text()

        epochs = sorted({row.training["epochs"] for row in summary.rows})
        flags = sorted({flag for row in summary.rows for flag in row.flags})
        cells.append([summary.defence, str(len(summary.rows)), "–".join(map(str, (epochs[0], epochs[-1])))
                      if len(epochs) > 1 else str(epochs[0]), summary.seconds.text(1.0, 0),
                      f"{summary.seconds.mean / base:.2f}" if base else "",
                      summary.spread(lambda row: row.result.clean_accuracy).text(),
                      *[accuracy(label) for label in attack_labels], summary.worst_case.text(),
                      *[summary.spread(lambda row, label=label: row.extra.get(label, math.nan)).text(1.0, 3)
                        for label in extra_labels],
                      "yes" if summary.on_front else "", "; ".join(flags) or "none"])
    return Table(header, cells)


def comparison_report(rows: Sequence[ComparisonRow], plan: ComparisonPlan, data: Dataset, command: str,
                      budget_note: str = "", references: Sequence[ReferenceRow] = ()) -> Report:
    """The comparison's report: table, reference models, geometry, notes on timing and attacks, compute plot."""
    summaries = summarise(rows)
    table = comparison_table(summaries)
    first = rows[0]
    run = first.training["run"]
    evaluation = first.result.evaluation
    clock_text = {"wall": "wall-clock seconds", "cpu": "CPU seconds of the training process (all its threads)"}
    protocol = (f"each defence trained whole epochs until its training time reached {plan.budget.seconds:.0f} "
                f"{clock_text[plan.timing_clock]}" + (f" ({budget_note})" if budget_note else "")
                if plan.budget else f"equal epochs ({plan.setup.epochs})")
    blocks: list[str | Table] = [
        f"{data.name}, {run['setup']['architecture']}, {plan.threat.label}; {protocol}. Seeds: "
        f"{', '.join(map(str, sorted({row.seed for row in rows})))} (the seeds column counts each row's). Clean "
        f"accuracy on all {first.result.test_images} test images, attacks "
        f"on the first {len(evaluation.robustness.clean)}; with several seeds, cells are mean ± standard deviation.",
        table,
        f"Training time is measured in {clock_text[plan.timing_clock]}, per epoch, excluding validation and the "
        f"per-epoch robustness measurement ({plan.monitor_attack} on {plan.monitor_samples} test images) that draws "
        "the curves. A defence is on the Pareto front when no other one is at least as robust (mean worst case) in at "
        "most the same mean training time.",
        f"Rows whose AutoAttack accuracy is more than {100 * ENSEMBLE_GAP:.0f} points below the PGD reference, or "
        "that fail a diagnostic of `art_sor.evaluation.diagnostics`, are flagged as possible gradient obfuscation.",
        *[f"Note: {note}." for note in attack_notes(evaluation)]]
    tables = {"results": table}
    if references:
        tables["references"] = reference_table(references)
        blocks[2:2] = ["Reference models, not trained here: evaluated with the same attacks on the same test images "
                       "(they are in no mean, Pareto front or plot above).", tables["references"]]
    geometry_rows = [row for row in rows if row.result.evaluation.geometry]
    if geometry_rows:
        geometry = Table(["defence", "seed", "‖∇ₓℓ‖₂", "‖∇ₓℓ‖_*", "λ_max(∇²ₓℓ)", "γ(ε)", "diagnostics passed"],
                         [[row.defence, str(row.seed), f"{g.gradient_norm:.3f}", f"{g.gradient_dual_norm:.2f}",
                           f"{g.hessian_eigenvalue:.3f}", f"{g.linearity_gap:.3f}",
                           f"{sum(c.passed is True for c in row.result.evaluation.checks)}/"
                           f"{len(row.result.evaluation.checks)}"]
                          for row in geometry_rows for g in [row.result.evaluation.geometry]])
        tables["geometry"] = geometry
        blocks += [f"Loss geometry on the first {geometry_rows[0].result.evaluation.geometry.samples} test images "
                   "(means): input-gradient norms, top eigenvalue of the input Hessian (power iteration on exact "
                   "Hessian-vector products) and the local-linearity gap γ(ε) (PGD, 10 steps).", geometry]
    logs = logs_line({f"{row.defence} (seed {row.seed})": row.training.get("logs", {}) for row in rows})
    blocks += [logs] if logs else []
    blocks.append(f"Regenerate with: `{command}`")
    data_json = {"dataset": data.name, "threat": plan.threat.to_dict(), "evaluation": plan.evaluation.key(),
                 "budget": plan.budget.to_dict() if plan.budget else None, "clock": plan.timing_clock,
                 "seeds": list(plan.seeds), "command": command, "notes": attack_notes(evaluation),
                 "pareto_front": [s.defence for s in summaries if s.on_front],
                 "rows": [row.to_dict() for row in rows], "references": [row.to_dict() for row in references]}
    return Report(title=f"Defences compared: {data.name}, {plan.threat.label}", blocks=blocks, data=data_json,
                  tables=tables,
                  plots={"robust_vs_compute.png": lambda path: plot_robustness_vs_compute(summaries, plan, path)})


def plot_robustness_vs_compute(summaries: Sequence[DefenceSummary], plan: ComparisonPlan, path: Path) -> None:
    """Robust accuracy after every epoch against cumulative training time, one colour per defence.

    Thin lines are the per-epoch monitor (one per seed); each defence's final worst case is a large marker with the
    seeds' spread as error bars; the dashed line joins the Pareto front.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    with style() as plt:
        fig, ax = plt.subplots(figsize=(8.5, 5.0))
        for index, summary in enumerate(summaries):
            colour = COLOURS[index % len(COLOURS)]
            marker = "os^Dv<>ph*"[index // len(COLOURS) % 10]
            for row in summary.rows:
                ax.plot([p["seconds"] for p in row.curve], [100 * p["accuracy"] for p in row.curve], color=colour,
                        alpha=0.8, linewidth=1.2)
            seconds, worst = summary.seconds, summary.worst_case
            ax.errorbar(seconds.mean, 100 * worst.mean, xerr=seconds.std or None, yerr=100 * worst.std or None,
                        fmt=marker, color=colour, markersize=7, markeredgecolor="black",
                        label=summary.defence + (" (front)" if summary.on_front else ""))
        front = sorted((s for s in summaries if s.on_front), key=lambda s: s.seconds.mean)
        ax.plot([s.seconds.mean for s in front], [100 * s.worst_case.mean for s in front], linestyle="--",
                color="black", linewidth=1, label="Pareto front")
        ax.set_xscale("log")
        # Plain numbers at 1, 2 and 5 per decade (20, 50, 100, 200) rather than powers of ten, unlabelled minors.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"cumulative training time ({'CPU ' if plan.timing_clock == 'cpu' else ''}seconds, log scale)")
        ax.set_ylabel("robust accuracy (%)")
        ax.set_title(f"Robustness against training compute: {plan.threat.label}\nlines: {plan.monitor_attack} on "
                     f"{plan.monitor_samples} test images after each epoch; markers: final worst case")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        save_figure(fig, path)
