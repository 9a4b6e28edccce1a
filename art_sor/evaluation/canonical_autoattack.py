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


def autoattack_members(version: str, norm: Any) -> str:
    """The attacks pyautoattack's ``version`` runs in ``norm``, as its ``_set_version`` sets them."""
    check_choice(version, VERSIONS, "version")
    if version == "plus":
        return ("APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square-5000, APGD-T and FAB-T (9 target "
                "classes each)")
    if version == "rand":
        return "APGD-CE and APGD-DLR, each averaging gradients over 20 draws (EOT), for randomised defences"
    if parse_norm(norm) == "l1":
        return ("L1-APGD-CE (5 restarts), L1-APGD-T (5 target classes), FAB-T (9 target classes), Square-5000; "
                "L1-APGD with the radii schedule 3ε, 2ε, ε")
    return "APGD-CE, APGD-T and FAB-T (9 target classes each), Square-5000"


def import_pyautoattack() -> Any:
    """The ``pyautoattack`` module, or an ``ImportError`` that says how to install it."""
    try:
        import pyautoattack
    except ImportError as error:
        raise ImportError("autoattack-standard and every L1 attack need the canonical AutoAttack and APGD (the "
                          "pyautoattack package): pip install 'art-sor[autoattack]'") from error
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
    :param norm: ``np.inf``/``"inf"``, ``2``/``"l2"`` or ``1``/``"l1"``.
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
        _check_unit_box(estimator, "AutoAttack")
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


class CanonicalAPGD(EvasionAttack):
    """Croce & Hein's APGD (pyautoattack) as an ART ``EvasionAttack``, in its own form for each norm.

    In L1 it is the L1-APGD of Croce & Hein (2021), "Mind the box": sparse steps on the coordinates of largest
    gradient with an adaptive sparsity, the exact projection onto the intersection of the L1 ball and the
    ``[0, 1]`` box, and the schedule of radii 3ε, 2ε, ε that AutoAttack's L1 version uses. ART's
    ``AutoProjectedGradientDescent`` with ``norm=1`` takes dense steps along the L1-normalised gradient and projects
    onto the ball before clipping, which spreads a tiny change over every pixel: it is a weak L1 attack.

    | Paper links: https://arxiv.org/abs/2003.01690, https://arxiv.org/abs/2103.01208

    :param estimator: An ART ``PyTorchClassifier`` whose ``clip_values`` are ``(0, 1)``.
    :param norm: ``np.inf``/``"inf"``, ``2``/``"l2"`` or ``1``/``"l1"``.
    :param eps: Radius of the threat model.
    :param steps: Iterations per restart.
    :param restarts: Random restarts (a sample broken by one is not attacked again).
    :param loss: ``"ce"`` (cross-entropy) or ``"dlr"`` (difference of logits ratio).
    :param seed: APGD's seed.
    """

    attack_params: ClassVar[list[str]] = [*EvasionAttack.attack_params, "norm", "eps", "steps", "restarts", "loss",
                                          "seed"]
    _estimator_requirements = (PyTorchClassifier,)

    def __init__(self, estimator: PyTorchClassifier, norm: Any = 1, eps: float = 10.0, steps: int = 100,
                 restarts: int = 1, loss: str = "ce", seed: int = 0) -> None:
        super().__init__(estimator=estimator)
        self.norm = parse_norm(norm)
        self.eps = check_positive(eps, "eps")
        self.steps = check_count(steps, "steps")
        self.restarts = check_count(restarts, "restarts")
        self.loss = check_choice(loss, ("ce", "dlr"), "loss")
        self.seed = check_count(seed, "seed", minimum=0)
        _check_unit_box(estimator, "APGD")
        import_pyautoattack()

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial examples for ``x``; ``y`` are the true labels (indices or one-hot), else the predictions."""
        from pyautoattack.autopgd_base import APGDAttack

        view = ClassifierView(self.estimator)
        labels = (self.estimator.predict(x).argmax(axis=1) if y is None
                  else to_index_labels(y, self.estimator.nb_classes))
        # A fresh attack per call: the L1 schedule of radii rewrites the attack's eps and iterations as it runs.
        attack = APGDAttack(_Logits(view), n_iter=self.steps, norm=geometry_of(self.norm).autoattack, eps=self.eps,
                            n_restarts=self.restarts, loss=self.loss, seed=self.seed, device=view.device,
                            use_largereps=self.norm == "l1")
        with view.eval_mode():
            x_adv = attack.perturb(torch.from_numpy(x).to(view.device), torch.from_numpy(labels).to(view.device))
        return x_adv.detach().cpu().numpy().astype(x.dtype)


def _check_unit_box(estimator: PyTorchClassifier, attack: str) -> None:
    clip = estimator.clip_values
    if clip is None or not (np.all(np.asarray(clip[0]) == 0) and np.all(np.asarray(clip[1]) == 1)):
        raise ValueError(f"estimator: the canonical {attack} attacks inputs in [0, 1], but the classifier's "
                         f"clip_values are {clip}")
