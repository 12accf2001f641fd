"""``SeriesInfo``: one line of ``report_line_plot``, as ClearML's ``clearml.utilities.plotly_reporter``."""
from __future__ import annotations

from typing import Any, Sequence


class SeriesInfo:
    """A named line: ``data`` holds rows of ``(x, y)`` (an N x 2 array or list of pairs),
    ``labels`` optionally one hover text per row."""

    __slots__ = ("name", "data", "labels")

    def __init__(self, name: str, data: Any, labels: Sequence[str] | None = None):
        rows = data.tolist() if hasattr(data, "tolist") else [list(r) for r in data]
        if not all(isinstance(r, (list, tuple)) and len(r) == 2 for r in rows):
            raise ValueError(f"SeriesInfo {name!r}: data must be rows of two values (x, y), "
                             "e.g. an N x 2 array")
        if labels is not None and len(labels) != len(rows):
            raise ValueError(f"SeriesInfo {name!r}: {len(labels)} labels for {len(rows)} rows of data; "
                             "give one label per row or none")
        self.name = str(name)
        self.data = data
        self.labels = list(labels) if labels is not None else None

    def __repr__(self) -> str:
        return f"SeriesInfo(name={self.name!r}, rows={len(self.data)})"
