"""The report of one model's evaluation: accuracy per attack, worst case, diagnostics, geometry, attack notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from art_sor.runs.plots import plot_attacks, plot_security_curve

if TYPE_CHECKING:
    from art_sor.runs.evaluating import TestSetEvaluation

from typing import Any

from art_sor.core.norms import GEOMETRIES
from art_sor.core.threat import format_radius
from art_sor.evaluation.attacks import ART_AUTOATTACK_NOTE
from art_sor.evaluation.canonical_autoattack import autoattack_members
from art_sor.evaluation.full_evaluation import FullEvaluation
from art_sor.runs.reports import Report, Table, percent
from art_sor.specs import Spec


def canonical_note(label: str, version: str, norm: str) -> str:
    """What the canonical AutoAttack of ``version`` ran in ``norm``, for the notes under a report."""
    return (f"{label} is the reference AutoAttack of Croce and Hein (pyautoattack, {version} version in "
            f"{GEOMETRIES[norm].label}: {autoattack_members(version, norm)}), run through art-sor's ART wrapper")


def attack_notes(evaluation: FullEvaluation) -> list[str]:
    """What readers must know about the attacks that ran (which AutoAttack is which, and what it ran)."""
    robustness = evaluation.robustness
    notes = []
    if any(r.label == "AutoAttack (ART ensemble)" for r in robustness.attacks):
        notes.append(ART_AUTOATTACK_NOTE)
    for result in robustness.attacks:
        if result.family == "autoattack-standard":
            version = str(dict(Spec.parse(result.spec).options).get("version", "standard"))
            note = canonical_note(result.label, version, robustness.threat.norm)
            if note not in notes:
                notes.append(note)
    return notes


def evaluation_report(result: TestSetEvaluation, title: str, context: dict[str, Any]) -> Report:
    """The report of one model's evaluation; ``context`` (checkpoint, dataset, training key) goes into the JSON."""
    evaluation = result.evaluation
    r = evaluation.robustness
    threat = r.threat
    attacks = evaluation.attack_table()
    label, samples, accuracy, seconds = attacks.rows[-1]
    attacks.rows[-1] = [f"**{label}**", samples, f"**{accuracy}**", seconds]
    checks = Table(["check", "verdict", "evidence"],
                   [[c.name, {True: "pass", False: "**FAIL**", None: "not run"}[c.passed], c.detail]
                    for c in evaluation.checks], numeric=False)
    blocks: list[str | Table] = [
        f"Threat model: {threat.label}; {len(r.clean)} test images attacked. Clean accuracy on all "
        f"{result.test_images} test images: {percent(result.clean_accuracy)} %.", attacks,
        "A sample counts as robust only if no attack broke it.", "## Gradient-obfuscation diagnostics", checks]
    if evaluation.obfuscation_suspected:
        blocks.append("**Possible gradient obfuscation: at least one diagnostic failed; treat these robust "
                      "accuracies as upper bounds.**")
    if evaluation.curve is not None:
        c = evaluation.curve
        blocks += [f"## Security curve ({c.attack})",
                   Table(["ε", "accuracy (%)"], [[format_radius(e), percent(a)] for e, a in zip(c.eps, c.accuracy,
                                                                                             strict=True)])]
    if evaluation.geometry is not None:
        g = evaluation.geometry
        measures = [["‖∇ₓℓ‖₂", f"{g.gradient_norm:.4g}"], ["dual norm ‖∇ₓℓ‖_*", f"{g.gradient_dual_norm:.4g}"],
                    ["top Hessian eigenvalue", f"{g.hessian_eigenvalue:.4g}"],
                    [f"local-linearity gap γ(ε = {format_radius(threat.eps)})", f"{g.linearity_gap:.4g}"]]
        blocks += [f"## Geometry ({g.samples} samples)", Table(["measure", "mean"], measures)]
    blocks += [f"Note: {note}." for note in attack_notes(evaluation)]
    plots = {"attacks.png": lambda path: plot_attacks(evaluation, path, title)}
    if evaluation.curve is not None:
        plots["security_curve.png"] = lambda path: plot_security_curve(evaluation, path, title)
    return Report(title=title, blocks=blocks, data={**context, **result.to_dict(), "notes": attack_notes(evaluation)},
                  plots=plots)
