"""Attacks by spec (the ``art_sor.attacks`` registry): an ART evasion attack and what kind of attack it is.

An attack factory is ``build(classifier, threat, batch_size, **options) -> PreparedAttack``; ``art-sor list
attacks`` shows the installed ones. The kind of an attack (white-box or black-box, iterative, ensemble,
minimal-perturbation, strength) is declared by its factory, so that reports and diagnostics never read it from
a label.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from art.attacks import EvasionAttack
from art.estimators.classification import PyTorchClassifier

from art_sor.core.norms import Norm, parse_norm
from art_sor.core.threat import ThreatModel
from art_sor.registry import ATTACKS
from art_sor.specs import Spec

ART_AUTOATTACK_NOTE = ("AutoAttack (ART ensemble) is ART's AutoAttack runner over ART's APGD-CE, APGD-DLR and "
                       "Square, not the canonical Croce-Hein AutoAttack")
CANONICAL_AUTOATTACK_LABEL = "AutoAttack (standard, Croce–Hein)"

DEFAULT_ATTACKS: dict[str, tuple[str, ...]] = {
    "inf": ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "square", "deepfool"),
    "l2": ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr", "square", "deepfool", "cw-l2"),
    "l1": ("fgsm", "pgd", "pgd:steps=50,restarts=3", "apgd-ce", "apgd-dlr"),
}
"""Attacks ``art-sor evaluate`` runs when none are named (plus ``autoattack-standard`` when pyautoattack is
installed). ART's own AutoAttack ensemble is not among them: its members run alone, and the per-sample worst case
over them is what the ensemble would report. In L1, ``apgd-ce`` and ``apgd-dlr`` are Croce and Hein's L1-APGD;
ART's PGD stays as the reference the ensemble's gap is measured from."""


def default_attacks(threat: ThreatModel) -> list[str]:
    """The default attack set of ``threat``'s norm, with the canonical AutoAttack when pyautoattack is installed."""
    attacks = list(DEFAULT_ATTACKS[threat.norm])
    if importlib.util.find_spec("pyautoattack") is not None:
        attacks.append("autoattack-standard")
    return attacks


def quick_attack(norm: Norm | float | str, steps: int = 10) -> str:
    """The cheap, strong attack of ``norm`` that ``train``, the robustness monitor and best-robust selection run.

    PGD (ART's, step ε/8, one seeded random start) in L∞ and L2; in L1, where PGD's dense steps are weak (Croce &
    Hein 2021, "Mind the box"), Croce and Hein's L1-APGD on the cross-entropy (see ``apgd-ce``).

    :param steps: Iterations.
    """
    return f"apgd-ce:steps={steps}" if parse_norm(norm) == "l1" else f"pgd:steps={steps}"


@dataclass(frozen=True)
class PreparedAttack:
    """An ART attack ready to run, with what kind of attack it is.

    :ivar label: Name for tables and plots.
    :ivar attack: The ART attack.
    :ivar white_box: Whether it uses gradients (Square does not).
    :ivar iterative: Whether it takes more than one gradient step (FGSM does not).
    :ivar ensemble: Several attacks in one (ART's and the canonical AutoAttack).
    :ivar minimal: Minimal-perturbation attack (no ε): only perturbations inside the ε-ball count.
    :ivar subset: Number of leading samples it runs on, or ``None`` for all.
    :ivar strength: Total gradient steps, to order attacks of one family in the diagnostics.
    """

    label: str
    attack: EvasionAttack
    white_box: bool = True
    iterative: bool = True
    ensemble: bool = False
    minimal: bool = False
    subset: int | None = None
    strength: int = 1


def prepare_attack(spec: Spec | str, classifier: PyTorchClassifier, threat: ThreatModel, batch_size: int = 128
                   ) -> PreparedAttack:
    """Build the attack named by ``spec`` for ``classifier`` under ``threat``.

    :raises art_sor.registry.RegistryError: For an unknown attack or option.
    :raises ValueError: For an option value out of range.
    """
    prepared = ATTACKS.build(spec, classifier, threat, batch_size)
    if not isinstance(prepared, PreparedAttack):
        raise TypeError(f"attack {Spec.of(spec).name!r}: its factory returned a {type(prepared).__name__}, not a "
                        "PreparedAttack")
    return prepared
