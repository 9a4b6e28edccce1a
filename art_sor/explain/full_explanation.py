"""One call that explains chosen inputs with any ART ``PyTorchClassifier``: saliency, counterfactuals, scores."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_dataset, check_finite_outputs, check_input_dtype
from art_sor.core.errors import SettingTypeError
from art_sor.core.norms import norm_label
from art_sor.core.threat import format_radius
from art_sor.explain.counterfactuals import class_counterfactuals, correction_counterfactuals, default_eps
from art_sor.explain.figures import correction_grid, explanation_grid
from art_sor.explain.plan import ExplanationPlan
from art_sor.explain.saliency import smoothgrad
from art_sor.explain.scores import alignment_scores


@dataclass
class Explanation:
    """What :func:`explain_classifier` produced.

    :ivar model: The model's name in captions.
    :ivar eps: Counterfactual budget.
    :ivar norm: Its norm.
    :ivar steps: Targeted PGD steps.
    :ivar images: Indices of the explained inputs among those given.
    :ivar scores: Alignment scores (see :func:`~art_sor.explain.scores.alignment_scores`).
    :ivar figures: The PNG files written.
    :ivar judged: Whether an independent judge scored the counterfactuals.
    """

    model: str
    eps: float
    norm: str
    steps: int
    images: list[int]
    scores: dict[str, float]
    figures: list[str]
    judged: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def explain_classifier(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...],
                       out: str | os.PathLike[str], plan: ExplanationPlan, judge: PyTorchClassifier | None = None,
                       verbose: bool = False) -> Explanation:
    """Explain the inputs ``plan`` shows among ``x`` with saliency, counterfactuals and alignment scores.

    Writes ``explanations.png`` (SmoothGrad saliency and counterfactuals toward every class) and
    ``corrections.png`` (what would correct the mistakes among the inputs shown); the scores are computed on the
    plan's leading score samples of ``x``.

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: The inputs the plan's images index and its scores use; never modified.
    :param y: Their labels.
    :param class_names: Names of the classes, for titles.
    :param out: Folder for the figures.
    :param plan: What is shown and scored, and the counterfactuals' budget, norm and steps.
    :param judge: Independent robust classifier that judges the counterfactuals, or ``None``.
    :param verbose: Show the counterfactual attacks' progress bars.
    :raises SettingError: Naming ``plan`` when it is no :class:`~art_sor.explain.plan.ExplanationPlan`, or
                          ``images`` when one is out of range for ``x``.
    """
    if not isinstance(plan, ExplanationPlan):
        raise SettingTypeError(f"plan must be an ExplanationPlan, got {type(plan).__name__}", "plan")
    x, y = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    images = plan.shown(len(x))
    score_x, score_y = x[:plan.score_samples], y[:plan.score_samples]
    x, y = x[images], y[images]
    norm, steps = plan.norm, plan.steps
    eps = plan.eps if plan.eps is not None else default_eps(classifier.input_shape, norm)
    name = plan.name or type(classifier.model).__name__
    out = Path(out)
    check_input_dtype(classifier, x)
    logits = classifier.predict(x)
    check_finite_outputs(logits)
    predictions = logits.argmax(axis=1)
    saliency = smoothgrad(classifier, x, y)
    counterfactuals = class_counterfactuals(classifier, x, eps=eps, norm=norm, steps=steps, verbose=verbose)
    reached = classifier.predict(counterfactuals.reshape(-1, *x.shape[1:])).argmax(axis=1).reshape(len(x), -1)
    caption = (f"{name}: targeted PGD counterfactuals, {norm_label(norm)} ε = {format_radius(eps)}, {steps} steps. "
               "Titles: class the model predicts")
    figures = [str(explanation_grid(x, y, predictions, saliency, counterfactuals, reached, class_names, caption,
                                    out / "explanations.png"))]
    wrong, corrected = correction_counterfactuals(classifier, x, y, eps=eps, norm=norm, steps=steps, verbose=verbose)
    if len(wrong):
        corrected_predictions = classifier.predict(corrected).argmax(axis=1)
        figures.append(str(correction_grid(x[wrong], y[wrong], predictions[wrong], corrected, corrected_predictions,
                                           class_names, f"{name}: what would correct these mistakes "
                                           f"({norm_label(norm)} ε = {format_radius(eps)})", out / "corrections.png")))
    scores = alignment_scores(classifier, score_x, score_y, judge, plan.counterfactual_samples, eps=eps, norm=norm,
                              verbose=verbose, steps=steps)
    return Explanation(model=name, eps=float(eps), norm=norm, steps=steps, images=images, scores=scores,
                       figures=figures, judged=judge is not None)
