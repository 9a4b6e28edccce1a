"""``art-sor compare``: train several defences under one budget and evaluate them with the same ART attacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from art_sor.classifiers.opening import ModelMismatchError, open_model
from art_sor.classifiers.published import RobustBenchModel
from art_sor.cli.errors import user_errors
from art_sor.cli.jobs import command_line, load_judge, prepare_job
from art_sor.cli.options import CompareOptions
from art_sor.cli.params import (
    IntegerList,
    ModelSource,
    Number,
    NumberList,
    SpecType,
    attack_option,
    dataset_options,
    defence_option,
    device_option,
    model_dir_option,
    output_options,
    recipe_option,
    threat_options,
    tracking_options,
    training_options,
)
from art_sor.evaluation.attacks import quick_attack
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.registry import ATTACKS, DEFENCES
from art_sor.runs.alignment import ComparisonAlignment
from art_sor.runs.budget_fractions import check_budget_fractions
from art_sor.runs.comparison_job import comparison_job
from art_sor.runs.epoch_hooks import CLOCKS, Budget
from art_sor.runs.plans import COMPARE_ATTACKS, DEFAULT_DEFENCES, ComparisonPlan
from art_sor.runs.validation import JobError, validate_job
from art_sor.specs import Spec
from art_sor.storage import CorruptFileError


class BudgetOf(click.ParamType):
    """``SPEC:EPOCHS``: the time a defence needs for that many epochs, e.g. ``pgd-at:5`` or ``sor:lam=2:3``."""

    name = "spec:epochs"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Spec, int]:
        """Parse ``value``."""
        if isinstance(value, tuple):
            return value
        spec, _, epochs = str(value).rpartition(":")
        if not spec or not epochs.isdigit() or int(epochs) < 1:
            self.fail(f"{value!r} is not SPEC:EPOCHS, e.g. madry-pgd:5", param, ctx)
        return SpecType(DEFENCES).convert(spec, param, ctx), int(epochs)


@click.command()
@recipe_option
@dataset_options
@defence_option(DEFAULT_DEFENCES)
@threat_options
@training_options
@attack_option(COMPARE_ATTACKS, "Attack spec, repeatable; add autoattack-standard for the canonical AutoAttack.")
@click.option("--eval-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images attacked (the first n); clean accuracy uses the whole test set.")
@click.option("--budget", type=Number(), default=None,
              help="Train each defence whole epochs until its training time reaches this many seconds (--epochs "
                   "caps them); default: equal epochs.")
@click.option("--budget-of", type=BudgetOf(), default=None,
              help="Set --budget to the time SPEC needs for EPOCHS epochs, e.g. pgd-at:5.")
@click.option("--budget-fractions", type=NumberList(), default=None,
              help="Keep each run's model at the first epoch whose training time crosses each of these fractions of "
                   "the budget and evaluate it too (a row per defence and fraction), e.g. 0.125,0.25,0.5,1: sorted, "
                   "distinct, in (0, 1], the last 1.")
@click.option("--clock", type=click.Choice(list(CLOCKS)), default="wall", show_default=True,
              help="How training time is measured: wall seconds, or CPU seconds of the process (steadier on a "
                   "shared CPU).")
@click.option("--seeds", type=IntegerList("seeds", seeds=True), default="0", show_default=True,
              help="Train every defence once per seed, e.g. 0,1,2; tables give mean ± std.")
@click.option("--monitor-attack", type=SpecType(ATTACKS), default=None,
              help="Cheap attack after every epoch, for the robustness-vs-compute curves [default: pgd:steps=10 in "
                   "L∞ and L2, apgd-ce:steps=10 (Croce–Hein's L1-APGD) in L1].")
@click.option("--monitor-samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Test images it runs on.")
@click.option("--diagnostics/--no-diagnostics", default=True, show_default=True,
              help="Security curve, obfuscation checks and geometry for every defence.")
@click.option("--alignment/--no-alignment", default=True, show_default=True,
              help="Add the explanation-alignment scores of art_sor.explain to the table.")
@click.option("--judge", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Checkpoint of an independently trained robust model that judges the counterfactuals.")
@click.option("--reference", "references", multiple=True, type=ModelSource(),
              help="A model evaluated beside the defences with the same attacks but not trained here, repeatable: "
                   "robustbench:NAME[:Linf|L2], an art-sor checkpoint or a MadryLab robustness checkpoint.")
@model_dir_option
@output_options("art-sor-runs/compare-<dataset>-<norm>")
@tracking_options
@device_option
@click.pass_context
@user_errors
def compare(ctx: click.Context, **values: Any) -> None:
    """Compare defences at equal epochs or equal compute, with the same ART attacks and a per-sample worst case.

    Writes results.md (table), results.csv, results.json, geometry.csv and robust_vs_compute.png; with --reference,
    published models evaluated under the same plan in references.csv. Every model, training state and evaluation
    carries the full key of its settings, so a rerun resumes what was interrupted and reuses only what matches.
    """
    if values["budget_fractions"] is not None:  # before the data loads
        check_budget_fractions(values["budget_fractions"])  # SettingError: its option
    job = prepare_job(ctx, values, CompareOptions, default_out="compare-{dataset}-{norm}",
                      attacks=lambda options: [*options.attacks, options.monitor_attack
                                               or quick_attack(options.norm, 10)])
    options = job.options
    if options.budget is not None and options.budget_of is not None:
        raise click.BadParameter("give --budget or --budget-of, not both", param_hint="--budget-of")
    budgeted = options.budget is not None or options.budget_of is not None
    if options.budget_of is not None:  # the reference defence trains first: built before any work like the others
        try:
            validate_job(job.data, job.threat, job.setup, [options.budget_of[0]], [])
        except JobError as error:
            raise click.BadParameter(str(error), param_hint="--budget-of") from error
    if budgeted and job.setup.schedule.needs_length:
        raise click.BadParameter(f"the {job.setup.schedule.name} schedule depends on the number of epochs, which a "
                                 "budget leaves open; use constant or multistep", param_hint="--schedule")
    zoo = [source for source in options.references if isinstance(source, RobustBenchModel)]
    if options.model_dir is not None and not zoo:
        raise click.BadParameter("it is where RobustBench keeps its models, and no --reference is robustbench:NAME",
                                 param_hint="--model-dir")
    references = []
    for source in options.references:  # opened before any training, so that a bad one stops the job at once
        try:
            references.append(open_model(source, job.data, device=options.device, download=options.download,
                                         model_dir=options.model_dir if source in zoo else None))
        except ModelMismatchError as error:
            raise click.BadParameter(f"{source}: {error}", param_hint="--reference") from error
        except CorruptFileError as error:  # --architecture here is the defences', so no bare state_dict
            raise click.BadParameter(f"{error} (--reference takes art-sor and MadryLab checkpoints and "
                                     "robustbench:NAME, not bare state_dicts)", param_hint="--reference") from error
    judge = load_judge(options.judge, job.data, options.device)[0] if options.judge is not None else None
    extra = (ComparisonAlignment(job.data.input_shape, judge, str(options.judge.resolve()) if judge else "")
             if options.alignment else None)
    budget = Budget(options.budget, options.clock) if options.budget is not None else None
    evaluation = EvaluationPlan(job.threat, attacks=tuple(spec.label for spec in options.attacks),
                                samples=options.eval_samples, curve=options.diagnostics,
                                geometry=options.diagnostics)
    plan = ComparisonPlan(setup=job.setup, evaluation=evaluation, budget=budget, seeds=options.seeds,
                          monitor_attack=options.monitor_attack.label if options.monitor_attack else "",
                          monitor_samples=options.monitor_samples,
                          extras=extra.key() if extra else "", clock=options.clock,
                          budget_fractions=options.budget_fractions or ())
    written = comparison_job(job.defences, job.data, plan, job.out, command_line(), job.context, references,
                             [str(source) for source in options.references], budget_from=options.budget_of,
                             extra_metrics=extra)
    if written is None:  # a data-parallel rank other than 0: rank 0 reports
        return
    report, paths = written
    click.echo(report.markdown())
    click.echo(f"Written: {', '.join(str(p) for p in paths.values())}")
