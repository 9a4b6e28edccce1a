"""The ``train`` job: train several defences (or reuse them), check each under a quick attack, and report them."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.registry import DEFENCES
from art_sor.runs.evaluating import evaluate_model
from art_sor.runs.folders import claim_for_defences, exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.recipes import Recipe
from art_sor.runs.reports import Written, write_report
from art_sor.runs.summaries import TrainingJobRow, TrainingSummary
from art_sor.runs.training import train_defence
from art_sor.runs.training_report import train_report
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.trainers.distributed import DataParallel

QUICK_FILE = "quick_evaluation.json"


def training_job(specs: Sequence[Spec | str], data: Dataset, threat: ThreatModel, setup: TrainingSetup, out: Path,
                 attack: str, eval_samples: int, command: str, recipe: Recipe, recipe_sources: dict[str, str],
                 context: JobContext) -> Written | None:
    """``art-sor train``: train each defence into ``out/<spec folder>``, attack it with ``attack``, and report.

    The output folder is claimed for the job before any work (:func:`~art_sor.runs.folders.claim_for_defences`)
    and held by this process throughout (see :mod:`art_sor.runs.folders`). Under ``torch.distributed`` every
    process trains and rank 0 alone evaluates and reports.

    :param eval_samples: The first test images that ``attack`` runs on.
    :param context: Its tracking logs each defence's settings, epochs and evaluation as its own run named by its
                    folder.
    :return: The report and its files, or ``None`` on a data-parallel rank other than 0 (rank 0 reports).
    """
    specs = [DEFENCES.check(spec) for spec in specs]
    claim_for_defences(out, "train", specs, context.overwrite)
    plan = EvaluationPlan(threat, attacks=(attack,), samples=eval_samples, curve=False, geometry=False)
    rows: list[TrainingJobRow] = []
    leader = DataParallel.current().leader
    with exclusive(out) as folder:
        for spec in specs:
            context.announce(f"training {spec.label} on {data.name} for {setup.epochs} epochs ({threat.label})")
            tracking = context.tracking if leader else None
            tracker = tracking.open(spec.folder, folder / spec.folder) if tracking else None
            with tracker or contextlib.nullcontext():
                trained = train_defence(spec, data, threat, setup, folder / spec.folder,
                                        verbose=context.verbose, overwrite=context.overwrite, tracker=tracker)
                if trained.world_size > 1 and not leader:
                    continue  # rank 0 evaluates and reports
                identity = trained.key.to_dict() | {"epochs": trained.epochs}
                result = evaluate_model(trained.classifier, data, plan, identity, folder / spec.folder / QUICK_FILE,
                                        verbose=context.verbose)
                training = TrainingSummary.of(trained)
                if tracker is not None:
                    tracker.log_final(result.metrics(), trained.epochs)
                    training = replace(training, logs=tracker.where())
                rows.append(TrainingJobRow(training, result))
    if not rows:
        return None
    report = train_report(rows, command, recipe.name, recipe_sources, recipe.paper)
    return report, write_report(report, out)
