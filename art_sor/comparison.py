"""Defences compared on one dataset, model, epoch budget and set of ART attacks, resumably.

Each defence gets a folder holding its training state (saved every epoch), its finished model and its
evaluation; rerunning a comparison reuses whatever is finished and only does the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_sor.data import Dataset
from art_sor.defences import ThreatModel
from art_sor.evaluation.attacks import AUTOATTACK_NOTE
from art_sor.evaluation.suite import evaluate_classifier
from art_sor.experiment import TrainingSetup, train_defence
from art_sor.specs import Spec

COMPARE_ATTACKS = ("fgsm", "pgd", "pgd:steps=50,restarts=3", "autoattack", "square")
DEFAULT_DEFENCES = ("standard", "sor", "sor:iterations=3", "gr", "cure", "llr", "madry-pgd", "trades")
AUTOATTACK_GAP = 0.03
"""AutoAttack accuracy more than this below PGD-20's is flagged as possible gradient obfuscation."""
EVALUATION_FILE = "evaluation.json"

ExtraMetrics = Callable[[PyTorchClassifier, Dataset, ThreatModel], dict[str, float]]


@dataclass(frozen=True)
class ComparisonPlan:
    """What is compared and how it is evaluated; equal plans give comparable rows."""

    threat: ThreatModel
    setup: TrainingSetup
    attacks: tuple[str, ...] = COMPARE_ATTACKS
    eval_samples: int = 1000
    diagnostics: bool = True
    extras: str = ""
    """What the extra metrics are (e.g. ``alignment, judge=<path>``), so that cached evaluations match them."""

    def evaluation_key(self) -> dict[str, Any]:
        """The settings an evaluation depends on; a cached evaluation is reused only if they match."""
        return {"eps": self.threat.eps, "norm": self.threat.norm, "attacks": list(self.attacks),
                "eval_samples": self.eval_samples, "diagnostics": self.diagnostics, "extras": self.extras}


@dataclass
class ComparisonRow:
    """One defence's training cost and evaluation."""

    defence: str
    seconds_per_epoch: float
    clean_accuracy: float
    attacks: dict[str, float]
    worst_case_accuracy: float
    checks: list[dict[str, Any]]
    geometry: dict[str, float] | None
    history: list[dict[str, Any]]
    extra: dict[str, float] = field(default_factory=dict)

    def accuracy(self, label_prefix: str) -> float | None:
        """Accuracy of the first attack whose label starts with ``label_prefix``."""
        return next((v for k, v in self.attacks.items() if k.startswith(label_prefix)), None)

    @property
    def autoattack_gap(self) -> float | None:
        """PGD-20 accuracy minus AutoAttack accuracy."""
        pgd, autoattack = self.accuracy("PGD-20"), self.accuracy("AutoAttack")
        return None if pgd is None or autoattack is None else pgd - autoattack

    @property
    def flags(self) -> list[str]:
        """Reasons to suspect gradient obfuscation."""
        flags = [f"failed: {c['name']}" for c in self.checks if c["passed"] is False]
        gap = self.autoattack_gap
        if gap is not None and gap > AUTOATTACK_GAP:
            flags.insert(0, f"AutoAttack {100 * gap:.1f} points below PGD-20")
        return flags

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"defence": self.defence, "seconds_per_epoch": self.seconds_per_epoch,
                "clean_accuracy": self.clean_accuracy, "attacks": self.attacks,
                "worst_case_accuracy": self.worst_case_accuracy, "autoattack_gap": self.autoattack_gap,
                "flags": self.flags, "checks": self.checks, "geometry": self.geometry, "extra": self.extra,
                "history": self.history}


def run_comparison(defences: Sequence[str | Spec], data: Dataset, plan: ComparisonPlan, out_dir: str | Path,
                   extra_metrics: ExtraMetrics | None = None, verbose: bool = True,
                   announce: Callable[[str], None] = print) -> list[ComparisonRow]:
    """Train (or resume) and evaluate every defence; return one row per defence in the given order."""
    out = Path(out_dir)
    rows = []
    specs = [d if isinstance(d, Spec) else Spec.parse(d) for d in defences]
    for position, spec in enumerate(specs, 1):
        folder = out / spec.folder
        announce(f"[{position}/{len(specs)}] {spec.label}: training")
        trained = train_defence(spec, data, plan.threat, plan.setup, folder, verbose=verbose)
        cached = _load_evaluation(folder, plan)
        if cached is None:
            announce(f"[{position}/{len(specs)}] {spec.label}: evaluating")
            cached = _evaluate(trained.classifier, data, plan, extra_metrics, verbose)
            (folder / EVALUATION_FILE).write_text(json.dumps({"key": plan.evaluation_key(), **cached}, indent=2))
        else:
            announce(f"[{position}/{len(specs)}] {spec.label}: evaluation reused")
        rows.append(ComparisonRow(defence=spec.label, seconds_per_epoch=trained.seconds_per_epoch,
                                  history=trained.history, **cached))
    return rows


