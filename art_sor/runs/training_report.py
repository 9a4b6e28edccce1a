"""The ``train`` job's report: accuracies, each model's settings read back from its run key, the recipe's sources.

The report states the settings that produced each number, read back from each model's run key, never from the
command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from art_sor.runs.reports import Report, Table
from art_sor.runs.run_key import RunKey
from art_sor.runs.summaries import TrainingJobRow, train_table
from art_sor.runs.tracking import logs_line


def settings_line(run: RunKey, epochs: int) -> str:
    """The settings of a run key for people to read."""
    setup = run.training_setup(epochs)
    optimizer, schedule = setup.optimizer, setup.schedule
    optimizer_text = f"{optimizer.name} lr {optimizer.lr:g}"
    if optimizer.name == "sgd":
        optimizer_text += f", momentum {optimizer.momentum:g}" + (" (Nesterov)" if optimizer.nesterov else "")
    if optimizer.weight_decay:
        optimizer_text += f", weight decay {optimizer.weight_decay:g}"
    schedule_text = schedule.name + (f" at {list(schedule.milestones)}" if schedule.milestones else "")
    samples = f", first {setup.train_samples} training images" if setup.train_samples else ""
    if setup.select == "best-robust":
        samples += f", last {setup.validation_samples} held out to select the epoch"
    return (f"{run.dataset_spec}{samples}, {setup.architecture}, {epochs} epochs, batch {setup.batch_size}, "
            f"{optimizer_text}, {schedule_text} schedule, augmentation {setup.augmentation}, seed {setup.seed}")


def _how(family: str, norm: str) -> str:
    """How the quick attack ran, for the report's sentence under the table."""
    if family == "pgd":
        return " (ART, step ε/8, one seeded random start)"
    if family == "apgd-ce":
        return (" (Croce–Hein's L1-APGD: sparse steps, radii 3ε, 2ε, ε; pyautoattack)" if norm == "l1"
                else " (ART's APGD)")
    return ""


def train_report(rows: Sequence[TrainingJobRow], command: str, recipe: str = "",
                 sources: dict[str, str] | None = None, paper: dict[str, Any] | None = None) -> Report:
    """The ``train`` job's report: accuracies, each model's settings from its run key, and the recipe's provenance.

    :param recipe: The recipe the job used.
    :param sources: Where the recipe's values that the job kept come from (the paper, the field, an assumption).
    :param paper: Figures the paper reports for the recipe's setting, listed as the paper's, never as measured.
    """
    table = train_table(rows)
    first = rows[0].result.evaluation.robustness
    attack = first.attacks[0]
    how = _how(attack.family, first.threat.norm)
    blocks: list[str | Table] = [
        table,
        f"Clean accuracy on all {rows[0].result.test_images} test images; {attack.label}{how} on the first "
        f"{len(first.clean)}, {first.threat.label}.",
        "## Settings (from each model's run key)",
        Table(["defence", "settings", "selected epoch"],
              [[row.training.defence, settings_line(row.training.run, row.training.epochs),
                str(row.training.selected_epoch)] for row in rows], numeric=False)]
    if sources:
        blocks += [f"## Where the settings of recipe {recipe} come from",
                   Table(["option", "source"], [[key, source] for key, source in sources.items()], numeric=False)]
    if paper:
        blocks += ["## The paper's figures (reported by the paper, not measured by this run)",
                   Table(["figure", "value"], [[key, str(value)] for key, value in paper.items()], numeric=False)]
    logs = logs_line({row.training.defence: row.training.logs or {} for row in rows})
    blocks += [logs] if logs else []
    blocks.append(f"Regenerate with: `{command}`")
    data = {"command": command, "recipe": {"name": recipe, "sources": sources or {}, "paper": paper or {}},
            "results": [row.to_dict() for row in rows]}
    return Report(title=f"Defences trained on {rows[0].training.run.dataset_spec}", blocks=blocks,
                  data=data, tables={"report": table})
