"""Tables of text cells, rendered as Markdown (reports, ``to_markdown()`` and ``str()`` of results) or CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


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


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal, or empty for ``None``."""
    return "" if value is None else f"{100 * value:.1f}"
