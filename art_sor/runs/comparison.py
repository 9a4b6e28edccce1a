"""Defences compared on one dataset, model and set of attacks, at equal epochs or at equal compute, resumably.

Each defence (and seed) gets a folder holding its training state, finished model and cached evaluation, each
carrying the full key of what produced it; rerunning a comparison reuses whatever is finished with the same
settings and only does the rest. With a budget, every defence trains whole epochs until its cumulative training
time reaches it, and a cheap attack after every epoch traces robustness against compute; with budget fractions,
the model of the first epoch that crosses each fraction is kept and evaluated too, in ``budget-<fraction>``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from art_sor.classifiers.opening import OpenedModel
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.registry import DEFENCES
from art_sor.runs.budget_fractions import fraction_folder, kept_models
from art_sor.runs.epoch_hooks import CLOCKS, Budget, RobustnessMonitor
from art_sor.runs.evaluating import EVALUATION_FILE, TestSetEvaluation, cached_evaluation, evaluate_model
from art_sor.runs.folders import exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan, ExtraMetrics
from art_sor.runs.run_key import plain
from art_sor.runs.summaries import ComparisonResult, ComparisonRow, ReferenceRow, TrainingSummary
from art_sor.runs.trained_model import MODEL_FILE, TrainedModel
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import read_checked_json, write_checked_json
from art_sor.trainers.distributed import DataParallel

EXTRA_FILE = "extra_metrics.json"


def evaluate_references(references: Sequence[OpenedModel], sources: Sequence[str], data: Dataset,
                        plan: ComparisonPlan, out: str | Path, context: JobContext) -> list[ReferenceRow]:
    """Evaluate fixed reference models with the comparison's plan, each cached in ``out/references/<model>``.

    :param sources: How each model was given, for the report.
    """
    rows = []
    with exclusive(out) as folder:
        for position, (model, source) in enumerate(zip(references, sources, strict=True), 1):
            prefix = f"[reference {position}/{len(references)}] {model.name}: "
            context.announce(prefix + "evaluating")
            result = evaluate_model(model.classifier, data, plan.evaluation, model.identity,
                                    folder / "references" / model.folder / EVALUATION_FILE, verbose=context.verbose,
                                    announce=lambda message, prefix=prefix: context.announce(prefix + message))
            rows.append(ReferenceRow(model.name, source, model.identity, result))
    return rows


def budget_of(spec: Spec, epochs: int, data: Dataset, threat: ThreatModel, setup: TrainingSetup, clock: str,
              out: Path, context: JobContext) -> Budget:
    """The budget that ``spec`` needs for ``epochs`` epochs with ``setup``, by ``clock``.

    The reference run is saved in ``out/budget-reference`` and reused like any other run.
    """
    trained = train_defence(spec, data, threat, replace(setup, epochs=epochs), out / "budget-reference" / spec.folder,
                            verbose=context.verbose, overwrite=context.overwrite)
    return Budget(sum(record[CLOCKS[clock]] for record in trained.history), clock)


def run_comparison(specs: Sequence[Spec | str], data: Dataset, plan: ComparisonPlan, out: str | Path,
                   context: JobContext, extra_metrics: ExtraMetrics | None = None) -> ComparisonResult:
    """Train (or resume) and evaluate every defence with every seed; one row per defence and seed, in order.

    :param context: Its tracking logs every row as its own run, named ``<defence folder>/seed-<seed>``, with its
                    settings, epochs (robustness monitor included) and final evaluation (extra metrics included).
    """
    if plan.budget_fractions and plan.budget is None:
        raise SettingError("budget_fractions are fractions of a budget, and the plan has none", "budget_fractions")
    specs = [DEFENCES.check(spec) for spec in specs]
    rows = ComparisonResult()
    leader = DataParallel.current().leader
    announce, tracking = context.announce, context.tracking
    monitor_x, monitor_y = data.x_test[:plan.monitor_samples], data.y_test[:plan.monitor_samples]
    monitor = RobustnessMonitor(monitor_x, monitor_y, plan.threat, plan.monitor_attack)
    with exclusive(out) as folder:
        runs = [(spec, seed) for spec in specs for seed in plan.seeds]
        for position, (spec, seed) in enumerate(runs, 1):
            where = folder / spec.folder / f"seed-{seed}"
            prefix = f"[{position}/{len(runs)}] {spec.label} (seed {seed})"
            finished = (where / MODEL_FILE).exists() and not context.overwrite
            announce(f"{prefix}: {'checking the saved model' if finished else 'training'}")
            tracker = tracking.open(f"{spec.folder}/seed-{seed}", where) if tracking and leader else None
            with tracker or contextlib.nullcontext():
                trained = train_defence(spec, data, plan.threat, replace(plan.setup, seed=seed), where,
                                        verbose=context.verbose, overwrite=context.overwrite, budget=plan.budget,
                                        monitor=monitor,
                                        tracker=tracker, budget_fractions=plan.budget_fractions)
                if trained.reused:
                    announce(f"{prefix}: reused the finished model in {where}")
                if not leader:
                    continue  # rank 0 evaluates and reports
                # The final model, or (with budget fractions) the model kept at each fraction the run crossed.
                models: list[tuple[float | None, TrainedModel, Path]] = [(None, trained, where)]
                if plan.budget_fractions and plan.budget is not None:
                    models = [(kept.fraction, kept.model, fraction_folder(where, kept.fraction))
                              for kept in kept_models(trained, plan.budget, plan.budget_fractions, where,
                                                      plan.setup.device)]
                measured = [(fraction, model, *_measure(model, fraction, place, data, plan, extra_metrics, context,
                                                        prefix))
                            for fraction, model, place in models]
                logs = None
                if tracker is not None and measured:  # the run's final evaluation: its last model's
                    _, last, result, extra = measured[-1]
                    tracker.log_final(result.metrics() | extra, last.epochs)
                    logs = tracker.where()
                for fraction, model, result, extra in measured:
                    training = _training(model, plan.timing_clock)
                    if logs is not None:
                        training = replace(training, logs=logs)
                    rows.append(ComparisonRow(spec.label, seed, training, result, _curve(model, plan.timing_clock),
                                              extra, fraction))
    return rows


def _measure(model: TrainedModel, fraction: float | None, place: Path, data: Dataset, plan: ComparisonPlan,
             extra_metrics: ExtraMetrics | None, context: JobContext,
             prefix: str) -> tuple[TestSetEvaluation, dict[str, float]]:
    """The evaluation and extra metrics of ``model``, kept at ``fraction`` of the budget if not ``None``, cached."""
    label = prefix if fraction is None else f"{prefix} at {fraction:g} of the budget (epoch {model.epochs})"
    identity = model.key.to_dict() | {"epochs": model.epochs}
    if fraction is not None:
        identity["budget_fraction"] = fraction
    result = cached_evaluation(plan.evaluation, identity, place / EVALUATION_FILE)
    if result is not None:
        context.announce(f"{label}: reused its evaluation")
    else:
        context.announce(f"{label}: evaluating")
        result = evaluate_model(model.classifier, data, plan.evaluation, identity, place / EVALUATION_FILE,
                                verbose=context.verbose)
    return result, _extra(model, data, plan, identity, place, extra_metrics, context, label)


def _training(trained: TrainedModel, clock: str) -> TrainingSummary:
    return replace(TrainingSummary.of(trained), clock=clock,
                   training_seconds_by_clock=sum(record[CLOCKS[clock]] for record in trained.history))


def _curve(trained: TrainedModel, clock: str) -> list[dict[str, float]]:
    spent, points = 0.0, []
    for record in trained.history:
        spent += record[CLOCKS[clock]]
        points.append({"epoch": record["epoch"], "seconds": spent,
                       "accuracy": record.get("monitor_robust_accuracy", math.nan)})
    return points


def _extra(trained: TrainedModel, data: Dataset, plan: ComparisonPlan, identity: dict[str, Any], where: Path,
           extra_metrics: ExtraMetrics | None, context: JobContext, prefix: str) -> dict[str, float]:
    if extra_metrics is None:
        return {}
    key = {"model": plain(identity), "extras": plan.extras}
    path = where / EXTRA_FILE
    if path.exists():
        stored = read_checked_json(path)
        if stored["key"] == key:
            return stored["value"]
    context.announce(f"{prefix}: extra metrics ({plan.extras})")
    value = extra_metrics(trained.classifier, data, plan.threat)
    write_checked_json(path, {"key": key, "value": value})
    return value


