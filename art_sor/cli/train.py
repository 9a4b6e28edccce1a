"""``art-sor train``: train defences on one dataset and report clean and PGD accuracy."""

from __future__ import annotations

from pathlib import Path

import click

from art_sor.cli.options import (
    PRESETS,
    Budget,
    dataset_options,
    device_option,
    load_data,
    percent,
    write_json,
)
from art_sor.core.norms import norm_label
from art_sor.defences import ThreatModel
from art_sor.experiment import MODEL_FILE, TrainingSetup, clean_and_pgd_accuracy, train_defence
from art_sor.specs import Spec


@click.command()
@dataset_options
@click.option("--method", "methods", multiple=True, default=("standard", "sor"), show_default=True,
              help="Defence to train, repeatable; options inline, e.g. 'sor:iterations=3,lam=2'.")
@click.option("--eps", type=Budget(), default=None, help="Threat radius [default: 0.2 on digits, 0.1 otherwise].")
@click.option("--norm", type=click.Choice(["inf", "l2"]), default="inf", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs [default: 40 on digits, 3 on fashion-mnist].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: 64 digits, 128 otherwise]")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--attack-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="PGD iterations (step ε/8, one random start).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images attacked (the first n); clean accuracy uses the whole test set.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: art-sor-runs/train-<dataset>]. A rerun resumes or reuses its models.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(dataset: str, data_root: Path | None, download: bool, methods: tuple[str, ...], eps: float | None,
          norm: str, epochs: int | None, batch_size: int | None, lr: float, seed: int, attack_steps: int,
          eval_samples: int, out: Path | None, device: str, quiet: bool) -> None:
    """Train defences (standard and SOR by default) and compare them under ART's PGD attack.

    Each model is saved to OUT/<method>/model.pt with its training state, and OUT/report.json holds the
    configuration, the accuracies and the per-epoch history.
    """
    preset = PRESETS[dataset]
    try:
        specs = [Spec.parse(method) for method in methods]
        threat = ThreatModel(eps if eps is not None else preset["eps"], norm)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    setup = TrainingSetup(epochs=epochs or preset["epochs"], batch_size=batch_size or preset["batch_size"], lr=lr,
                          seed=seed, device=device)
    out = out or Path("art-sor-runs") / f"train-{dataset}"
    data = load_data(dataset, data_root, download)
    attacked = min(eval_samples, len(data.x_test))

    results = []
    for spec in specs:
        click.echo(f"training {spec.label} on {dataset} for {setup.epochs} epochs (ε={threat.eps:g}, "
                   f"{norm_label(threat.norm)})", err=True)
        try:
            trained = train_defence(spec, data, threat, setup, out / spec.folder, verbose=not quiet)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--method") from error
        figures = clean_and_pgd_accuracy(trained.classifier, data, threat, eval_samples, attack_steps, not quiet)
        results.append({
            "method": spec.label,
            "clean_accuracy": figures["clean"],
            "pgd_accuracy": figures["pgd"],
            "seconds_per_epoch": trained.seconds_per_epoch,
            "model": str(out / spec.folder / MODEL_FILE),
            "history": trained.history,
        })

    report = {
        "dataset": dataset,
        "threat": {"eps": threat.eps, "norm": threat.norm},
        "setup": vars(setup),
        "attack": {"name": "art.attacks.evasion.ProjectedGradientDescent", "steps": attack_steps,
                   "step_size": threat.eps / 8, "random_starts": 1, "samples": attacked},
        "results": results,
    }
    write_json(out / "report.json", report)
    click.echo(f"\n{'method':<24} {'clean':>7} {f'PGD-{attack_steps}':>8} {'s/epoch':>8}")
    for row in results:
        click.echo(f"{row['method']:<24} {percent(row['clean_accuracy']):>7} {percent(row['pgd_accuracy']):>8} "
                   f"{row['seconds_per_epoch']:8.2f}")
    click.echo(f"\nclean: all {len(data.x_test)} test images; PGD: first {attacked}, ε={threat.eps:g} "
               f"{norm_label(threat.norm)}. Report: {out / 'report.json'}")
