"""The ``explain`` job's report: the scores of an :class:`~art_sor.explain.full_explanation.Explanation`, figures."""

from __future__ import annotations

from typing import Any

from art_sor.core.norms import norm_label
from art_sor.core.threat import format_radius
from art_sor.explain.full_explanation import Explanation
from art_sor.runs.reports import Report, Table


def explanation_report(explanation: Explanation, context: dict[str, Any]) -> Report:
    """Scores as a table, the figures listed; ``context`` (checkpoint, dataset, judge) goes into the JSON."""
    scores = Table(["score", "value"], [[key, f"{value:.3f}"] for key, value in explanation.scores.items()])
    blocks: list[str | Table] = [
        f"Counterfactuals: targeted PGD, {norm_label(explanation.norm)} ε = {format_radius(explanation.eps)}, "
        f"{explanation.steps} steps; images {explanation.images}.", scores,
        "Figures: " + ", ".join(f"`{figure}`" for figure in explanation.figures)]
    if not explanation.judged:
        blocks.append("No judge was given, so no counterfactual was scored by an independent model.")
    return Report(title=f"Explanations of {explanation.model}", blocks=blocks,
                  data={**context, **explanation.to_dict()}, tables={"scores": scores})
