"""Outputs of a task: its scalars and its artifact rows."""
from __future__ import annotations

import json
from typing import Any

from .exceptions import LocaltaskError
from .store_base import _now


class OutputQueries:
    """Queries on scalars and artifacts (a mixin of Store)."""

    # ------------------------------------------------------------------ scalars
    def add_scalars(self, task_seq: int, rows: list[tuple]) -> None:
        """Append ``(title, series, iteration, value, ts)`` rows for the task with ``task_seq``."""
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany("INSERT INTO scalars(task_seq, title, series, iteration, value, ts) "
                             "VALUES (?, ?, ?, ?, ?, ?)", [(task_seq, *r) for r in rows])

    def get_scalars(self, task_id: str, *, with_time: bool = False) -> list[dict[str, Any]]:
        """Points by title, series and iteration; ``with_time`` adds each one's wall time ``ts``."""
        columns = "title, series, iteration, value" + (", ts" if with_time else "")
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return [dict(r) for r in conn.execute(
                f"SELECT {columns} FROM scalars WHERE task_seq = ? "
                "ORDER BY title, series, iteration, rowid", (seq,))]

    def count_scalars(self, task_id: str) -> int:
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return conn.execute("SELECT count(*) FROM scalars WHERE task_seq = ?", (seq,)).fetchone()[0]

    # ------------------------------------------------------------------ artifacts
    def add_artifact(self, task_id: str, name: str, kind: str, filename: str, size: int,
                     sha256: str, meta: dict) -> None:
        with self.transaction() as conn:
            self._get(conn, task_id, "id")
            conn.execute(
                "INSERT INTO artifacts(task_id, name, kind, filename, size, sha256, created, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(task_id, name) DO UPDATE SET "
                "kind = excluded.kind, filename = excluded.filename, size = excluded.size, "
                "sha256 = excluded.sha256, created = excluded.created, meta = excluded.meta",
                (task_id, name, kind, filename, size, sha256, _now(), json.dumps(meta)))

    def delete_artifacts(self, task_id: str, names: list[str]) -> list[str]:
        """Delete the artifact rows ``names`` of a task (in one transaction); returns their
        files, for the caller to remove once this committed. A published task keeps them."""
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            if row["status"] == "published":
                raise LocaltaskError(f"Task {task_id} is published: its artifacts are kept (clone it "
                                     "to change anything).")
            files = []
            for name in names:
                found = conn.execute("DELETE FROM artifacts WHERE task_id = ? AND name = ? RETURNING filename",
                                     (task_id, name)).fetchone()
                if found:
                    files.append(found["filename"])
        return files

    def artifact_filename(self, task_id: str, name: str) -> str | None:
        """The file the artifact row ``name`` of a task names, or None without such a row."""
        row = self.one("SELECT filename FROM artifacts WHERE task_id = ? AND name = ?", (task_id, name))
        return row["filename"] if row else None

    def artifact_file_named(self, task_id: str, filename: str) -> bool:
        """Whether some artifact row of the task names ``filename``."""
        return self.one("SELECT 1 FROM artifacts WHERE task_id = ? AND filename = ?",
                        (task_id, filename)) is not None

    def get_artifacts(self, task_id: str) -> list[dict[str, Any]]:
        rows = self.rows("SELECT name, kind, filename, size, sha256, created, meta FROM artifacts "
                         "WHERE task_id = ? ORDER BY name", (task_id,))
        for row in rows:
            row["meta"] = json.loads(row["meta"])
        return rows
