"""``art-sor train``: train defences and report clean and PGD accuracy."""

from __future__ import annotations

from typing import Any

import click

from art_sor.cli.errors import user_errors
from art_sor.cli.jobs import command_line, prepare_job
from art_sor.cli.options import TrainOptions
from art_sor.cli.params import (
    dataset_options,
    defence_option,
    device_option,
    output_options,
    recipe_option,
    threat_options,
    tracking_options,
    training_options,
)
from art_sor.evaluation.attacks import quick_attack
from art_sor.runs.training_job import training_job


@click.command()
@recipe_option
@dataset_options
@defence_option(("standard", "sor"))
@threat_options
@training_options
@click.option("--attack-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Iterations of the quick attack: PGD in L∞ and L2 (step ε/8, one seeded random start), "
                   "Croce–Hein's L1-APGD-CE in L1.")
@click.option("--eval-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images attacked (the first n); clean accuracy uses the whole test set.")
@output_options("art-sor-runs/train-<dataset>")
@tracking_options
@device_option
@click.pass_context
@user_errors
def train(ctx: click.Context, **values: Any) -> None:
    """Train defences (standard and SOR by default) and compare them under a quick attack (PGD; L1-APGD in L1).

    Each model is saved to OUT/<defence>/model.pt with its training state and the full key of its settings;
    OUT/report.md and report.json hold the accuracies, the history and the settings read back from each model;
    OUT/<defence>/history.csv the per-epoch records. --log-dir and --mlflow log the same to TensorBoard and MLflow.
    """
    job = prepare_job(ctx, values, TrainOptions, default_out="train-{dataset}",
                      attacks=lambda options: [quick_attack(options.norm, options.attack_steps)])
    written = training_job(job.defences, job.data, job.threat, job.setup, job.out,
                           attack=quick_attack(job.threat.norm, job.options.attack_steps),
                           eval_samples=job.options.eval_samples,
                           command=command_line(), recipe=job.recipe, recipe_sources=job.recipe_sources,
                           context=job.context)
    if written is None:  # a data-parallel rank other than 0: rank 0 reports
        return
    report, paths = written
    click.echo(report.markdown())
    click.echo(f"Report: {paths['markdown']}")

