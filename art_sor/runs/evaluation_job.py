"""The ``evaluate`` job: a saved model's evaluation under a plan, cached in its folder, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from art_sor.classifiers.opening import OpenedModel
from art_sor.core.threat import ThreatModel, standard_radius
from art_sor.data import Dataset
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.evaluating import EVALUATION_FILE, evaluate_model
from art_sor.runs.evaluation_report import evaluation_report
from art_sor.runs.folders import claim_folder, clear, default_folder, exclusive
from art_sor.runs.job_context import JobContext
from art_sor.runs.reports import Written, write_report
from art_sor.runs.run_key import dataset_identity
from art_sor.specs import parse_value

ADVERSARIAL_FILE = "adversarial.npz"


def evaluation_threat(model: OpenedModel, eps: float | str | None, norm: str | None, dataset: str) -> ThreatModel:
    """The threat model to evaluate at: the one given, else the model's own, else the dataset's standard radius.

    A radius the model was trained for belongs to its norm only: evaluating in another norm takes the dataset's
    standard radius in that norm (:func:`~art_sor.core.threat.standard_radius`).
    """
    trained = model.threat or {}
    norm = norm or trained.get("norm", "inf")
    if eps is None:
        eps = trained["eps"] if trained.get("norm") == norm else standard_radius(dataset, norm).eps
    return ThreatModel(parse_value(eps) if isinstance(eps, str) else eps, norm)


def evaluation_job(model: OpenedModel, data: Dataset, plan: EvaluationPlan, out: Path | None,
                   provenance: dict[str, Any], context: JobContext, save_adversarial: bool = False) -> Written:
    """``art-sor evaluate``: the model's evaluation under ``plan``, cached in its folder, and its report.

    The job holds its folder while it runs (:func:`~art_sor.runs.folders.exclusive`), replaces it only with
    ``overwrite``, and claims it for its own identity (:func:`~art_sor.runs.folders.claim_folder`).

    :param out: The folder, by default one per model (:func:`~art_sor.runs.folders.default_folder`).
    :param provenance: What the report records about where the model came from (checkpoint, command line).
    :param save_adversarial: Also write each attacked sample's worst-case adversarial example.
    """
    with exclusive(out or default_folder("evaluate", model.folder)) as folder:
        if context.overwrite:
            clear(folder)
        claim_folder(folder, {"command": "evaluate", "model": model.identity, "dataset": dataset_identity(data),
                              "plan": plan.key()})
        adversarial = folder / ADVERSARIAL_FILE if save_adversarial else None
        result = evaluate_model(model.classifier, data, plan, model.identity, folder / EVALUATION_FILE,
                                verbose=context.verbose, adversarial=adversarial, announce=context.announce)
        provenance = {**provenance, "model": model.identity, "dataset": data.name, "trained": model.run,
                   "adversarial_examples": str(adversarial) if adversarial else None}
        report = evaluation_report(result, f"{model.name} on {data.name}", provenance)
        return report, write_report(report, folder)
