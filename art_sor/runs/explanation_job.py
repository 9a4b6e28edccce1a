"""The ``explain`` job: saliency, counterfactuals and alignment scores of chosen test images, and their report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.opening import OpenedModel
from art_sor.data import Dataset
from art_sor.explain.full_explanation import explain_classifier
from art_sor.explain.plan import ExplanationPlan
from art_sor.runs.explanation_report import explanation_report
from art_sor.runs.folders import claim_folder, clear, default_folder, exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.reports import Written, write_report
from art_sor.runs.run_key import dataset_identity


def explanation_job(model: OpenedModel, data: Dataset, plan: ExplanationPlan, out: Path | None,
                    provenance: dict[str, Any], context: JobContext, judge: PyTorchClassifier | None = None,
                    judge_checksum: str | None = None) -> Written:
    """``art-sor explain``: saliency, counterfactuals and alignment scores of test images under ``plan``.

    :param plan: What is shown and scored among the test images; without a name, the model's own.
    :param out: The folder, by default one per model (:func:`~art_sor.runs.folders.default_folder`).
    :param provenance: What the report records about where the model came from (checkpoint, judge, command line).
    :param judge: An independent robust classifier that judges the counterfactuals, or ``None``.
    :param judge_checksum: Its checkpoint's checksum, which the folder's identity records.
    """
    images = plan.shown(len(data.x_test))  # before the folder is claimed: an index out of range stops the job
    with exclusive(out or default_folder("explain", model.folder)) as folder:
        if context.overwrite:
            clear(folder)
        claim_folder(folder, {"command": "explain", "model": model.identity, "dataset": dataset_identity(data),
                              "images": images, "eps": plan.eps, "norm": plan.norm, "steps": plan.steps,
                              "judge": judge_checksum, "score_samples": plan.score_samples,
                              "counterfactual_samples": plan.counterfactual_samples})
        explanation = explain_classifier(model.classifier, data.x_test, data.y_test, data.class_names, folder,
                                         plan if plan.name else replace(plan, name=model.name), judge=judge,
                                         verbose=context.verbose)
        provenance = {**provenance, "model": model.identity, "dataset": data.name, "trained": model.run}
        report = explanation_report(explanation, provenance)
        return report, write_report(report, folder, stem="scores")
