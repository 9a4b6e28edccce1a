"""The figures of the reports: accuracy per attack, security curves, and robustness against compute."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from art_sor.runs.plans import ComparisonPlan
    from art_sor.runs.summaries import DefenceSummary

from collections.abc import Sequence
from pathlib import Path

from art_sor.core.norms import norm_label
from art_sor.core.threat import format_radius
from art_sor.evaluation.full_evaluation import FullEvaluation
from art_sor.plotting import COLOURS, save_figure, style


def plot_attacks(evaluation: FullEvaluation, path: Path, title: str) -> None:
    """Bar chart of accuracy per attack, with clean and worst-case bars."""
    r = evaluation.robustness
    labels = ["clean", *[a.label + ("*" if a.samples < len(r.clean) else "") for a in r.attacks], "worst case"]
    values = [r.clean_accuracy, *[a.accuracy for a in r.attacks], r.worst_case_accuracy()]
    with style() as plt:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels)), 4.0))
        bars = ax.bar(range(len(labels)), [100 * v for v in values],
                      color=[COLOURS[0]] + [COLOURS[1]] * len(r.attacks) + [COLOURS[3]])
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 108)
        ax.grid(axis="x", visible=False)
        subset = " (* on a subset)" if any(a.samples < len(r.clean) for a in r.attacks) else ""
        ax.set_title(f"{title}\n{r.threat.label}{subset}")
        save_figure(fig, path)


def plot_security_curve(evaluation: FullEvaluation, path: Path, title: str) -> None:
    """Accuracy against ε, with the evaluated ε and chance level marked."""
    c = evaluation.curve
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        ax.plot(c.eps, [100 * a for a in c.accuracy], marker="o", color=COLOURS[0], label=c.attack)
        ax.axhline(100 * c.chance, color="grey", linestyle=":", label="chance")
        threat = evaluation.robustness.threat
        ax.axvline(threat.eps, color=COLOURS[3], linestyle="--", label=f"evaluated ε = {format_radius(threat.eps)}")
        if threat.eps in c.eps:  # curves computed before the evaluated ε was one of their points lack it
            at = 100 * c.accuracy[c.eps.index(threat.eps)]
            ax.plot([threat.eps], [at], marker="D", markersize=8, color=COLOURS[3], linestyle="none",
                    label=f"{at:.1f} % at the evaluated ε")
        ax.set_xlabel(f"ε ({norm_label(c.norm)})")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{title}\nsecurity curve")
        ax.legend(loc="upper right")
        save_figure(fig, path)


def plot_robustness_vs_compute(summaries: Sequence[DefenceSummary], plan: ComparisonPlan, path: Path) -> None:
    """Robust accuracy after every epoch against cumulative training time, one colour per defence.

    Thin lines are the per-epoch monitor (one per seed); each defence's final worst case is a large marker with the
    seeds' spread as error bars; the dashed line joins the Pareto front. With budget fractions, each defence has a
    marker per fraction, joined by a line of its colour: its front over the fractions.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    defences: dict[str, list[DefenceSummary]] = {}
    for summary in summaries:
        defences.setdefault(summary.defence, []).append(summary)
    with style() as plt:
        fig, ax = plt.subplots(figsize=(8.5, 5.0))
        for index, (defence, group) in enumerate(defences.items()):
            colour = COLOURS[index % len(COLOURS)]
            marker = "os^Dv<>ph*"[index // len(COLOURS) % 10]
            for row in group[-1].rows:  # the longest run's curve holds the others'
                ax.plot([p["seconds"] for p in row.curve], [100 * p["accuracy"] for p in row.curve], color=colour,
                        alpha=0.8, linewidth=1.2)
            if len(group) > 1:
                ax.plot([s.seconds.mean for s in group], [100 * s.worst_case.mean for s in group], color=colour,
                        linewidth=2.0)
            label = defence + (" (front)" if len(group) == 1 and group[0].on_front else "")
            for position, summary in enumerate(group):
                seconds, worst = summary.seconds, summary.worst_case
                ax.errorbar(seconds.mean, 100 * worst.mean, xerr=seconds.std or None, yerr=100 * worst.std or None,
                            fmt=marker, color=colour, markersize=7, markeredgecolor="black",
                            label=None if position else label)
        front = sorted((s for s in summaries if s.on_front), key=lambda s: s.seconds.mean)
        ax.plot([s.seconds.mean for s in front], [100 * s.worst_case.mean for s in front], linestyle="--",
                color="black", linewidth=1, label="Pareto front")
        ax.set_xscale("log")
        # Plain numbers at 1, 2 and 5 per decade (20, 50, 100, 200) rather than powers of ten, unlabelled minors.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"cumulative training time ({'CPU ' if plan.timing_clock == 'cpu' else ''}seconds, log scale)")
        ax.set_ylabel("robust accuracy (%)")
        markers = ("worst case at each budget fraction, joined per defence"
                   if plan.budget_fractions else "final worst case")
        ax.set_title(f"Robustness against training compute: {plan.threat.label}\nlines: {plan.monitor_attack} on "
                     f"{plan.monitor_samples} test images after each epoch; markers: {markers}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        save_figure(fig, path)
