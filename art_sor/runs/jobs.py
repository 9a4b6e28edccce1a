"""The jobs of the command line as library calls: each takes what the command parsed and writes its report.

A job holds its output folder while it runs (:func:`~art_sor.runs.folders.exclusive`), replaces it only with
``overwrite``, claims it for its own identity (:func:`~art_sor.runs.run_key.claim_folder`), and returns the report
with the paths it wrote. The commands in :mod:`art_sor.cli` parse options, open data and models, and call one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.classifiers.opening import OpenedModel
from art_sor.core.threat import ThreatModel, standard_radius
from art_sor.data import Dataset
from art_sor.explain.full_explanation import explain_classifier
from art_sor.registry import DEFENCES
from art_sor.runs.comparison import budget_of, evaluate_references, run_comparison
from art_sor.runs.comparison_report import comparison_report
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.evaluating import EVALUATION_FILE, evaluate_model
from art_sor.runs.evaluation_report import evaluation_report
from art_sor.runs.explanation_report import explanation_report
from art_sor.runs.folders import clear, exclusive
from art_sor.runs.plans import ComparisonPlan, EvaluationPlan, ExtraMetrics
from art_sor.runs.reports import Report, write_report
from art_sor.runs.run_key import claim_folder, dataset_identity, default_folder
from art_sor.runs.tracking import Tracking
from art_sor.runs.training_job import train_defences, train_report
from art_sor.specs import Spec, parse_value

ADVERSARIAL_FILE = "adversarial.npz"
Written = tuple[Report, dict[str, Path]]
"""A job's report and the files it wrote, by kind."""


def training_job(specs: Sequence[Spec], data: Dataset, threat: ThreatModel, setup: Any, out: Path, attack: str,
                 eval_samples: int, command: str, recipe: Any, recipe_sources: dict[str, str],
                 overwrite: bool = False, verbose: bool = True, announce: Callable[[str], None] = print,
                 tracking: Tracking | None = None) -> Written | None:
    """``art-sor train``: train each defence (or reuse it), check it under ``attack``, and write the report.

    :return: The report and its files, or ``None`` on a data-parallel rank other than 0 (rank 0 reports).
    """
    _claim(out, "train", specs, overwrite)
    rows = train_defences(specs, data, threat, setup, out, attack=attack, eval_samples=eval_samples,
                          overwrite=overwrite, verbose=verbose, announce=announce, tracking=tracking)
    if not rows:
        return None
    report = train_report(rows, command, recipe.name, recipe_sources, recipe.paper)
    return report, write_report(report, out)


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


def evaluation_job(model: OpenedModel, data: Dataset, plan: EvaluationPlan, out: Path | None, context: dict[str, Any],
                   overwrite: bool = False, verbose: bool = True, save_adversarial: bool = False,
                   announce: Callable[[str], None] = print) -> Written:
    """``art-sor evaluate``: the model's evaluation under ``plan``, cached in its folder, and its report.

    :param out: The folder, by default one per model (:func:`~art_sor.runs.run_key.default_folder`).
    :param context: What the report records about where the model came from (checkpoint, command line).
    :param save_adversarial: Also write each attacked sample's worst-case adversarial example.
    """
    with exclusive(out or default_folder("evaluate", model.folder)) as folder:
        if overwrite:
            clear(folder)
        claim_folder(folder, {"command": "evaluate", "model": model.identity, "dataset": dataset_identity(data),
                              "plan": plan.key()})
        adversarial = folder / ADVERSARIAL_FILE if save_adversarial else None
        result = evaluate_model(model.classifier, data, plan, model.identity, folder / EVALUATION_FILE,
                                verbose=verbose, adversarial=adversarial, announce=announce)
        context = {**context, "model": model.identity, "dataset": data.name, "trained": model.run,
                   "adversarial_examples": str(adversarial) if adversarial else None}
        report = evaluation_report(result, f"{model.name} on {data.name}", context)
        return report, write_report(report, folder)


