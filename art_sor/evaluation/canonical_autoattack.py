"""The canonical AutoAttack of Croce & Hein (2020), from the ``pyautoattack`` package, as an ART evasion attack.

ART's own ``AutoAttack`` is an ensemble runner over ART's attacks; this is the reference implementation (standard
version: APGD-CE, APGD-T, FAB-T and Square with 5000 queries) behind ART's ``EvasionAttack`` interface, so that
it takes an ART classifier, its preprocessing and clip values, and returns adversarial examples like any ART attack.
Install it with ``pip install 'art-sor[autoattack]'``.

| Paper link: https://arxiv.org/abs/2003.01690
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from art.attacks import EvasionAttack
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.classifiers.inputs import to_index_labels
from art_sor.classifiers.view import ClassifierView
from art_sor.core.checks import check_choice, check_count, check_positive
from art_sor.core.norms import geometry_of, parse_norm

VERSIONS = ("standard", "plus", "rand")


def import_pyautoattack() -> Any:
    """The ``pyautoattack`` module, or an ``ImportError`` that says how to install it."""
    try:
        import pyautoattack
    except ImportError as error:
        raise ImportError("autoattack-standard needs the canonical AutoAttack (the pyautoattack package): "
                          "pip install 'art-sor[autoattack]'") from error
    return pyautoattack


class _Logits(nn.Module):
    """Raw inputs to logits through the classifier's preprocessing, in eval mode: the model pyautoattack attacks."""

    def __init__(self, view: ClassifierView) -> None:
        super().__init__()
        self.view = view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.view.logits(x.to(self.view.dtype), fit=False)


class CanonicalAutoAttack(EvasionAttack):
    """Croce & Hein's AutoAttack (pyautoattack) as an ART ``EvasionAttack``.

    | Paper link: https://arxiv.org/abs/2003.01690

    :param estimator: An ART ``PyTorchClassifier`` whose ``clip_values`` are ``(0, 1)`` (AutoAttack clamps to
                      that box). With fewer than 10 classes the targeted attacks target all ``K − 1`` other classes
                      rather than 9.
    :param norm: ``np.inf``/``"inf"`` or ``2``/``"l2"``.
    :param eps: Radius of the threat model.
    :param version: ``"standard"`` (APGD-CE, APGD-T, FAB-T, Square-5000), ``"plus"`` or ``"rand"``.
    :param batch_size: Samples per batch inside AutoAttack.
    :param seed: AutoAttack's seed.
    """

    attack_params: ClassVar[list[str]] = [*EvasionAttack.attack_params, "norm", "eps", "version", "batch_size",
                                          "seed"]
    _estimator_requirements = (PyTorchClassifier,)

    def __init__(self, estimator: PyTorchClassifier, norm: Any = np.inf, eps: float = 0.3,
                 version: str = "standard", batch_size: int = 250, seed: int = 0) -> None:
        super().__init__(estimator=estimator)
        self.norm = parse_norm(norm)
        self.eps = check_positive(eps, "eps")
        self.version = check_choice(version, VERSIONS, "version")
        self.batch_size = check_count(batch_size, "batch_size")
        self.seed = check_count(seed, "seed", minimum=0)
        clip = estimator.clip_values
        if clip is None or not (np.all(np.asarray(clip[0]) == 0) and np.all(np.asarray(clip[1]) == 1)):
            raise ValueError(f"estimator: the canonical AutoAttack attacks inputs in [0, 1], but the classifier's "
                             f"clip_values are {clip}")
        import_pyautoattack()

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial examples for ``x``; ``y`` are the true labels (indices or one-hot), else the predictions."""
        pyautoattack = import_pyautoattack()
        view = ClassifierView(self.estimator)
        labels = (self.estimator.predict(x).argmax(axis=1) if y is None
                  else to_index_labels(y, self.estimator.nb_classes))
        adversary = pyautoattack.AutoAttack(_Logits(view), norm=geometry_of(self.norm).autoattack,
                                            eps=self.eps, version=self.version, seed=self.seed, device=view.device)
        adversary.verbose = False
        # The standard version targets the 9 runner-up classes; with fewer classes there are only K - 1.
        targets = min(9, self.estimator.nb_classes - 1)
        adversary.apgd_targeted.n_target_classes = min(adversary.apgd_targeted.n_target_classes, targets)
        adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, targets)
        with view.eval_mode():
            x_adv, _ = adversary.run_standard_evaluation(torch.from_numpy(x).to(view.device),
                                                         torch.from_numpy(labels).to(view.device),
                                                         batch_size=self.batch_size)
        return x_adv.detach().cpu().numpy().astype(x.dtype)
