"""Plain-text rendering shared by the front doors and ``rhworker status``: times,
table cells and aligned tables."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import Any


def iso(epoch: float | None) -> str:
    """UTC ISO 8601 with seconds, or '-' for no time."""
    if epoch is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def cell(value: Any) -> str:
    """One value as a table cell: "-" for none, yes/no, an enum by value, on one line."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    text = str(value)
    return " ".join(text.split()) if text else ""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain columns aligned with spaces; the last column is not padded."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = []
    for row in [list(headers), *cells]:
        padded = [text.ljust(widths[i]) for i, text in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)
