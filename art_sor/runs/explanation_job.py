"""The ``explain`` job: saliency, counterfactuals and alignment scores of chosen test images, and their report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from art_sor.classifiers.opening import OpenedModel
from art_sor.data import Dataset
from art_sor.explain.full_explanation import explain_classifier
from art_sor.runs.explanation_report import explanation_report
from art_sor.runs.folders import claim_folder, clear, default_folder, exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.reports import Written, write_report
from art_sor.runs.run_key import dataset_identity


def explanation_job(model: OpenedModel, data: Dataset, images: np.ndarray, out: Path | None,
                    provenance: dict[str, Any], context: JobContext, judge: Any = None,
                    judge_checksum: str | None = None, eps: float | None = None, norm: str = "l2", steps: int = 100,
                    score_samples: int = 500, counterfactual_samples: int = 50, name: str | None = None) -> Written:
    """``art-sor explain``: saliency, counterfactuals and alignment scores of ``images`` (test-set indices).

    :param out: The folder, by default one per model (:func:`~art_sor.runs.folders.default_folder`).
    :param provenance: What the report records about where the model came from (checkpoint, judge, command line).
    :param judge: An independent robust classifier that judges the counterfactuals, or ``None``.
    :param judge_checksum: Its checkpoint's checksum, which the folder's identity records.
    """
    with exclusive(out or default_folder("explain", model.folder)) as folder:
        if context.overwrite:
            clear(folder)
        claim_folder(folder, {"command": "explain", "model": model.identity, "dataset": dataset_identity(data),
                              "images": images.tolist(), "eps": eps, "norm": norm, "steps": steps,
                              "judge": judge_checksum, "score_samples": score_samples,
                              "counterfactual_samples": counterfactual_samples})
        explanation = explain_classifier(model.classifier, data.x_test[images], data.y_test[images],
                                         data.class_names, folder, name or model.name, images=images.tolist(),
                                         score_x=data.x_test[:score_samples], score_y=data.y_test[:score_samples],
                                         judge=judge, eps=eps, norm=norm, steps=steps,
                                         counterfactual_samples=counterfactual_samples,
                                         verbose=context.verbose)
        provenance = {**provenance, "model": model.identity, "dataset": data.name, "trained": model.run}
        report = explanation_report(explanation, provenance)
        return report, write_report(report, folder, stem="scores")
