"""art-sor's built-in attacks, registered in the ``art_sor.attacks`` entry-point group.

Each factory builds an ART evasion attack for the threat model and says what kind of attack it is.
"""

from __future__ import annotations

from art.attacks.evasion import (
    AutoAttack,
    AutoProjectedGradientDescent,
    CarliniL2Method,
    DeepFool,
    FastGradientMethod,
    ProjectedGradientDescent,
    SquareAttack,
)
from art.estimators.classification import PyTorchClassifier

from art_sor.core.checks import check_count, check_non_negative, check_positive
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.attacks import CANONICAL_AUTOATTACK_LABEL, PreparedAttack
from art_sor.evaluation.canonical_autoattack import CanonicalAPGD, CanonicalAutoAttack

SQUARE_NORMS = ("inf", "l2")


def fgsm(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int) -> PreparedAttack:
    """ART FastGradientMethod: one step of ε (FGSM for L∞, FGM for L2).

    | Paper link: https://arxiv.org/abs/1412.6572
    """
    attack = FastGradientMethod(classifier, norm=threat.geometry.order, eps=threat.eps, eps_step=threat.eps,
                                batch_size=batch_size)
    return PreparedAttack("FGSM" if threat.norm == "inf" else "FGM", attack, iterative=False, strength=1)


def pgd(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 20, restarts: int = 1,
        step_size: float | None = None) -> PreparedAttack:
    """ART ProjectedGradientDescent: random start, steps of step_size (default ε/8), restarts.

    | Paper link: https://arxiv.org/abs/1706.06083

    :param steps: Iterations per start.
    :param restarts: Random starts; a sample counts as broken if any start breaks it.
    :param step_size: Step length in the threat model's norm, by default ε/8.
    """
    steps, restarts = check_count(steps, "steps"), check_count(restarts, "restarts")
    step = check_positive(step_size, "step_size") if step_size is not None else threat.eps / 8
    attack = ProjectedGradientDescent(classifier, norm=threat.geometry.order, eps=threat.eps, eps_step=step,
                                      max_iter=steps, num_random_init=restarts, batch_size=batch_size, verbose=False)
    label = f"PGD-{steps}" + (f"×{restarts}" if restarts > 1 else "")
    return PreparedAttack(label, attack, iterative=steps > 1, strength=steps * restarts)


def _apgd(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int, restarts: int,
          loss_type: str) -> AutoProjectedGradientDescent | CanonicalAPGD:
    if threat.norm == "l1":
        # ART's APGD has no L1 form of its own (dense L1-normalised steps): the canonical L1-APGD runs instead.
        return CanonicalAPGD(classifier, norm=threat.norm, eps=threat.eps, steps=steps, restarts=restarts,
                             loss="ce" if loss_type == "cross_entropy" else "dlr")
    # ART starts APGD at step 2·eps_step; eps_step=ε gives the paper's initial step 2ε.
    return AutoProjectedGradientDescent(
        classifier, norm=threat.geometry.order, eps=threat.eps, eps_step=threat.eps,
        max_iter=check_count(steps, "steps"), nb_random_init=check_count(restarts, "restarts"),
        batch_size=batch_size, loss_type=loss_type, verbose=False)


def _square(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, queries: int) -> SquareAttack:
    # ART accepts norm=1 but then runs its L2 search: refuse rather than report an L2 attack as L1.
    if threat.norm not in SQUARE_NORMS:
        raise ValueError(f"square: ART's SquareAttack has no {threat.geometry.label} version (it has L∞ and L2)")
    return SquareAttack(classifier, norm=threat.geometry.order, eps=threat.eps,
                        max_iter=check_count(queries, "queries"), nb_restarts=1, batch_size=batch_size,
                        verbose=False)


def apgd_ce(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 100,
            restarts: int = 1) -> PreparedAttack:
    """APGD on the cross-entropy loss (steps=100): ART's in L∞ and L2, Croce–Hein's L1-APGD in L1 (pyautoattack).

    | Paper links: https://arxiv.org/abs/2003.01690, https://arxiv.org/abs/2103.01208

    :param steps: Iterations per restart (APGD adapts its step size).
    :param restarts: Random restarts.
    """
    return PreparedAttack("APGD-CE", _apgd(classifier, threat, batch_size, steps, restarts, "cross_entropy"),
                          strength=steps * restarts)


