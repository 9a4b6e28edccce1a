"""Clean and adversarial accuracy of an ART classifier."""

from __future__ import annotations

import numpy as np
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier

from art_sor.core.norms import art_norm, parse_norm
from art_sor.evaluation.randomness import seeded
from art_sor.validation import check_dataset


def accuracy(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of ``x`` that ``classifier`` labels ``y`` (class indices or one-hot)."""
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    return float(np.mean(classifier.predict(x, batch_size=batch_size).argmax(axis=1) == labels))


def pgd_accuracy(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, eps: float, norm: object = "inf",
                 steps: int = 20, step_size: float | None = None, restarts: int = 1, batch_size: int = 256,
                 verbose: bool = False) -> float:
    """Accuracy under ART's ``ProjectedGradientDescent`` (seeded random start, ``step_size`` defaults to ε/8).

    :param restarts: Random restarts; ART keeps, per sample, the first restart that fools the classifier.
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    attack = ProjectedGradientDescent(classifier, norm=art_norm(parse_norm(norm)), eps=eps,
                                      eps_step=step_size if step_size is not None else eps / 8, max_iter=steps,
                                      num_random_init=restarts, batch_size=batch_size, verbose=verbose)
    with seeded():
        adversarial = attack.generate(x, y=labels)
    return accuracy(classifier, adversarial, labels, batch_size)
