"""The explanation plan: what :func:`~art_sor.explain.full_explanation.explain_classifier` shows and scores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from art_sor.core.checks import check_count, check_positive
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.norms import norm_label, parse_norm
from art_sor.explain.counterfactuals import COUNTERFACTUAL_EPS, DEFAULT_STEPS

SHOWN = 8
"""How many leading inputs are shown when the plan names no images."""


@dataclass(frozen=True)
class ExplanationPlan:
    """How a classifier's inputs are explained; equal plans give comparable scores. Every field is checked on creation.

    :param images: Indices (into the inputs given to ``explain_classifier``) of the inputs shown, or ``None`` for the
                   first eight.
    :param eps: The counterfactuals' budget, or ``None`` for
                :func:`~art_sor.explain.counterfactuals.default_eps` of the norm and the input size.
    :param norm: Its norm, kept as its canonical name (``"l2"``, ``"inf"``, ``"l1"``; L1 has no default budget).
    :param steps: Targeted PGD steps.
    :param score_samples: Leading inputs on which the alignment scores are computed.
    :param counterfactual_samples: Leading score inputs whose counterfactuals toward every other class are scored.
    :param name: The model's name in captions; ``None`` or empty: the class name of the classifier's model.
    :raises SettingError: Naming the field at fault.
    """

    images: tuple[int, ...] | None = None
    eps: float | None = None
    norm: str = "l2"
    steps: int = DEFAULT_STEPS
    score_samples: int = 500
    counterfactual_samples: int = 50
    name: str | None = None

    def __post_init__(self) -> None:
        if self.images is not None:
            object.__setattr__(self, "images", _image_indices(self.images))
        object.__setattr__(self, "norm", parse_norm(self.norm))
        if self.eps is not None:
            object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        elif self.norm not in COUNTERFACTUAL_EPS:
            raise SettingError(f"there is no default counterfactual budget for {norm_label(self.norm)}; pass eps",
                               "eps")
        check_count(self.steps, "steps")
        check_count(self.score_samples, "score_samples")
        check_count(self.counterfactual_samples, "counterfactual_samples")
        if self.name is not None and not isinstance(self.name, str):
            raise SettingTypeError(f"name must be a string or None, got {type(self.name).__name__}", "name")

    def shown(self, size: int) -> list[int]:
        """The indices of the inputs shown among ``size`` inputs.

        :raises SettingError: Naming ``images`` when one is ``size`` or more.
        """
        if self.images is None:
            return list(range(min(SHOWN, size)))
        outside = [index for index in self.images if index >= size]
        if outside:
            raise SettingError(f"images {outside} are out of range for {size} inputs (indices 0 to {size - 1})",
                               "images")
        return list(self.images)


def _image_indices(images: Iterable[int]) -> tuple[int, ...]:
    """``images`` as a tuple of indices, refusing a single index, an empty sequence and negative indices."""
    if isinstance(images, (str, bytes)) or not isinstance(images, Iterable):
        raise SettingTypeError(f"images must be a sequence of indices, got {images!r}", "images")
    images = tuple(images)
    if not images:
        raise SettingError("images is empty, so nothing would be shown; pass None for the first eight", "images")
    return tuple(check_count(index, "images", minimum=0) for index in images)
