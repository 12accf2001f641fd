"""Verdicts of reproductions: which task reproduces which, and how it compared."""
from __future__ import annotations

import json
from typing import Any

from .store_base import _now

PENDING = "pending"


class VerdictQueries:
    """Queries on the verdicts table (a mixin of Store)."""

    def set_verdict(self, task_id: str, reference_id: str, verdict: str = PENDING,
                    details: dict[str, Any] | None = None) -> None:
        """Mark ``task_id`` as a reproduction of ``reference_id`` with its verdict (``pending``
        until it has run and been compared)."""
        with self.transaction() as conn:
            self._get(conn, task_id, "id")
            conn.execute("INSERT INTO verdicts(task_id, reference_id, verdict, details, created) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT(task_id) DO UPDATE SET "
                         "reference_id = excluded.reference_id, verdict = excluded.verdict, "
                         "details = excluded.details, created = excluded.created",
                         (task_id, reference_id, verdict, json.dumps(details or {}), _now()))

    def get_verdict(self, task_id: str) -> dict[str, Any] | None:
        """``{task_id, reference_id, verdict, details, created}`` or None (not a reproduction)."""
        rows = self.rows("SELECT task_id, reference_id, verdict, details, created FROM verdicts "
                         "WHERE task_id = ?", (task_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["details"] = json.loads(row["details"])
        return row

    def reproductions_of(self, reference_id: str) -> list[dict[str, Any]]:
        """The reproductions of ``reference_id``, oldest first."""
        return [dict(r) for r in self.rows(
            "SELECT task_id, verdict, created FROM verdicts WHERE reference_id = ? ORDER BY created",
            (reference_id,))]
