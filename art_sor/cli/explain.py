"""``art-sor explain``: saliency, counterfactuals and alignment scores for chosen test images."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from art_sor.classifiers import load_classifier
from art_sor.cli.options import (
    Budget,
    architecture_option,
    dataset_options,
    device_option,
    load_data,
    load_model,
    write_json,
)
from art_sor.core.norms import norm_label
from art_sor.explain.counterfactuals import (
    DEFAULT_STEPS,
    class_counterfactuals,
    correction_counterfactuals,
    default_eps,
)
from art_sor.explain.figures import correction_grid, explanation_grid
from art_sor.explain.saliency import smoothgrad
from art_sor.explain.scores import alignment_scores


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@architecture_option
@dataset_options
@click.option("--image", "images", multiple=True, type=click.IntRange(min=0),
              help="Test-image index, repeatable [default: the first 8].")
@click.option("--eps", type=Budget(), default=None, help="Counterfactual budget [default: L2 0.25·√d, L∞ 0.3].")
@click.option("--norm", type=click.Choice(["l2", "inf"]), default="l2", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULT_STEPS, show_default=True,
              help="Targeted PGD steps.")
@click.option("--judge", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Checkpoint of an independently trained robust model that judges the counterfactuals.")
@click.option("--score-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Test images for the gradient-alignment score (the first n).")
@click.option("--counterfactual-samples", type=click.IntRange(min=1), default=50, show_default=True,
              help="Test images whose counterfactuals toward every other class are scored.")
@click.option("--name", default=None, help="Model name for captions [default: the checkpoint's defence].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: art-sor-runs/explain-<checkpoint name>].")
@device_option
def explain(checkpoint: Path, architecture: str | None, dataset: str, data_root: Path | None, download: bool,
            images: tuple[int, ...], eps: float | None, norm: str, steps: int, judge: Path | None,
            score_samples: int, counterfactual_samples: int, name: str | None, out: Path | None,
            device: str) -> None:
    """Explain test images with CHECKPOINT: SmoothGrad saliency and large-ε targeted counterfactuals.

    Writes explanations.png (each image, its saliency and what would make it each class), corrections.png (what
    would correct the mistakes among them) and scores.json (alignment scores).
    """
    data = load_data(dataset, data_root, download)
    classifier, metadata = load_model(checkpoint, architecture, data, device)
    index = np.array(images or range(min(8, len(data.x_test))))
    if index.max() >= len(data.x_test):
        raise click.BadParameter(f"{dataset} has {len(data.x_test)} test images", param_hint="--image")
    eps = eps if eps is not None else default_eps(data.input_shape, norm)
    name = name or metadata.get("defence", checkpoint.stem)
    x, y = data.x_test[index], data.y_test[index]
    predictions = classifier.predict(x).argmax(axis=1)
    saliency = smoothgrad(classifier, x, y)
    counterfactuals = class_counterfactuals(classifier, x, eps=eps, norm=norm, steps=steps)
    reached = classifier.predict(counterfactuals.reshape(-1, *x.shape[1:])).argmax(axis=1).reshape(len(x), -1)
    out = out or Path("art-sor-runs") / f"explain-{checkpoint.stem}"
    caption = (f"{name} on {dataset}: targeted PGD counterfactuals, {norm_label(norm)} ε = {eps:.3g}, {steps} steps. "
               "Titles: class the model predicts")
    figures = [str(explanation_grid(x, y, predictions, saliency, counterfactuals, reached, data.class_names,
                                    caption, out / "explanations.png"))]
    wrong, corrected = correction_counterfactuals(classifier, x, y, eps=eps, norm=norm, steps=steps)
    if len(wrong):
        corrected_predictions = classifier.predict(corrected).argmax(axis=1)
        figures.append(str(correction_grid(x[wrong], y[wrong], predictions[wrong], corrected, corrected_predictions,
                                           data.class_names, f"{name}: what would correct these mistakes "
                                           f"({norm_label(norm)} ε = {eps:.3g})", out / "corrections.png")))
    judge_classifier = load_classifier(judge, device=device)[0] if judge is not None else None
    scores = alignment_scores(classifier, data.x_test[:score_samples], data.y_test[:score_samples],
                              judge_classifier, counterfactual_samples, eps=eps, norm=norm)
    write_json(out / "scores.json", {"model": name, "checkpoint": str(checkpoint), "dataset": dataset,
                                     "eps": eps, "norm": norm, "steps": steps, "judge": str(judge) if judge else None,
                                     "images": index.tolist(), "scores": scores, "figures": figures})
    for key, value in scores.items():
        click.echo(f"{key:<20} {value:.3f}")
    click.echo("Figures: " + ", ".join(figures))
