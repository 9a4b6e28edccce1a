"""``art-sor explain``: saliency, counterfactuals and alignment scores for chosen test images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from art_sor.cli.errors import user_errors
from art_sor.cli.jobs import command_line, job_context, load_judge, model_dataset, open_checkpoint, open_dataset
from art_sor.cli.options import ExplainOptions
from art_sor.cli.params import (
    NORMS,
    Number,
    device_option,
    model_source_options,
    output_options,
    standardisation_of,
)
from art_sor.core.errors import SettingError
from art_sor.explain.counterfactuals import DEFAULT_STEPS
from art_sor.explain.plan import ExplanationPlan
from art_sor.runs.explanation_job import explanation_job


@click.command()
@model_source_options
@click.option("--image", "images", multiple=True, type=click.IntRange(min=0),
              help="Test-image index, repeatable [default: the first 8].")
@click.option("--eps", type=Number(), default=None, help="Counterfactual budget [default: L2 0.25·√d, L∞ 0.3].")
@click.option("--norm", type=NORMS, default="l2", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULT_STEPS, show_default=True,
              help="Targeted PGD steps.")
@click.option("--judge", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Checkpoint of an independently trained robust model that judges the counterfactuals.")
@click.option("--score-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Test images for the gradient-alignment score (the first n).")
@click.option("--counterfactual-samples", type=click.IntRange(min=1), default=50, show_default=True,
              help="Test images whose counterfactuals toward every other class are scored.")
@click.option("--name", default=None, help="Model name for captions [default: the checkpoint's defence].")
@output_options("art-sor-runs/explain-<checkpoint's folder>-<name>-<hash of its path>, or "
                "explain-robustbench-<dataset>-<threat model>-<name>")
@device_option
@user_errors
def explain(**values: Any) -> None:
    """Explain test images with CHECKPOINT: SmoothGrad saliency and large-ε targeted counterfactuals.

    CHECKPOINT is any model that art-sor evaluate reads (art-sor or MadryLab checkpoint, bare state_dict with
    --architecture, robustbench:NAME).

    Writes explanations.png (each image, its saliency and what would make it each class), corrections.png (what
    would correct the mistakes among them) and scores.md / scores.json (alignment scores).
    """
    options = ExplainOptions.of(values)
    standardisation = standardisation_of(options.mean, options.std)
    dataset = model_dataset(options.checkpoint, options.dataset)
    data = open_dataset(dataset, options.data_root, options.download)
    plan = ExplanationPlan(options.images or None, options.eps, options.norm, options.steps, options.score_samples,
                           options.counterfactual_samples, options.name)
    try:
        plan.shown(len(data.x_test))
    except SettingError as error:  # said with the dataset's name, before the model opens
        raise click.BadParameter(f"{data.name} has {len(data.x_test)} test images (indices 0 to "
                                 f"{len(data.x_test) - 1})", param_hint="--image") from error
    model = open_checkpoint(options.checkpoint, data, options.architecture, options.device, standardisation,
                            options.model_dir, options.download)
    judge = options.judge
    judge_classifier, judge_state = load_judge(judge, data, options.device) if judge is not None else (None, None)
    provenance = {"checkpoint": str(options.checkpoint), "judge": str(judge) if judge else None,
                  "command": command_line()}
    report, paths = explanation_job(model, data, plan, options.out, provenance,
                                    job_context(options.quiet, options.overwrite),
                                    judge_classifier, judge_state["checksum"] if judge_state else None)
    click.echo(report.markdown())
    click.echo(f"Report: {paths['markdown']}")
