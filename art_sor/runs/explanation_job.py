"""The ``explain`` job: saliency, counterfactuals and alignment scores of chosen test images, and their report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.opening import OpenedModel
from art_sor.data import Dataset
from art_sor.explain.counterfactuals import DEFAULT_STEPS
from art_sor.explain.full_explanation import explain_classifier
from art_sor.runs.explanation_report import explanation_report
from art_sor.runs.folders import claim_folder, clear, default_folder, exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.reports import Written, write_report
from art_sor.runs.run_key import dataset_identity


@dataclass(frozen=True)
class ExplanationSettings:
    """What the ``explain`` job shows and scores: which test images, the counterfactuals' budget, the scores' samples.

    :ivar images: Test-set indices of the images shown.
    :ivar eps: The counterfactuals' budget (``None``: the norm's default).
    :ivar norm: Its norm.
    :ivar steps: Targeted PGD steps.
    :ivar score_samples: Test images for the gradient-alignment score (the first n).
    :ivar counterfactual_samples: Test images whose counterfactuals toward every other class are scored.
    :ivar name: The model's name in captions (``None``: the model's own).
    """

    images: tuple[int, ...]
    eps: float | None = None
    norm: str = "l2"
    steps: int = DEFAULT_STEPS
    score_samples: int = 500
    counterfactual_samples: int = 50
    name: str | None = None


def explanation_job(model: OpenedModel, data: Dataset, settings: ExplanationSettings, out: Path | None,
                    provenance: dict[str, Any], context: JobContext, judge: PyTorchClassifier | None = None,
                    judge_checksum: str | None = None) -> Written:
    """``art-sor explain``: saliency, counterfactuals and alignment scores of test images under ``settings``.

    :param out: The folder, by default one per model (:func:`~art_sor.runs.folders.default_folder`).
    :param provenance: What the report records about where the model came from (checkpoint, judge, command line).
    :param judge: An independent robust classifier that judges the counterfactuals, or ``None``.
    :param judge_checksum: Its checkpoint's checksum, which the folder's identity records.
    """
    with exclusive(out or default_folder("explain", model.folder)) as folder:
        if context.overwrite:
            clear(folder)
        images, scored = list(settings.images), settings.score_samples
        claim_folder(folder, {"command": "explain", "model": model.identity, "dataset": dataset_identity(data),
                              "images": images, "eps": settings.eps, "norm": settings.norm, "steps": settings.steps,
                              "judge": judge_checksum, "score_samples": scored,
                              "counterfactual_samples": settings.counterfactual_samples})
        explanation = explain_classifier(model.classifier, data.x_test[images], data.y_test[images],
                                         data.class_names, folder, settings.name or model.name, images=images,
                                         score_x=data.x_test[:scored], score_y=data.y_test[:scored], judge=judge,
                                         eps=settings.eps, norm=settings.norm, steps=settings.steps,
                                         counterfactual_samples=settings.counterfactual_samples,
                                         verbose=context.verbose)
        provenance = {**provenance, "model": model.identity, "dataset": data.name, "trained": model.run}
        report = explanation_report(explanation, provenance)
        return report, write_report(report, folder, stem="scores")