def _load_evaluation(folder: Path, plan: ComparisonPlan) -> dict[str, Any] | None:
    path = folder / EVALUATION_FILE
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    if stored.pop("key") != plan.evaluation_key():
        return None
    return stored


def _evaluate(classifier: PyTorchClassifier, data: Dataset, plan: ComparisonPlan,
              extra_metrics: ExtraMetrics | None, verbose: bool) -> dict[str, Any]:
    x, y = data.x_test[:plan.eval_samples], data.y_test[:plan.eval_samples]
    evaluation = evaluate_classifier(classifier, x, y, plan.threat.eps, plan.threat.norm, attacks=plan.attacks,
                                     curve=plan.diagnostics, curve_points=6, curve_samples=200,
                                     geometry=plan.diagnostics, geometry_samples=200, verbose=verbose)
    full_clean = float((classifier.predict(data.x_test).argmax(1) == data.y_test).mean())
    r = evaluation.robustness
    return {"clean_accuracy": full_clean,
            "attacks": {a.label: a.accuracy for a in r.attacks},
            "worst_case_accuracy": r.worst_case_accuracy(),
            "checks": [c.to_dict() for c in evaluation.checks] if plan.diagnostics else [],
            "geometry": evaluation.geometry.to_dict() if evaluation.geometry else None,
            "extra": extra_metrics(classifier, data, plan.threat) if extra_metrics else {}}


def write_comparison(rows: Sequence[ComparisonRow], plan: ComparisonPlan, data: Dataset, out_dir: str | Path,
                     command: str) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``results.json`` and ``robust_vs_time.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, table = comparison_table(rows)
    paths = {"markdown": out / "results.md", "csv": out / "results.csv", "json": out / "results.json",
             "plot": out / "robust_vs_time.png"}
    setup = plan.setup
    intro = (f"{data.name}, {setup.architecture}, {setup.epochs} epochs (Adam {setup.lr:g}, batch "
             f"{setup.batch_size}, seed {setup.seed}); L{plan.threat.norm} ε = {plan.threat.eps:g}. Clean accuracy on "
             f"all {len(data.x_test)} test images, attacks on the first {plan.eval_samples}.")
    lines = [f"# Defences compared: {data.name}, L{plan.threat.norm}, ε = {plan.threat.eps:g}", "", intro, "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    lines += ["", f"AutoAttack: {AUTOATTACK_NOTE}. Rows whose AutoAttack accuracy is more than "
              f"{100 * AUTOATTACK_GAP:.0f} points below PGD-20, or that fail a diagnostic of "
              "`art_sor.evaluation.diagnostics`, are flagged as possible gradient obfuscation.", "",
              f"Regenerate with: `{command}`", ""]
    paths["markdown"].write_text("\n".join(lines))
    with open(paths["csv"], "w") as f:
        f.write(",".join(_csv(h) for h in header) + "\n")
        f.writelines(",".join(_csv(c) for c in row) + "\n" for row in table)
    paths["json"].write_text(json.dumps({"dataset": data.name, "threat": vars(plan.threat),
                                         "setup": vars(setup), "attacks": list(plan.attacks),
                                         "eval_samples": plan.eval_samples, "command": command,
                                         "notes": [AUTOATTACK_NOTE],
                                         "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    plot_robust_vs_time(rows, plan, paths["plot"])
    return paths


def comparison_table(rows: Sequence[ComparisonRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the comparison table (accuracies in percent)."""
    attack_labels = list(dict.fromkeys(label for row in rows for label in row.attacks))
    extra_labels = list(dict.fromkeys(label for row in rows for label in row.extra))
    header = ["defence", "s/epoch", "× standard", "clean", *attack_labels, "worst case", *extra_labels, "flags"]
    base = next((r.seconds_per_epoch for r in rows if r.defence == "standard"), None)
    table = []
    for row in rows:
        cells = [row.defence, f"{row.seconds_per_epoch:.1f}",
                 f"{row.seconds_per_epoch / base:.2f}" if base else "", f"{100 * row.clean_accuracy:.1f}"]
        cells += [f"{100 * row.attacks[label]:.1f}" if label in row.attacks else "" for label in attack_labels]
        cells.append(f"{100 * row.worst_case_accuracy:.1f}")
        cells += [f"{row.extra[label]:.3f}" if label in row.extra else "" for label in extra_labels]
        cells.append("; ".join(row.flags) or "none")
        table.append(cells)
    return header, table


def _csv(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


def plot_robust_vs_time(rows: Sequence[ComparisonRow], plan: ComparisonPlan, path: Path) -> None:
    """Scatter of worst-case robust accuracy against training seconds per epoch, one labelled point per defence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for row in rows:
        ax.scatter(row.seconds_per_epoch, 100 * row.worst_case_accuracy, color="#c44e52" if row.flags else "#4c72b0")
        ax.annotate(row.defence, (row.seconds_per_epoch, 100 * row.worst_case_accuracy), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training seconds per epoch (log scale)")
    ax.set_ylabel("worst-case robust accuracy (%)")
    ax.set_title(f"Robustness against training cost: L{plan.threat.norm}, ε = {plan.threat.eps:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
