"""The ``compare`` job: every defence and seed trained and evaluated under one plan, reference models, the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from art_sor.classifiers.opening import OpenedModel
from art_sor.core.errors import SettingError
from art_sor.data import Dataset
from art_sor.registry import DEFENCES
from art_sor.runs.comparison import budget_of, evaluate_references, run_comparison
from art_sor.runs.comparison_report import comparison_report
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.folders import claim_for_defences
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan, ExtraMetrics
from art_sor.runs.reports import Written, write_report
from art_sor.specs import Spec


def comparison_job(specs: Sequence[Spec], data: Dataset, plan: ComparisonPlan, out: Path, command: str,
                   context: JobContext, references: Sequence[OpenedModel] = (), reference_sources: Sequence[str] = (),
                   budget_from: tuple[Spec, int] | None = None,
                   extra_metrics: ExtraMetrics | None = None) -> Written | None:
    """``art-sor compare``: train and evaluate every defence and seed under ``plan``, then the reference models.

    The output folder is claimed for the comparison of ``specs`` before any work
    (:func:`~art_sor.runs.folders.claim_for_defences`).

    :param budget_from: ``(defence, epochs)`` whose training time becomes the plan's budget (``--budget-of``),
                        measured first under the plan's clock.
    :raises SettingError: Naming ``budget_fractions``, given without a budget, before any work.
    :return: The report and its files, or ``None`` on a data-parallel rank other than 0 (rank 0 reports).
    """
    if plan.budget_fractions and plan.budget is None and budget_from is None:
        raise SettingError("budget_fractions are fractions of a budget: give the plan one, or budget_from",
                           "budget_fractions")
    specs = [DEFENCES.check(spec) for spec in specs]
    claim_for_defences(out, "compare", specs, context.overwrite, ("budget-reference", "references"))
    note = ""
    if budget_from is not None:
        spec, epochs = budget_from
        context.announce(f"measuring the budget: {spec.label} for {epochs} epochs")
        budget: Budget = budget_of(spec, epochs, data, plan.threat, replace(plan.setup, seed=plan.seeds[0]),
                                   plan.timing_clock, out, context)
        plan = replace(plan, budget=budget)
        note = f"the time {spec.label} took for {epochs} epochs"
    rows = run_comparison(specs, data, plan, out, context, extra_metrics)
    if not rows:
        return None
    reference_rows = evaluate_references(references, list(reference_sources), data, plan, out, context)
    report = comparison_report(rows, plan, data, command, note, reference_rows)
    return report, write_report(report, out, stem="results")
