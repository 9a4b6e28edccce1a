"""The ``train`` job: train several defences, measure clean and quick PGD accuracy, and report them.

The report states the settings that produced each number, read back from each model's run key, never from the
command line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.registry import DEFENCES
from art_sor.runs.evaluating import TestSetEvaluation, evaluate_model
from art_sor.runs.folders import exclusive
from art_sor.runs.plans import EvaluationPlan
from art_sor.runs.reports import Report, Table, percent
from art_sor.runs.tracking import Tracking, logs_line
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.trainers.distributed import DataParallel

QUICK_FILE = "quick_evaluation.json"


@dataclass
class TrainingJobRow:
    """One row of the ``train`` job: how a defence was trained and how it fared."""

    training: dict[str, Any]
    result: TestSetEvaluation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"training": self.training, **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingJobRow:
        """Inverse of :meth:`to_dict`."""
        return cls(training=data["training"], result=TestSetEvaluation.from_dict(data))

    def to_markdown(self) -> str:
        """A short summary: this row of the job's table."""
        return "\n".join(train_table([self]).markdown())

    def __str__(self) -> str:
        return self.to_markdown()


class TrainingJobResult(list[TrainingJobRow]):
    """The rows of :func:`train_defences` (a list), printed as the job's table."""

    def to_markdown(self) -> str:
        """The job's table: epochs, cost, clean and attacked accuracy per defence."""
        return "\n".join(train_table(self).markdown()) if self else "(no rows)"

    def __str__(self) -> str:
        return self.to_markdown()


def train_defences(specs: Sequence[Spec | str], data: Dataset, threat: ThreatModel, setup: TrainingSetup,
                out: str | os.PathLike[str], attack: str = "pgd", eval_samples: int = 1000, overwrite: bool = False,
                verbose: bool = True, announce: Callable[[str], None] = print,
                tracking: Tracking | None = None) -> TrainingJobResult:
    """Train each defence into ``out/<spec folder>`` and attack it with ``attack`` on the first test images.

    The output folder is held by this process throughout (see :mod:`art_sor.runs.folders`). Under
    ``torch.distributed`` every process trains and rank 0 alone evaluates: the other ranks return no rows.

    :param tracking: Log each defence's settings, epochs and evaluation as its own run named by its folder.
    """
    specs = [DEFENCES.check(spec) for spec in specs]
    plan = EvaluationPlan(threat, attacks=(attack,), samples=eval_samples, curve=False, geometry=False)
    rows = TrainingJobResult()
    leader = DataParallel.current().leader
    with exclusive(out) as folder:
        for spec in specs:
            announce(f"training {spec.label} on {data.name} for {setup.epochs} epochs ({threat.label})")
            tracker = tracking.open(spec.folder, folder / spec.folder) if tracking and leader else None
            with tracker or contextlib.nullcontext():
                trained = train_defence(spec, data, threat, setup, folder / spec.folder, verbose=verbose,
                                        overwrite=overwrite, tracker=tracker)
                if trained.world_size > 1 and not leader:
                    continue  # rank 0 evaluates and reports
                identity = trained.key.to_dict() | {"epochs": trained.epochs}
                result = evaluate_model(trained.classifier, data, plan, identity, folder / spec.folder / QUICK_FILE,
                                        verbose=verbose)
                training = trained.summary()
                if tracker is not None:
                    tracker.log_final(result.metrics(), trained.epochs)
                    training["logs"] = tracker.where()
                rows.append(TrainingJobRow(training, result))
    return rows


def settings_line(run: dict[str, Any], epochs: int) -> str:
    """The settings of a run key for people to read."""
    setup, optimizer, schedule = run["setup"], run["setup"]["optimizer"], run["setup"]["schedule"]
    optimizer_text = f"{optimizer['name']} lr {optimizer['lr']:g}"
    if optimizer["name"] == "sgd":
        optimizer_text += f", momentum {optimizer['momentum']:g}" + (" (Nesterov)" if optimizer["nesterov"] else "")
    if optimizer["weight_decay"]:
        optimizer_text += f", weight decay {optimizer['weight_decay']:g}"
    schedule_text = schedule["name"] + (f" at {schedule['milestones']}" if schedule["milestones"] else "")
    samples = f", first {setup['train_samples']} training images" if setup["train_samples"] else ""
    if setup["select"] == "best-robust":
        samples += f", last {setup['validation_samples']} held out to select the epoch"
    return (f"{run['dataset']['spec']}{samples}, {setup['architecture']}, {epochs} epochs, batch "
            f"{setup['batch_size']}, {optimizer_text}, {schedule_text} schedule, augmentation "
            f"{setup['augmentation']}, seed {setup['seed']}")


def train_table(rows: Sequence[TrainingJobRow]) -> Table:
    """Epochs, seconds per epoch, clean accuracy (whole test set) and the attack's accuracy, per defence."""
    attack_label = rows[0].result.evaluation.robustness.attacks[0].label
    return Table(["defence", "epochs", "s/epoch", "clean (%)", f"{attack_label} (%)"],
                 [[row.training["defence"], str(row.training["epochs"]),
                   f"{row.training['training_seconds'] / max(1, row.training['epochs']):.2f}",
                   percent(row.result.clean_accuracy), percent(row.result.evaluation.robustness.attacks[0].accuracy)]
                  for row in rows])


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
              [[row.training["defence"], settings_line(row.training["run"], row.training["epochs"]),
                str(row.training["selected_epoch"])] for row in rows], numeric=False)]
    if sources:
        blocks += [f"## Where the settings of recipe {recipe} come from",
                   Table(["option", "source"], [[key, source] for key, source in sources.items()], numeric=False)]
    if paper:
        blocks += ["## The paper's figures (reported by the paper, not measured by this run)",
                   Table(["figure", "value"], [[key, str(value)] for key, value in paper.items()], numeric=False)]
    logs = logs_line({row.training["defence"]: row.training.get("logs", {}) for row in rows})
    blocks += [logs] if logs else []
    blocks.append(f"Regenerate with: `{command}`")
    data = {"command": command, "recipe": {"name": recipe, "sources": sources or {}, "paper": paper or {}},
            "results": [row.to_dict() for row in rows]}
    return Report(title=f"Defences trained on {rows[0].training['run']['dataset']['spec']}", blocks=blocks,
                  data=data, tables={"report": table})
