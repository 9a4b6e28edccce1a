"""Quantitative alignment of explanations with the data, since no single metric is accepted.

* :func:`gradient_alignment`: ``|⟨x, ∇ₓf_y(x)⟩| / (‖x‖·‖∇ₓf_y(x)‖)``, Etmann et al. 2019.
* :func:`counterfactual_target_rate`: how often large-ε targeted counterfactuals are classified as their target
  by an independent, separately trained robust model (a "judge").
* :func:`object_change_fraction`: the share of a counterfactual's change that falls on the object rather than
  the background (for Fashion-MNIST, the object is the non-zero pixels).

| Paper link: https://arxiv.org/abs/1905.04172
"""

from __future__ import annotations

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_inputs, to_index_labels
from art_sor.core.batch import TINY
from art_sor.core.errors import SettingError
from art_sor.explain.counterfactuals import DEFAULT_STEPS, counterfactuals
from art_sor.explain.saliency import input_gradient


def gradient_alignment(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 128
                       ) -> np.ndarray:
    """Per-sample ``|⟨x, ∇ₓf_y(x)⟩| / (‖x‖·‖∇ₓf_y(x)‖)`` for the logit ``f_y`` of the label ``y``."""
    x = check_inputs(x, classifier.input_shape)
    grad = input_gradient(classifier, x, y, batch_size).reshape(len(x), -1).astype(np.float64)
    flat = x.reshape(len(x), -1).astype(np.float64)
    norms = np.linalg.norm(flat, axis=1) * np.linalg.norm(grad, axis=1)
    return np.abs(np.sum(flat * grad, axis=1)) / np.maximum(norms, TINY)


def object_change_fraction(x: np.ndarray, x_changed: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-sample share of ``Σ|x_changed − x|`` that lies on the object.

    :param x: Original inputs ``(n, c, h, w)``.
    :param x_changed: Changed inputs, same shape.
    :param mask: Object pixels ``(n, h, w)`` or ``(n, c, h, w)``; by default the pixels where any channel of
                 ``x`` is non-zero.
    :return: Fractions in ``[0, 1]`` (0 for an unchanged input).
    """
    if x.shape != x_changed.shape:
        raise ValueError(f"x_changed has shape {x_changed.shape}, x has {x.shape}")
    change = np.abs(x_changed.astype(np.float64) - x.astype(np.float64))
    if mask is None:
        mask = np.any(x != 0, axis=1)
    mask = np.broadcast_to(mask[:, None] if mask.ndim == x.ndim - 1 else mask, x.shape)
    total = change.reshape(len(x), -1).sum(axis=1)
    on_object = (change * mask).reshape(len(x), -1).sum(axis=1)
    return np.where(total > TINY, on_object / np.maximum(total, TINY), 0.0)


def counterfactual_target_rate(judge: PyTorchClassifier, x_counterfactual: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of counterfactuals that the independent ``judge`` classifies as their target."""
    x_counterfactual = check_inputs(x_counterfactual, judge.input_shape, "x_counterfactual")
    targets = to_index_labels(targets, judge.nb_classes, "targets")
    return float(np.mean(judge.predict(x_counterfactual).argmax(axis=1) == targets))


def other_class_targets(y: np.ndarray, nb_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (sample, class) pair with class ≠ label: the sample indices and the target classes."""
    samples = np.repeat(np.arange(len(y)), nb_classes - 1)
    targets = np.array([k for label in y for k in range(nb_classes) if k != label], dtype=np.int64)
    return samples, targets


def check_judge(judge: PyTorchClassifier, input_shape: tuple[int, ...], nb_classes: int) -> None:
    """Refuse a judge that cannot classify the counterfactuals: another input shape or number of classes.

    :raises SettingError: Naming ``judge``, and both shapes or class counts.
    """
    if tuple(judge.input_shape) != tuple(input_shape):
        raise SettingError(f"the judge takes inputs of shape {tuple(judge.input_shape)}, but the model and data "
                           f"have {tuple(input_shape)}; judge with a model trained on the same data", "judge")
    if judge.nb_classes != nb_classes:
        raise SettingError(f"the judge has {judge.nb_classes} classes, but the model and data have "
                           f"{nb_classes}; judge with a model trained on the same classes", "judge")


def alignment_scores(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, judge: PyTorchClassifier | None,
                     counterfactual_samples: int = 50, eps: float | None = None, norm: object = "l2",
                     verbose: bool = False, steps: int = DEFAULT_STEPS) -> dict[str, float]:
    """The scores, averaged over samples.

    Alignment uses all of ``x``; counterfactuals (budget ``eps`` in ``norm``, ``steps`` targeted PGD steps) go toward
    every other class for the first ``counterfactual_samples`` inputs and are scored by object share, by whether
    they reach their target on this model, and (with a judge) by whether the judge sees the target.
    """
    if judge is not None:
        check_judge(judge, classifier.input_shape, classifier.nb_classes)
    labels = to_index_labels(y, classifier.nb_classes)
    scores = {"alignment": float(gradient_alignment(classifier, x, labels).mean())}
    x_cf_source = x[:counterfactual_samples]
    index, targets = other_class_targets(labels[:counterfactual_samples], classifier.nb_classes)
    x_cf = counterfactuals(classifier, x_cf_source[index], targets, eps=eps, norm=norm, steps=steps, verbose=verbose)
    scores["cf object share"] = float(object_change_fraction(x_cf_source[index], x_cf).mean())
    scores["cf reach target"] = float(np.mean(classifier.predict(x_cf).argmax(axis=1) == targets))
    if judge is not None:
        scores["cf judged target"] = counterfactual_target_rate(judge, x_cf, targets)
    return scores
