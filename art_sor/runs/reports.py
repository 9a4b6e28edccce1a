"""One report writer for ``train``, ``evaluate``, ``compare`` and ``explain``: Markdown, JSON, CSV and PNG.

A :class:`Report` is built from typed results by the command's library function; :func:`write_report` puts it on
disk atomically, so a reader never sees half a report.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from art_sor.storage import write_json, write_text
from art_sor.tables import Table, percent

__all__ = ["Report", "Table", "Written", "percent", "write_report"]


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


Written = tuple[Report, dict[str, Path]]
"""A job's report and the files it wrote, by kind."""


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
