"""``art-sor compare``: train several defences under one budget and evaluate them with the same ART attacks."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from art_sor.classifiers import load_classifier
from art_sor.cli.options import PRESETS, Budget, dataset_options, device_option, load_data
from art_sor.comparison import COMPARE_ATTACKS, DEFAULT_DEFENCES, ComparisonPlan, run_comparison, write_comparison
from art_sor.defences import ThreatModel
from art_sor.experiment import TrainingSetup
from art_sor.explain.scores import ComparisonAlignment
from art_sor.specs import Spec


@click.command()
@dataset_options
@click.option("--defence", "defences", multiple=True, default=DEFAULT_DEFENCES, show_default=True,
              help="Defence spec, repeatable, e.g. 'sor:iterations=3'.")
@click.option("--eps", type=Budget(), default=None, help="Threat radius [default: 0.2 on digits, 0.1 otherwise].")
@click.option("--norm", type=click.Choice(["inf", "l2"]), default="inf", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True, help="Epochs for every defence.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: 64 digits, 128 otherwise]")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--attack", "attacks", multiple=True, default=COMPARE_ATTACKS, show_default=True,
              help="Attack spec, repeatable (see art_sor.evaluation.attacks).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images attacked (the first n); clean accuracy uses the whole test set.")
@click.option("--diagnostics/--no-diagnostics", default=True, show_default=True,
              help="Security curve, obfuscation checks and geometry for every defence.")
@click.option("--alignment/--no-alignment", default=True, show_default=True,
              help="Add the explanation-alignment scores of art_sor.explain to the table.")
@click.option("--judge", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Checkpoint of an independently trained robust model that judges the counterfactuals.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: art-sor-runs/compare-<dataset>-<norm>]. Rerunning resumes it.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def compare(dataset: str, data_root: Path | None, download: bool, defences: tuple[str, ...], eps: float | None,
            norm: str, epochs: int, batch_size: int | None, lr: float, seed: int, attacks: tuple[str, ...],
            eval_samples: int, diagnostics: bool, alignment: bool, judge: Path | None, out: Path | None,
            device: str, quiet: bool) -> None:
    """Compare defences at equal epochs: clean, FGSM, PGD-20, PGD-50 with restarts and ART's AutoAttack.

    Writes results.md (table), results.csv, results.json and robust_vs_time.png. Each defence's training state
    is saved every epoch and its evaluation cached, so an interrupted comparison resumes where it stopped.
    """
    preset = PRESETS[dataset] if dataset in PRESETS else PRESETS["fashion-mnist"]
    try:
        specs = [Spec.parse(d) for d in defences]
        threat = ThreatModel(eps if eps is not None else preset["eps"], norm)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    data = load_data(dataset, data_root, download)
    if len(data.x_train) == 0:
        raise click.BadParameter(f"{dataset} has no training split", param_hint="--dataset")
    setup = TrainingSetup(epochs=epochs, batch_size=batch_size or preset["batch_size"], lr=lr, seed=seed,
                          device=device)
    extra = None
    if alignment:
        judge_classifier = load_classifier(judge, device=device)[0] if judge is not None else None
        extra = ComparisonAlignment(data.input_shape, judge_classifier, str(judge.resolve()) if judge else "")
    plan = ComparisonPlan(threat=threat, setup=setup, attacks=tuple(attacks), eval_samples=eval_samples,
                          diagnostics=diagnostics, extras=extra.key() if extra else "")
    out = out or Path("art-sor-runs") / f"compare-{dataset}-{norm}"
    try:
        rows = run_comparison(specs, data, plan, out, extra_metrics=extra, verbose=not quiet,
                              announce=lambda message: click.echo(message, err=True))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--defence") from error
    command = "art-sor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "art-sor compare"
    paths = write_comparison(rows, plan, data, out, command)
    click.echo(paths["markdown"].read_text())
    click.echo(f"Written: {', '.join(str(p) for p in paths.values())}")
