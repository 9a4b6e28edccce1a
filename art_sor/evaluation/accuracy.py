"""Clean accuracy of an ART classifier."""

from __future__ import annotations

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_dataset


def accuracy(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of ``x`` that ``classifier`` labels ``y`` (class indices or one-hot)."""
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    return float(np.mean(classifier.predict(x, batch_size=batch_size).argmax(axis=1) == labels))
