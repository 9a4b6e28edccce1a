"""The explanation-alignment scores of :mod:`art_sor.explain` as a comparison's extra metrics."""

from __future__ import annotations

from art.estimators.classification import PyTorchClassifier

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.explain.counterfactuals import DEFAULT_STEPS, default_eps
from art_sor.explain.scores import alignment_scores


class ComparisonAlignment:
    """Alignment scores on the first test images, with an optional independent judge.

    The counterfactuals are L2 at the default budget in every comparison (L∞ ones included), so that alignment
    columns compare across tables.

    :param input_shape: Shape of one input, for the default counterfactual budget.
    :param judge: Independent robust classifier that judges the counterfactuals, or ``None``.
    :param judge_name: How the judge is named in :meth:`key` (its checkpoint path).
    :param samples: Leading test images for the gradient alignment.
    :param counterfactual_samples: Leading test images whose counterfactuals toward every other class are scored.
    :param eps: Counterfactual budget (L2), by default :func:`~art_sor.explain.counterfactuals.default_eps`.
    """

    def __init__(self, input_shape: tuple[int, ...], judge: PyTorchClassifier | None = None, judge_name: str = "",
                 samples: int = 500, counterfactual_samples: int = 50, eps: float | None = None) -> None:
        self.judge, self.judge_name = judge, judge_name
        self.samples, self.counterfactual_samples = samples, counterfactual_samples
        self.eps = eps if eps is not None else default_eps(input_shape, "l2")

    def key(self) -> str:
        """Everything the scores depend on, so that cached scores are reused only for the same settings."""
        return (f"alignment on {self.samples}; counterfactuals of {self.counterfactual_samples} toward every other "
                f"class, L2 eps={self.eps:.4g}, {DEFAULT_STEPS} steps; judge={self.judge_name or 'none'}")

    def __call__(self, classifier: PyTorchClassifier, data: Dataset, threat: ThreatModel) -> dict[str, float]:
        """Scores on the first test images."""
        return alignment_scores(classifier, data.x_test[:self.samples], data.y_test[:self.samples], self.judge,
                                self.counterfactual_samples, eps=self.eps)
