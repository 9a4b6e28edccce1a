"""One report writer for ``train``, ``evaluate``, ``compare`` and ``explain``: Markdown, JSON, CSV and PNG.

A :class:`Report` is built from typed results by the command's library function; :func:`write_report` puts it on
disk atomically, so a reader never sees half a report.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from art_sor.storage import write_json, write_text


@dataclass
class Table:
    """A table of text cells; every column but the first is right-aligned unless ``numeric`` is false."""

    header: list[str]
    rows: list[list[str]]
    numeric: bool = True

    def markdown(self) -> list[str]:
        """Lines of a Markdown table."""
        alignment = "|---|" + ("---:|" if self.numeric else "---|") * (len(self.header) - 1)
        return ["| " + " | ".join(self.header) + " |", alignment, *("| " + " | ".join(row) + " |" for row in self.rows)]

    def csv(self) -> str:
        """The table as CSV."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buffer.getvalue()


@dataclass
class Report:
    """What a command reports.

    :ivar title: The Markdown title.
    :ivar blocks: Markdown paragraphs (text) and tables, in order.
    :ivar data: The JSON document (typed results' ``to_dict``).
    :ivar tables: Tables also written as CSV, by file stem.
    :ivar plots: PNG files, by file name, each drawn by a function of the path.
    """

    title: str
    blocks: list[str | Table] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    plots: dict[str, Callable[[Path], Any]] = field(default_factory=dict)

    def markdown(self) -> str:
        """The report as Markdown."""
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            lines += [*(block.markdown() if isinstance(block, Table) else [block]), ""]
        return "\n".join(lines)


def write_report(report: Report, folder: str | os.PathLike[str], stem: str = "report") -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.json``, the CSV tables and the plots into ``folder``.

    :return: The paths written, by kind or file name.
    """
    folder = Path(folder)
    paths = {"markdown": write_text(folder / f"{stem}.md", report.markdown()),
             "json": write_json(folder / f"{stem}.json", report.data)}
    for name, table in report.tables.items():
        paths[f"{name}.csv"] = write_text(folder / f"{name}.csv", table.csv())
    for name, draw in report.plots.items():
        draw(folder / name)
        paths[name] = folder / name
    return paths


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal, or empty for ``None``."""
    return "" if value is None else f"{100 * value:.1f}"
