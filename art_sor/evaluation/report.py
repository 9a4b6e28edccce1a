"""Evaluation reports on disk: JSON, a Markdown summary and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from art_sor.core.norms import norm_label
from art_sor.evaluation.attacks import AUTOATTACK_NOTE
from art_sor.evaluation.suite import Evaluation


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(evaluation: Evaluation, out_dir: str | Path, title: str = "Robustness evaluation") -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``attacks.png`` and (with a curve) ``security_curve.png``.

    :return: The paths written, by kind.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "attacks": out / "attacks.png"}
    paths["json"].write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
    paths["markdown"].write_text(markdown_summary(evaluation, title))
    plot_attacks(evaluation, paths["attacks"], title)
    if evaluation.curve is not None:
        paths["curve"] = out / "security_curve.png"
        plot_security_curve(evaluation, paths["curve"], title)
    return paths


def markdown_summary(evaluation: Evaluation, title: str) -> str:
    """The report as Markdown: accuracies per attack, worst case, diagnostics and geometry."""
    r = evaluation.robustness
    lines = [f"# {title}", "", f"Threat model: {norm_label(r.norm)}, ε = {r.eps:g}; {len(r.clean)} samples.", "",
             "| attack | samples | accuracy | seconds |", "|---|---:|---:|---:|",
             f"| clean | {len(r.clean)} | {r.clean_accuracy:.1%} | |"]
    for a in r.attacks:
        lines.append(f"| {a.label} | {a.samples} | {a.accuracy:.1%} | {a.seconds:.0f} |")
    lines += [f"| **worst case over all full-set attacks** | {len(r.clean)} | **{r.worst_case_accuracy():.1%}** | |",
              "", "A sample counts as robust only if no attack broke it.", "",
              "## Gradient-obfuscation diagnostics", "",
              "| check | verdict | evidence |", "|---|---|---|"]
    for check in evaluation.checks:
        verdict = {True: "pass", False: "**FAIL**", None: "not run"}[check.passed]
        lines.append(f"| {check.name} | {verdict} | {check.detail} |")
    if evaluation.obfuscation_suspected:
        lines += ["", "**Possible gradient obfuscation: at least one diagnostic failed.**"]
    if evaluation.curve is not None:
        c = evaluation.curve
        lines += ["", f"## Security curve ({c.attack})", "", "| ε | accuracy |", "|---:|---:|"]
        lines += [f"| {e:.4g} | {a:.1%} |" for e, a in zip(c.eps, c.accuracy, strict=True)]
    if evaluation.geometry is not None:
        g = evaluation.geometry
        lines += ["", f"## Geometry ({g.samples} samples)", "",
                  f"- mean ‖∇ₓℓ‖₂: {g.gradient_norm:.4g}", f"- mean dual norm ‖∇ₓℓ‖_*: {g.gradient_dual_norm:.4g}",
                  f"- mean top Hessian eigenvalue: {g.hessian_eigenvalue:.4g}",
                  f"- mean local-linearity gap γ(ε): {g.linearity_gap:.4g}"]
    lines += ["", f"Note: {AUTOATTACK_NOTE}.", ""]
    return "\n".join(lines)


def plot_attacks(evaluation: Evaluation, path: Path, title: str) -> None:
    """Bar chart of accuracy per attack, with clean and worst-case bars."""
    plt = _pyplot()
    r = evaluation.robustness
    labels = ["clean", *[a.label + ("*" if a.samples < len(r.clean) else "") for a in r.attacks], "worst case"]
    values = [r.clean_accuracy, *[a.accuracy for a in r.attacks], r.worst_case_accuracy()]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels)), 4.0))
    bars = ax.bar(range(len(labels)), [100 * v for v in values],
                  color=["#4c72b0"] + ["#dd8452"] * len(r.attacks) + ["#c44e52"])
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{title}: {norm_label(r.norm)}, ε = {r.eps:g}" + (" (* subset)" if "*" in "".join(labels) else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_security_curve(evaluation: Evaluation, path: Path, title: str) -> None:
    """Accuracy against ε, with the evaluated ε and chance level marked."""
    plt = _pyplot()
    c = evaluation.curve
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(c.eps, [100 * a for a in c.accuracy], marker="o", label=c.attack)
    ax.axhline(100 * c.chance, color="grey", linestyle=":", label="chance")
    ax.axvline(evaluation.robustness.eps, color="#c44e52", linestyle="--", label="evaluated ε")
    ax.set_xlabel(f"ε ({norm_label(c.norm)})")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}: security curve")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
