"""The report of a comparison: the table per defence, the reference models and the text that says how to read them."""

from __future__ import annotations

from collections.abc import Sequence

from art_sor.data import Dataset
from art_sor.evaluation.diagnostics import ENSEMBLE_GAP, Check, ensemble_gap_threshold
from art_sor.runs.evaluation_report import attack_notes
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.plots import plot_robustness_vs_compute
from art_sor.runs.reports import Report, Table
from art_sor.runs.summaries import (
    ComparisonRow,
    ReferenceRow,
    comparison_table,
    obfuscation_flags,
    summarise,
)
from art_sor.runs.tracking import logs_line


def checks_passed(checks: Sequence[Check]) -> str:
    """``4/4 (2 not run)``: the checks that passed out of those that ran, so that one not run never reads as failed."""
    ran = [check for check in checks if check.passed is not None]
    text = f"{sum(check.passed is True for check in ran)}/{len(ran)}"
    return text + (f" ({len(checks) - len(ran)} not run)" if len(ran) < len(checks) else "")


def reference_table(references: Sequence[ReferenceRow]) -> Table:
    """Accuracies of the reference models, with their obfuscation flags."""
    labels = list(dict.fromkeys(a.label for row in references for a in row.result.evaluation.robustness.attacks))
    cells = []
    for row in references:
        accuracy = {a.label: a.accuracy for a in row.result.evaluation.robustness.attacks}
        cells.append([row.name, f"{100 * row.result.clean_accuracy:.1f}",
                      *[f"{100 * accuracy[label]:.1f}" if label in accuracy else "" for label in labels],
                      f"{100 * row.result.evaluation.robustness.worst_case_accuracy():.1f}",
                      "; ".join(obfuscation_flags(row.result)) or "none"])
    return Table(["reference model", "clean", *labels, "worst case", "flags"], cells)


def comparison_report(rows: Sequence[ComparisonRow], plan: ComparisonPlan, data: Dataset, command: str,
                      budget_note: str = "", references: Sequence[ReferenceRow] = ()) -> Report:
    """The comparison's report: table, reference models, geometry, notes on timing and attacks, compute plot."""
    summaries = summarise(rows)
    table = comparison_table(summaries)
    first = rows[0]
    setup = first.training.run.training_setup(first.training.epochs)
    evaluation = first.result.evaluation
    clock_text = {"wall": "wall-clock seconds", "cpu": "CPU seconds of the training process (all its threads)"}
    protocol = (f"each defence trained whole epochs until its training time reached {plan.budget.seconds:.0f} "
                f"{clock_text[plan.timing_clock]}" + (f" ({budget_note})" if budget_note else "")
                if plan.budget else f"equal epochs ({plan.setup.epochs})")
    if plan.budget_fractions:
        protocol += (", and the model of the first epoch whose training time crossed each of "
                     f"{', '.join(f'{100 * f:g} %' for f in plan.budget_fractions)} of it was kept and evaluated (a "
                     "row per defence and fraction)")
    attacked = len(evaluation.robustness.clean)
    blocks: list[str | Table] = [
        f"{data.name}, {setup.architecture}, {plan.threat.label}; {protocol}. Seeds: "
        f"{', '.join(map(str, sorted({row.seed for row in rows})))} (the seeds column counts each row's). Clean "
        f"accuracy on all {first.result.test_images} test images, attacks "
        f"on the first {len(evaluation.robustness.clean)}; with several seeds, cells are mean ± standard deviation.",
        table,
        f"Training time is measured in {clock_text[plan.timing_clock]}, per epoch, excluding validation and the "
        f"per-epoch robustness measurement ({plan.monitor_attack} on {plan.monitor_samples} test images) that draws "
        "the curves. A defence is on the Pareto front when no other one is at least as robust (mean worst case) in at "
        "most the same mean training time.",
        f"Rows whose AutoAttack accuracy is more than {100 * ensemble_gap_threshold(attacked):.1f} points below the "
        f"PGD reference ({100 * ENSEMBLE_GAP:.0f} points plus two standard errors on {attacked} images), or that "
        "fail a diagnostic of `art_sor.evaluation.diagnostics`, are flagged as possible gradient obfuscation.",
        *[f"Note: {note}." for note in attack_notes(evaluation)], *_unreached(rows, plan)]
    tables = {"results": table}
    if references:
        tables["references"] = reference_table(references)
        blocks[2:2] = ["Reference models, not trained here: evaluated with the same attacks on the same test images "
                       "(they are in no mean, Pareto front or plot above).", tables["references"]]
    geometry_rows = [row for row in rows if row.result.evaluation.geometry]
    if geometry_rows:
        geometry = Table(["defence", "seed", "‖∇ₓℓ‖₂", "‖∇ₓℓ‖_*", "λ_max(∇²ₓℓ)", "γ(ε)", "diagnostics passed"],
                         [[row.defence, str(row.seed), f"{g.gradient_norm:.3f}", f"{g.gradient_dual_norm:.2f}",
                           f"{g.hessian_eigenvalue:.3f}", f"{g.linearity_gap:.3f}",
                           checks_passed(row.result.evaluation.checks)]
                          for row in geometry_rows for g in [row.result.evaluation.geometry]])
        tables["geometry"] = geometry
        blocks += [f"Loss geometry on the first {geometry_rows[0].result.evaluation.geometry.samples} test images "
                   "(means): input-gradient norms, top eigenvalue of the input Hessian (power iteration on exact "
                   "Hessian-vector products) and the local-linearity gap γ(ε) (PGD, 10 steps).", geometry]
    logs = logs_line({f"{row.defence} (seed {row.seed})": row.training.logs or {} for row in rows})
    blocks += [logs] if logs else []
    blocks.append(f"Regenerate with: `{command}`")
    data_json = {"dataset": data.name, "threat": plan.threat.to_dict(), "evaluation": plan.evaluation.key(),
                 "budget": plan.budget.to_dict() if plan.budget else None,
                 **({"budget_fractions": list(plan.budget_fractions)} if plan.budget_fractions else {}),
                 "clock": plan.timing_clock,
                 "seeds": list(plan.seeds), "command": command, "notes": attack_notes(evaluation),
                 "pareto_front": [s.defence for s in summaries if s.on_front],
                 "rows": [row.to_dict() for row in rows], "references": [row.to_dict() for row in references]}
    return Report(title=f"Defences compared: {data.name}, {plan.threat.label}", blocks=blocks, data=data_json,
                  tables=tables,
                  plots={"robust_vs_compute.png": lambda path: plot_robustness_vs_compute(summaries, plan, path)})


def _unreached(rows: Sequence[ComparisonRow], plan: ComparisonPlan) -> list[str]:
    """A note for each run that stopped at its epoch cap before crossing some of the budget fractions."""
    reached: dict[tuple[str, int], set[float | None]] = {}
    for row in rows:
        reached.setdefault((row.defence, row.seed), set()).add(row.budget_fraction)
    notes = []
    for (defence, seed), fractions in reached.items():
        missing = [f"{100 * f:g} %" for f in plan.budget_fractions if f not in fractions]
        if missing:
            notes.append(f"Note: {defence} (seed {seed}) stopped at the cap of {plan.setup.epochs} epochs before "
                         f"crossing {', '.join(missing)} of the budget, which have no row of it.")
    return notes
