"""Defences compared on one dataset, model, epoch budget and set of ART attacks, resumably.

Each defence gets a folder holding its training state (saved every epoch), its finished model and its
evaluation; rerunning a comparison reuses whatever is finished and only does the rest.
"""

from __future__ import annotations

import csv
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
DEFAULT_DEFENCES = ("standard", "sor", "sor:hvp=exact", "sor:iterations=3", "sor:iterations=3,step=frank_wolfe", "gr",
                    "cure", "llr", "madry-pgd", "trades")
AUTOATTACK_GAP = 0.03
"""AutoAttack accuracy more than this below PGD-20's is flagged as possible gradient obfuscation."""
EVALUATION_FILE = "evaluation.json"
EXTRA_FILE = "extra_metrics.json"

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
    """What the extra metrics are (e.g. ``alignment, judge=<path>``); their cache is reused only if this matches."""

    def evaluation_key(self) -> dict[str, Any]:
        """The settings an evaluation depends on; a cached evaluation is reused only if they match."""
        return {"eps": self.threat.eps, "norm": self.threat.norm, "attacks": list(self.attacks),
                "eval_samples": self.eval_samples, "diagnostics": self.diagnostics}


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
        evaluation = _cached(folder / EVALUATION_FILE, plan.evaluation_key())
        if evaluation is None:
            announce(f"[{position}/{len(specs)}] {spec.label}: evaluating")
            evaluation = _evaluate(trained.classifier, data, plan, verbose)
            _store(folder / EVALUATION_FILE, plan.evaluation_key(), evaluation)
        else:
            announce(f"[{position}/{len(specs)}] {spec.label}: evaluation reused")
        extra: dict[str, float] = {}
        if extra_metrics is not None:
            extra = _cached(folder / EXTRA_FILE, plan.extras)
            if extra is None:
                announce(f"[{position}/{len(specs)}] {spec.label}: extra metrics ({plan.extras})")
                extra = extra_metrics(trained.classifier, data, plan.threat)
                _store(folder / EXTRA_FILE, plan.extras, extra)
        rows.append(ComparisonRow(defence=spec.label, seconds_per_epoch=trained.seconds_per_epoch,
                                  history=trained.history, extra=extra, **evaluation))
    return rows


def _cached(path: Path, key: Any) -> Any:
    """What ``_store`` wrote at ``path`` under the same ``key``, else ``None``."""
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    return stored["value"] if stored.get("key") == key else None


def _store(path: Path, key: Any, value: Any) -> None:
    path.write_text(json.dumps({"key": key, "value": value}, indent=2))


def _evaluate(classifier: PyTorchClassifier, data: Dataset, plan: ComparisonPlan, verbose: bool) -> dict[str, Any]:
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
            "geometry": evaluation.geometry.to_dict() if evaluation.geometry else None}


def write_comparison(rows: Sequence[ComparisonRow], plan: ComparisonPlan, data: Dataset, out_dir: str | Path,
                     command: str) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``results.json``, ``robust_vs_time.png`` and ``geometry.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, table = comparison_table(rows)
    paths = {"markdown": out / "results.md", "csv": out / "results.csv", "json": out / "results.json",
             "plot": out / "robust_vs_time.png"}
    setup = plan.setup
    intro = (f"{data.name}, {setup.architecture}, {setup.epochs} epochs (Adam {setup.lr:g}, batch "
             f"{setup.batch_size}, seed {setup.seed}); {plan.threat.label}. Clean accuracy on "
             f"all {len(data.x_test)} test images, attacks on the first {plan.eval_samples}.")
    lines = [f"# Defences compared: {data.name}, {plan.threat.label}", "", intro, "", *_markdown(header, table)]
    geometry = [row for row in rows if row.geometry]
    geometry_header = ["defence", "‖∇ₓℓ‖₂", "‖∇ₓℓ‖_*", "λ_max(∇²ₓℓ)", "γ(ε)", "diagnostics passed"]
    geometry_cells = [[row.defence, f"{row.geometry['gradient_norm']:.3f}", f"{row.geometry['gradient_dual_norm']:.2f}",
                       f"{row.geometry['hessian_eigenvalue']:.3f}", f"{row.geometry['linearity_gap']:.3f}",
                       f"{sum(c['passed'] is True for c in row.checks)}/{len(row.checks)}"] for row in geometry]
    if geometry:
        samples = geometry[0].geometry["samples"]
        lines += ["", f"Loss geometry on the first {samples} test images (means): input-gradient norms, top eigenvalue "
                  "of the input Hessian (power iteration on exact Hessian-vector products) and the local-linearity "
                  "gap γ(ε) (PGD, 10 steps).", "", *_markdown(geometry_header, geometry_cells, numeric=True)]
    lines += ["", f"AutoAttack: {AUTOATTACK_NOTE}. Rows whose AutoAttack accuracy is more than "
              f"{100 * AUTOATTACK_GAP:.0f} points below PGD-20, or that fail a diagnostic of "
              "`art_sor.evaluation.diagnostics`, are flagged as possible gradient obfuscation.", "",
              f"Regenerate with: `{command}`", ""]
    paths["markdown"].write_text("\n".join(lines))
    _write_csv(paths["csv"], header, table)
    if geometry:
        paths["geometry"] = out / "geometry.csv"
        _write_csv(paths["geometry"], geometry_header, geometry_cells)
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


def _markdown(header: list[str], rows: Sequence[list[str]], numeric: bool = False) -> list[str]:
    """Lines of a Markdown table; with ``numeric`` every column but the first is right-aligned."""
    alignment = "|---|" + ("---:|" if numeric else "---|") * (len(header) - 1)
    return ["| " + " | ".join(header) + " |", alignment, *("| " + " | ".join(row) + " |" for row in rows)]


def _write_csv(path: Path, header: list[str], rows: Sequence[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def plot_robust_vs_time(rows: Sequence[ComparisonRow], plan: ComparisonPlan, path: Path) -> None:
    """Scatter of worst-case robust accuracy against training seconds per epoch, one labelled point per defence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    colour = {False: "#4c72b0", True: "#c44e52"}
    for flagged, label in ((False, "no flag"), (True, "flagged: possible gradient obfuscation")):
        ax.scatter([], [], color=colour[flagged], label=label)
    for index, row in enumerate(rows):
        ax.scatter(row.seconds_per_epoch, 100 * row.worst_case_accuracy, color=colour[bool(row.flags)])
        # Alternate labels above and below so that defences with similar cost and robustness stay readable.
        ax.annotate(row.defence, (row.seconds_per_epoch, 100 * row.worst_case_accuracy), textcoords="offset points",
                    xytext=(4, 5 if index % 2 == 0 else -11), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training seconds per epoch (log scale)")
    ax.set_ylabel("worst-case robust accuracy (%)")
    ax.set_title(f"Robustness against training cost: {plan.threat.label}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
