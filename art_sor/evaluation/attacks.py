"""ART evasion attacks by name, with defaults per threat model.

Attacks are written as specs, ``name`` or ``name:key=value,...`` (for example ``pgd:steps=50,restarts=3``):

============  ============================================================================  ==========
name          ART attack and defaults                                                       kind
============  ============================================================================  ==========
fgsm          ``FastGradientMethod`` (FGSM for L∞, FGM for L2), one step of ε               white-box
pgd           ``ProjectedGradientDescent``: ``steps=20``, ``restarts=1``, step ε/8          white-box
apgd-ce       ``AutoProjectedGradientDescent``, cross-entropy, ``steps=100``                white-box
apgd-dlr      ``AutoProjectedGradientDescent``, DLR loss, ``steps=100``                     white-box
autoattack    ART's ``AutoAttack`` over APGD-CE, APGD-DLR and Square (``queries=1000``)     white-box
square        ``SquareAttack``, ``queries=1000``                                            black-box
deepfool      ``DeepFool`` (minimal L2 perturbation), ``subset=200``                        white-box
cw-l2         ``CarliniL2Method`` (minimal L2 perturbation), ``subset=100``                 white-box
============  ============================================================================  ==========

ART's ``AutoAttack`` is *not* the canonical Croce–Hein AutoAttack: it is ART's own ensemble runner, here over the
attacks listed above with ART's implementations and these budgets. Reports call it "AutoAttack (ART ensemble)".

Minimal-perturbation attacks (DeepFool, C&W) have no ε: a sample counts as broken when the attack misclassifies
it with a perturbation inside the threat model's ball. ``subset`` runs an attack on the first ``n`` samples only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from art.attacks import EvasionAttack
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

from art_sor.core.checks import check_count, check_positive
from art_sor.core.norms import Norm, art_norm
from art_sor.specs import Spec

AUTOATTACK_NOTE = ("AutoAttack (ART ensemble): ART's AutoAttack runner over ART's APGD-CE, APGD-DLR and Square, "
                   "not the canonical Croce-Hein AutoAttack")


@dataclass(frozen=True)
class PreparedAttack:
    """An ART attack ready to run, with how to read its results.

    :ivar label: Name for tables and plots.
    :ivar attack: The ART attack.
    :ivar white_box: Whether it uses gradients (Square does not).
    :ivar minimal: Minimal-perturbation attack: only perturbations inside the ε-ball count.
    :ivar subset: Number of leading samples it runs on, or ``None`` for all.
    :ivar strength: Ordering key among attacks of one family (total gradient steps), for the diagnostics.
    :ivar ensemble: Several attacks in one (ART's AutoAttack, whose members include black-box Square).
    """

    label: str
    attack: EvasionAttack
    white_box: bool = True
    minimal: bool = False
    subset: int | None = None
    strength: int = 1
    ensemble: bool = False


def _options(spec: Spec, allowed: dict[str, Any]) -> dict[str, Any]:
    options = dict(spec.options)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"attack {spec.name!r} takes no option {unknown}; it takes {sorted(allowed)}")
    return {**allowed, **options}


def prepare_attack(spec: Spec | str, classifier: PyTorchClassifier, eps: float, norm: Norm, batch_size: int = 128
                   ) -> PreparedAttack:
    """Build the ART attack named by ``spec`` for ``classifier`` at radius ``eps`` in ``norm``.

    :raises ValueError: For an unknown attack or option.
    """
    spec = Spec.parse(spec) if isinstance(spec, str) else spec
    eps = check_positive(eps, "eps")
    p = art_norm(norm)
    name = spec.name
    if name == "fgsm":
        _options(spec, {})
        attack = FastGradientMethod(classifier, norm=p, eps=eps, eps_step=eps, batch_size=batch_size)
        return PreparedAttack("FGSM" if norm == "inf" else "FGM", attack, strength=1)
    if name == "pgd":
        o = _options(spec, {"steps": 20, "restarts": 1, "step_size": eps / 8})
        steps, restarts = check_count(o["steps"], "steps"), check_count(o["restarts"], "restarts")
        attack = ProjectedGradientDescent(classifier, norm=p, eps=eps, eps_step=check_positive(o["step_size"],
                                          "step_size"), max_iter=steps, num_random_init=restarts,
                                          batch_size=batch_size, verbose=False)
        label = f"PGD-{steps}" + (f"×{restarts}" if restarts > 1 else "")
        return PreparedAttack(label, attack, strength=steps * restarts)
    if name in ("apgd-ce", "apgd-dlr"):
        o = _options(spec, {"steps": 100, "restarts": 1})
        attack = _apgd(classifier, eps, p, o["steps"], o["restarts"], name, batch_size)
        return PreparedAttack(name.upper(), attack, strength=o["steps"] * o["restarts"])
    if name == "autoattack":
        o = _options(spec, {"steps": 100, "queries": 1000})
        members = [_apgd(classifier, eps, p, o["steps"], 1, "apgd-ce", batch_size),
                   _apgd(classifier, eps, p, o["steps"], 1, "apgd-dlr", batch_size),
                   _square(classifier, eps, p, o["queries"], batch_size)]
        attack = AutoAttack(classifier, norm=p, eps=eps, eps_step=eps, attacks=members, batch_size=batch_size)
        return PreparedAttack("AutoAttack (ART ensemble)", attack, strength=2 * o["steps"], ensemble=True)
    if name == "square":
        o = _options(spec, {"queries": 1000})
        return PreparedAttack(f"Square-{o['queries']}", _square(classifier, eps, p, o["queries"], batch_size),
                              white_box=False, strength=0)
    if name == "deepfool":
        o = _options(spec, {"steps": 50, "subset": 200, "overshoot": 0.02})
        attack = DeepFool(classifier, max_iter=check_count(o["steps"], "steps"), epsilon=o["overshoot"],
                          batch_size=batch_size, verbose=False)
        return PreparedAttack("DeepFool", attack, minimal=True, subset=check_count(o["subset"], "subset"),
                              strength=o["steps"])
    if name == "cw-l2":
        o = _options(spec, {"steps": 20, "search_steps": 5, "subset": 100})
        attack = CarliniL2Method(classifier, max_iter=check_count(o["steps"], "steps"),
                                 binary_search_steps=check_count(o["search_steps"], "search_steps"),
                                 batch_size=batch_size, verbose=False)
        return PreparedAttack("CW-L2", attack, minimal=True, subset=check_count(o["subset"], "subset"),
                              strength=o["steps"] * o["search_steps"])
    raise ValueError(f"unknown attack {name!r}; known: fgsm, pgd, apgd-ce, apgd-dlr, autoattack, square, deepfool, "
                     "cw-l2")


def _apgd(classifier: PyTorchClassifier, eps: float, p: float, steps: int, restarts: int, name: str,
          batch_size: int) -> AutoProjectedGradientDescent:
    # ART starts APGD at step 2·eps_step; eps_step=ε gives the paper's initial step 2ε.
    return AutoProjectedGradientDescent(
        classifier, norm=p, eps=eps, eps_step=eps, max_iter=check_count(steps, "steps"),
        nb_random_init=check_count(restarts, "restarts"), batch_size=batch_size,
        loss_type="cross_entropy" if name == "apgd-ce" else "difference_logits_ratio", verbose=False)


def _square(classifier: PyTorchClassifier, eps: float, p: float, queries: int, batch_size: int) -> SquareAttack:
    return SquareAttack(classifier, norm=p, eps=eps, max_iter=check_count(queries, "queries"), nb_restarts=1,
                        batch_size=batch_size, verbose=False)


DEFAULT_ATTACKS: dict[str, tuple[str, ...]] = {
    "inf": ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "autoattack", "square", "deepfool"),
    "l2": ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "autoattack", "square", "deepfool",
           "cw-l2"),
}
"""Attacks :func:`~art_sor.evaluation.robustness.evaluate_attacks` runs when none are named."""
