"""``art-sor evaluate``: an honest robustness report for a saved model."""

from __future__ import annotations

from typing import Any

import click

from art_sor.cli.errors import user_errors
from art_sor.cli.jobs import command_line, job_context, model_dataset, open_checkpoint, open_dataset
from art_sor.cli.options import EvaluateOptions
from art_sor.cli.params import (
    NORMS,
    Number,
    attack_option,
    device_option,
    model_source_options,
    output_options,
    standardisation_of,
)
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.evaluation_job import ADVERSARIAL_FILE, evaluation_job, evaluation_threat
from art_sor.runs.validation import validate_attacks


@click.command()
@model_source_options
@click.option("--eps", type=Number(), default=None,
              help="Threat radius, e.g. 0.1 or 8/255 [default: the checkpoint's (RobustBench's for its models), else "
                   "the dataset's recipe].")
@click.option("--norm", type=NORMS, default=None, help="[default: the checkpoint's, else inf]")
@attack_option(None, "Attack spec, repeatable, e.g. 'pgd:steps=50,restarts=3' [default: the full set for the "
                     "norm, with autoattack-standard when pyautoattack is installed].")
@click.option("--eval-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images attacked (the first n); clean accuracy uses the whole test set.")
@click.option("--curve/--no-curve", default=True, show_default=True, help="Security curve up to the unbounded ε.")
@click.option("--geometry/--no-geometry", default=True, show_default=True,
              help="Gradient norm, top Hessian eigenvalue and linearity gap.")
@click.option("--tolerance", type=click.FloatRange(min=0, max=1), default=0.02, show_default=True,
              help="Accuracy difference the obfuscation diagnostics tolerate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--save-adversarial", is_flag=True,
              help=f"Write each attacked image's worst-case adversarial example, with the attack that found it and "
                   f"the predictions, to OUT/{ADVERSARIAL_FILE} (reruns the attacks of a cached evaluation).")
@output_options("art-sor-runs/evaluate-<checkpoint's folder>-<name>-<hash of its path>, or "
                "evaluate-robustbench-<dataset>-<threat model>-<name>")
@device_option
@user_errors
def evaluate(**values: Any) -> None:
    """Evaluate CHECKPOINT under ART's attacks, with a security curve and gradient-obfuscation diagnostics.

    CHECKPOINT is an art-sor model checkpoint, a MadryLab robustness checkpoint (such as the SOR paper's models), a
    bare PyTorch state_dict together with --architecture (and --mean / --std if it was trained on standardised
    inputs), or robustbench:NAME[:Linf|L2], a model of RobustBench's zoo (the robustbench extra). Writes
    report.md, report.json and PNG plots; the evaluation is cached in OUT (written after every attack), so an
    interrupted run resumes and a rerun with the same model and settings reuses it.
    """
    options = EvaluateOptions.of(values)
    standardisation = standardisation_of(options.mean, options.std)
    dataset = model_dataset(options.checkpoint, options.dataset)
    data = open_dataset(dataset, options.data_root, options.download)
    model = open_checkpoint(options.checkpoint, data, options.architecture, options.device, standardisation,
                            options.model_dir, options.download)
    threat = evaluation_threat(model, options.eps, options.norm, data.name)
    plan = EvaluationPlan(threat, attacks=tuple(a.label for a in options.attacks) or None,
                          samples=options.eval_samples, curve=options.curve, geometry=options.geometry,
                          tolerance=options.tolerance, batch_size=options.batch_size)
    validate_attacks(model.classifier, threat, plan.attack_specs)
    report, paths = evaluation_job(model, data, plan, options.out,
                                   {"checkpoint": str(options.checkpoint), "command": command_line()},
                                   job_context(options.quiet, options.overwrite),
                                   save_adversarial=options.save_adversarial)
    click.echo(report.markdown())
    click.echo(f"Report: {paths['markdown']}")
