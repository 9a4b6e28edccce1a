"""``art-sor evaluate``: an honest robustness report for a saved model."""

from __future__ import annotations

from pathlib import Path

import click

from art_sor.cli.options import (
    PRESETS,
    Budget,
    architecture_option,
    dataset_options,
    device_option,
    load_data,
    load_model,
    percent,
)
from art_sor.core.norms import norm_label
from art_sor.evaluation.report import write_report
from art_sor.evaluation.suite import evaluate_classifier


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@architecture_option
@dataset_options
@click.option("--eps", type=Budget(), default=None,
              help="Threat radius, e.g. 0.1 or 8/255 [default: the checkpoint's, else the dataset preset].")
@click.option("--norm", type=click.Choice(["inf", "l2"]), default=None, help="[default: the checkpoint's, else inf]")
@click.option("--attack", "attacks", multiple=True,
              help="Attack spec, repeatable, e.g. 'pgd:steps=50,restarts=3' [default: the full set for the norm].")
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images evaluated (the first n).")
@click.option("--curve/--no-curve", default=True, show_default=True, help="Security curve up to the unbounded ε.")
@click.option("--geometry/--no-geometry", default=True, show_default=True,
              help="Gradient norm, top Hessian eigenvalue and linearity gap.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.02, show_default=True,
              help="Accuracy difference the obfuscation diagnostics tolerate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: art-sor-runs/evaluate-<checkpoint name>].")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(checkpoint: Path, architecture: str | None, dataset: str, data_root: Path | None, download: bool,
             eps: float | None, norm: str | None, attacks: tuple[str, ...], samples: int, curve: bool,
             geometry: bool, tolerance: float, batch_size: int, out: Path | None, device: str, quiet: bool) -> None:
    """Evaluate CHECKPOINT under ART's attacks, with a security curve and gradient-obfuscation diagnostics.

    CHECKPOINT is an art-sor model checkpoint, or a bare PyTorch state_dict together with --architecture (inputs
    in [0, 1], no preprocessing). Writes report.json, report.md and PNG plots.
    """
    data = load_data(dataset, data_root, download)
    classifier, metadata = load_model(checkpoint, architecture, data, device)
    eps = eps if eps is not None else metadata.get("eps", PRESETS.get(dataset, {}).get("eps", 8 / 255))
    norm = norm or metadata.get("norm", "inf")
    x, y = data.x_test[:samples], data.y_test[:samples]
    report = evaluate_classifier(classifier, x, y, eps, norm, attacks=list(attacks) or None, curve=curve,
                                 geometry=geometry, tolerance=tolerance, batch_size=batch_size, verbose=not quiet)
    report.metadata.update({"checkpoint": str(checkpoint), "dataset": dataset, "model": metadata})
    out = out or Path("art-sor-runs") / f"evaluate-{checkpoint.stem}"
    paths = write_report(report, out, title=f"{checkpoint.name} on {dataset}")

    r = report.robustness
    click.echo(f"\n{checkpoint.name} on {dataset}: {len(x)} samples, {norm_label(r.norm)} ε={r.eps:.4g}")
    click.echo(f"  {'clean':<28} {percent(r.clean_accuracy):>7}")
    for attack in r.attacks:
        suffix = f"  (first {attack.samples})" if attack.samples < len(x) else ""
        click.echo(f"  {attack.label:<28} {percent(attack.accuracy):>7}{suffix}")
    click.echo(f"  {'worst case over attacks':<28} {percent(r.worst_case_accuracy()):>7}")
    for check in report.checks:
        verdict = {True: "pass", False: "FAIL", None: "n/a "}[check.passed]
        click.echo(f"  [{verdict}] {check.name}: {check.detail}")
    if report.obfuscation_suspected:
        click.echo("  Possible gradient obfuscation: treat these robust accuracies as upper bounds.")
    click.echo(f"Report: {paths['markdown']}")

