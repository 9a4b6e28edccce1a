"""``art-sor export``: an art-sor checkpoint for plain PyTorch, MadryLab's robustness library or RobustBench."""

from __future__ import annotations

import json
from pathlib import Path

import click

from art_sor.classifiers.export import (
    ExportedModel,
    accuracies_of,
    export_madry,
    export_pytorch,
    export_robustbench,
    pytorch_recipe,
    robustbench_entry,
)
from art_sor.cli.errors import user_errors
from art_sor.core.errors import SettingError

FORMATS = ("pytorch", "madry", "robustbench")


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("pytorch", "madry"),
              show_default=True,
              help="pytorch: a torch.export program (.pt2) that loads with torch alone; madry: MadryLab robustness's "
                   "checkpoint layout; robustbench: the weights file and model card of a RobustBench zoo entry "
                   "(CIFAR-shaped L∞ or L2 models). Repeatable.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: export/ beside the checkpoint].")
@click.option("--name", default=None, help="The RobustBench entry's name [default: the checkpoint's folder name].")
@click.option("--evaluation", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="report.json of art-sor evaluate on this CHECKPOINT (with autoattack-standard): fills the "
                   "RobustBench model card's clean and AutoAttack accuracies.")
@click.option("--robustbench-dataset", type=click.Choice(["cifar10", "cifar100"]), default="cifar10",
              show_default=True, help="The RobustBench benchmark the entry is for.")
@user_errors
def export(checkpoint: Path, formats: tuple[str, ...], out: Path | None, name: str | None,
           evaluation: Path | None, robustbench_dataset: str) -> None:
    """Export an art-sor CHECKPOINT for use without art-sor, with how to load each file.

    Every export takes images in [0, 1]: the model's standardisation goes inside the exported module (or into the
    format's own normaliser), so ε keeps its meaning in pixel space. art-sor evaluate opens each export again.
    """
    exported = ExportedModel.read(checkpoint)
    clean = autoattack = None
    if evaluation is not None:
        if "robustbench" not in formats:
            raise click.BadParameter("it fills the RobustBench model card; add --format robustbench",
                                     param_hint="--evaluation")
        try:
            clean, autoattack = accuracies_of(json.loads(evaluation.read_text()), exported)
        except (ValueError, KeyError, TypeError) as error:  # a SettingError naming report, or another file's JSON
            raise click.BadParameter(f"{evaluation} is not art-sor evaluate's report.json of this checkpoint "
                                     f"({error})", param_hint="--evaluation") from error
    folder = out or checkpoint.parent / "export"
    dataset = f" --dataset {exported.dataset}" if exported.dataset else ""
    for kind in dict.fromkeys(formats):
        if kind == "pytorch":
            path = export_pytorch(checkpoint, folder / "model.pt2")
            click.echo(f"PyTorch (torch.export): {path}\n  Load it with torch alone:\n"
                       + _indent(pytorch_recipe(path, exported.input_shape))
                       + f"\n  Evaluate it: art-sor evaluate {path}{dataset}")
        elif kind == "madry":
            path = export_madry(checkpoint, folder / "madry_checkpoint.pt")
            click.echo(f"MadryLab robustness layout: {path}\n  In robustness: make_and_restore_model(arch=..., "
                       f"dataset=..., resume_path={str(path)!r}) with the library's own {exported.architecture} "
                       f"(its CIFAR resnet18 is art-sor's resnet18)\n  Evaluate it: art-sor evaluate {path} "
                       f"--architecture {exported.architecture}{dataset}")
        else:
            try:
                files = export_robustbench(checkpoint, folder / "robustbench", name or checkpoint.parent.name,
                                           robustbench_dataset, clean, autoattack)
            except SettingError as error:  # the checkpoint does not fit the format: choosing that format is at fault
                raise click.BadParameter(str(error), param_hint="--format") from error
            missing = "" if autoattack is not None else (", and its clean_acc and autoattack_acc (--evaluation with "
                                                         "art-sor evaluate --attack autoattack-standard's report)")
            click.echo(f"RobustBench: weights {files['weights']}, model card {files['model_info']}\n  Fill in the "
                       f"card's link, name, authors and venue{missing}; the zoo entry:\n"
                       + _indent(robustbench_entry(name or checkpoint.parent.name, exported)))


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
