"""Input-gradient saliency through ART's ``class_gradient``: plain gradients and SmoothGrad.

Gradients are of the class logit ``f_k(x)`` with respect to the input the user gave, through the classifier's
preprocessing, as ART computes them.

| Paper link: https://arxiv.org/abs/1706.03825
"""

from __future__ import annotations

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_inputs, to_index_labels
from art_sor.core.checks import check_count, check_non_negative


def input_gradient(classifier: PyTorchClassifier, x: np.ndarray, target: np.ndarray | None = None,
                   batch_size: int = 128) -> np.ndarray:
    """``∇ₓ f_k(x)`` for each sample's class ``k`` (by default the predicted class).

    :param classifier: Any ART ``PyTorchClassifier``.
    :param x: Inputs; never modified.
    :param target: Class per sample (indices or one-hot), or ``None`` for the prediction.
    :param batch_size: Samples per gradient call.
    :return: Gradients, same shape as ``x``.
    """
    x = check_inputs(x, classifier.input_shape)
    target = _targets(classifier, x, target, batch_size)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        out[start:stop] = classifier.class_gradient(x[start:stop], label=target[start:stop])[:, 0]
    return out


def smoothgrad(classifier: PyTorchClassifier, x: np.ndarray, target: np.ndarray | None = None, samples: int = 25,
               sigma: float = 0.1, seed: int = 0, batch_size: int = 128) -> np.ndarray:
    """SmoothGrad: the mean input gradient over ``samples`` Gaussian perturbations of each input.

    :param sigma: Noise standard deviation as a fraction of the data range (``clip_values``, else 1).
    :param seed: Seed of the noise.
    """
    x = check_inputs(x, classifier.input_shape)
    samples, sigma = check_count(samples, "samples"), check_non_negative(sigma, "sigma")
    target = _targets(classifier, x, target, batch_size)
    scale = 1.0 if classifier.clip_values is None else float(np.max(classifier.clip_values[1] -
                                                                    classifier.clip_values[0]))
    rng = np.random.default_rng(seed)
    total = np.zeros(x.shape, dtype=np.float64)
    for _ in range(samples):
        noisy = (x + rng.normal(0.0, sigma * scale, size=x.shape)).astype(np.float32)
        total += input_gradient(classifier, noisy, target, batch_size)
    return (total / samples).astype(np.float32)


def _targets(classifier: PyTorchClassifier, x: np.ndarray, target: np.ndarray | None, batch_size: int) -> np.ndarray:
    if target is None:
        return classifier.predict(x, batch_size=batch_size).argmax(axis=1)
    target = to_index_labels(target, classifier.nb_classes, "target")
    if len(target) != len(x):
        raise ValueError(f"target has {len(target)} labels for {len(x)} inputs")
    return target