def explanation_job(model: OpenedModel, data: Dataset, images: np.ndarray, out: Path | None,
                    context: dict[str, Any], judge: Any = None, judge_checksum: str | None = None,
                    eps: float | None = None, norm: str = "l2", steps: int = 100, score_samples: int = 500,
                    counterfactual_samples: int = 50, name: str | None = None, overwrite: bool = False,
                    verbose: bool = True) -> Written:
    """``art-sor explain``: saliency, counterfactuals and alignment scores of ``images`` (test-set indices).

    :param judge: An independent robust classifier that judges the counterfactuals, or ``None``.
    :param judge_checksum: Its checkpoint's checksum, which the folder's identity records.
    """
    with exclusive(out or default_folder("explain", model.folder)) as folder:
        if overwrite:
            clear(folder)
        claim_folder(folder, {"command": "explain", "model": model.identity, "dataset": dataset_identity(data),
                              "images": images.tolist(), "eps": eps, "norm": norm, "steps": steps,
                              "judge": judge_checksum, "score_samples": score_samples,
                              "counterfactual_samples": counterfactual_samples})
        explanation = explain_classifier(model.classifier, data.x_test[images], data.y_test[images],
                                         data.class_names, folder, name or model.name, images=images.tolist(),
                                         score_x=data.x_test[:score_samples], score_y=data.y_test[:score_samples],
                                         judge=judge, eps=eps, norm=norm, steps=steps,
                                         counterfactual_samples=counterfactual_samples, verbose=verbose)
        context = {**context, "model": model.identity, "dataset": data.name, "trained": model.run}
        report = explanation_report(explanation, context)
        return report, write_report(report, folder, stem="scores")


def comparison_job(specs: Sequence[Spec], data: Dataset, plan: ComparisonPlan, out: Path, command: str,
                   references: Sequence[OpenedModel] = (), reference_sources: Sequence[str] = (),
                   budget_from: tuple[Spec, int] | None = None, extra_metrics: ExtraMetrics | None = None,
                   overwrite: bool = False, verbose: bool = True, announce: Callable[[str], None] = print,
                   tracking: Tracking | None = None) -> Written | None:
    """``art-sor compare``: train and evaluate every defence and seed under ``plan``, then the reference models.

    :param budget_from: ``(defence, epochs)`` whose training time becomes the plan's budget (``--budget-of``),
                        measured first under the plan's clock.
    :return: The report and its files, or ``None`` on a data-parallel rank other than 0 (rank 0 reports).
    """
    _claim(out, "compare", specs, overwrite, ("budget-reference", "references"))
    note = ""
    if budget_from is not None:
        spec, epochs = budget_from
        announce(f"measuring the budget: {spec.label} for {epochs} epochs")
        budget: Budget = budget_of(spec, epochs, data, plan.threat, replace(plan.setup, seed=plan.seeds[0]),
                                   plan.timing_clock, out, verbose, overwrite)
        plan = replace(plan, budget=budget)
        note = f"the time {spec.label} took for {epochs} epochs"
    rows = run_comparison(specs, data, plan, out, extra_metrics=extra_metrics, verbose=verbose, overwrite=overwrite,
                          announce=announce, tracking=tracking)
    if not rows:
        return None
    reference_rows = evaluate_references(references, list(reference_sources), data, plan, out, verbose, announce)
    report = comparison_report(rows, plan, data, command, note, reference_rows)
    return report, write_report(report, out, stem="results")


def _claim(out: Path, command: str, specs: Sequence[Spec], overwrite: bool, folders: Sequence[str] = ()) -> None:
    """Claim ``out`` for ``command`` over ``specs`` before any work (see :func:`~.run_key.claim_folder`)."""
    specs = [DEFENCES.check(spec) for spec in specs]
    with exclusive(out) as folder:
        claim_folder(folder, {"command": command, "defences": [spec.label for spec in specs]}, overwrite,
                     own_folders={*folders, *(spec.folder for spec in specs)})