def apgd_dlr(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 100,
             restarts: int = 1) -> PreparedAttack:
    """APGD on the DLR loss (steps=100): ART's in L∞ and L2, Croce–Hein's L1-APGD in L1 (pyautoattack).

    | Paper links: https://arxiv.org/abs/2003.01690, https://arxiv.org/abs/2103.01208

    :param steps: Iterations per restart (APGD adapts its step size).
    :param restarts: Random restarts.
    """
    return PreparedAttack("APGD-DLR", _apgd(classifier, threat, batch_size, steps, restarts,
                                            "difference_logits_ratio"), strength=steps * restarts)


def autoattack(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 100,
               queries: int = 1000) -> PreparedAttack:
    """ART's AutoAttack runner over ART's APGD-CE, APGD-DLR and Square; not the canonical Croce–Hein one.

    | Paper link: https://arxiv.org/abs/2003.01690

    :param steps: Iterations of each APGD.
    :param queries: Queries of Square.
    """
    members = [_apgd(classifier, threat, batch_size, steps, 1, "cross_entropy"),
               _apgd(classifier, threat, batch_size, steps, 1, "difference_logits_ratio"),
               _square(classifier, threat, batch_size, queries)]
    attack = AutoAttack(classifier, norm=threat.geometry.order, eps=threat.eps, eps_step=threat.eps,
                        attacks=members, batch_size=batch_size)
    return PreparedAttack("AutoAttack (ART ensemble)", attack, ensemble=True, strength=2 * steps)


def autoattack_standard(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int,
                        version: str = "standard", seed: int = 0) -> PreparedAttack:
    """Canonical AutoAttack (Croce–Hein, pyautoattack): APGD-CE, APGD-T, FAB-T, Square-5000; art-sor[autoattack].

    | Paper link: https://arxiv.org/abs/2003.01690

    :param version: standard, plus (more restarts, APGD-DLR and untargeted FAB) or rand (EOT, for randomised models).
    :param seed: AutoAttack's seed.
    """
    attack = CanonicalAutoAttack(classifier, norm=threat.geometry.order, eps=threat.eps, version=version,
                                 batch_size=batch_size, seed=seed)
    label = CANONICAL_AUTOATTACK_LABEL if version == "standard" else f"AutoAttack ({version}, Croce–Hein)"
    return PreparedAttack(label, attack, ensemble=True, strength=100 * 10)


def square(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, queries: int = 1000
           ) -> PreparedAttack:
    """ART SquareAttack, black-box random search (queries=1000).

    | Paper link: https://arxiv.org/abs/1912.00049

    :param queries: Model queries per sample.
    """
    return PreparedAttack(f"Square-{queries}", _square(classifier, threat, batch_size, queries), white_box=False,
                          strength=0)


def deepfool(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 50,
             subset: int = 200, overshoot: float = 0.02) -> PreparedAttack:
    """ART DeepFool, minimal L2 perturbation; counts only inside ε (subset=200).

    | Paper link: https://arxiv.org/abs/1511.04599

    :param steps: Iterations.
    :param subset: Leading samples it runs on (it is slow).
    :param overshoot: Overshoot past the decision boundary.
    """
    attack = DeepFool(classifier, max_iter=check_count(steps, "steps"),
                      epsilon=check_non_negative(overshoot, "overshoot"), batch_size=batch_size, verbose=False)
    return PreparedAttack("DeepFool", attack, minimal=True, subset=check_count(subset, "subset"), strength=steps)


def cw_l2(classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int, steps: int = 20,
          search_steps: int = 5, subset: int = 100) -> PreparedAttack:
    """ART CarliniL2Method, minimal L2 perturbation; counts only inside ε (subset=100).

    | Paper link: https://arxiv.org/abs/1608.04644

    :param steps: Iterations per binary-search step.
    :param search_steps: Binary-search steps over the trade-off constant.
    :param subset: Leading samples it runs on (it is slow).
    """
    attack = CarliniL2Method(classifier, max_iter=check_count(steps, "steps"),
                             binary_search_steps=check_count(search_steps, "search_steps"), batch_size=batch_size,
                             verbose=False)
    return PreparedAttack("CW-L2", attack, minimal=True, subset=check_count(subset, "subset"),
                          strength=steps * search_steps)
