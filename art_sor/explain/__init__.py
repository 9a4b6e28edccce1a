"""Explanations from robust features: saliency, counterfactuals, alignment scores and figures."""

from art_sor.explain.counterfactuals import class_counterfactuals, correction_counterfactuals, counterfactuals
from art_sor.explain.plan import ExplanationPlan
from art_sor.explain.saliency import input_gradient, smoothgrad
from art_sor.explain.scores import counterfactual_target_rate, gradient_alignment, object_change_fraction

__all__ = [
    "ExplanationPlan",
    "class_counterfactuals",
    "correction_counterfactuals",
    "counterfactual_target_rate",
    "counterfactuals",
    "gradient_alignment",
    "input_gradient",
    "object_change_fraction",
    "smoothgrad",
]
