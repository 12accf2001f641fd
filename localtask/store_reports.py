"""Reports of a task beyond scalars: plots, debug samples and single values."""
from __future__ import annotations

import json
from typing import Any


class ReportQueries:
    """Queries on plots, debug samples and single values (a mixin of Store).

    Plots hold a plotly figure (JSON); a debug sample is a file in the task's ``samples``
    folder, its row says what it is. All are outputs: clone copies none, reset deletes plots
    and single values, and debug samples only with the artifacts.
    """

    def add_reports(self, task_seq: int, plots: list[tuple] = (), samples: list[tuple] = (),
                    single_values: list[tuple] = ()) -> None:
        """Append in one transaction ``plots`` ``(title, series, iteration, kind, figure_json, ts)``,
        ``samples`` ``(title, series, iteration, filename, mime, size, ts)`` and set
        ``single_values`` ``(name, value, ts)`` (a value reported again replaces the first)."""
        if not (plots or samples or single_values):
            return
        with self.transaction() as conn:
            conn.executemany("INSERT INTO plots(task_seq, title, series, iteration, kind, figure, ts) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", [(task_seq, *r) for r in plots])
            conn.executemany(
                "INSERT INTO samples(task_seq, title, series, iteration, filename, mime, size, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(task_seq, *r) for r in samples])
            conn.executemany("INSERT INTO single_values(task_seq, name, value, ts) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT(task_seq, name) DO UPDATE SET value = excluded.value, "
                             "ts = excluded.ts", [(task_seq, *r) for r in single_values])

    # ------------------------------------------------------------------ plots
    def get_plots(self, task_id: str, *, last_only: bool = False) -> list[dict[str, Any]]:
        """Plots in report order, their ``figure`` parsed; ``last_only``: the last report of each
        (title, series) pair, as ClearML's plots view shows them."""
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            if last_only:
                sql = ("SELECT title, series, iteration, kind, figure, ts FROM plots WHERE rowid IN "
                       "(SELECT max(rowid) FROM plots WHERE task_seq = ? GROUP BY title, series) "
                       "ORDER BY rowid")
            else:
                sql = ("SELECT title, series, iteration, kind, figure, ts FROM plots WHERE task_seq = ? "
                       "ORDER BY rowid")
            rows = [dict(r) for r in conn.execute(sql, (seq,))]
        for row in rows:
            row["figure"] = json.loads(row["figure"])
        return rows

    def count_plots(self, task_id: str) -> int:
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return conn.execute("SELECT count(*) FROM plots WHERE task_seq = ?", (seq,)).fetchone()[0]

    # ------------------------------------------------------------------ debug samples
    def get_samples(self, task_id: str) -> list[dict[str, Any]]:
        """Debug samples by title, series and iteration."""
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return [dict(r) for r in conn.execute(
                "SELECT title, series, iteration, filename, mime, size, ts FROM samples "
                "WHERE task_seq = ? ORDER BY title, series, iteration, rowid", (seq,))]

    def sample_named(self, task_id: str, filename: str) -> dict[str, Any] | None:
        """The sample row whose file is ``filename``, or None (only such files are served)."""
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            row = conn.execute("SELECT title, series, iteration, filename, mime, size FROM samples "
                               "WHERE task_seq = ? AND filename = ?", (seq, filename)).fetchone()
        return dict(row) if row else None

    def plot_image_named(self, task_id: str, filename: str) -> bool:
        """Whether a plot drawn as an image (a matplotlib figure) shows the file ``filename``."""
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return conn.execute(
                "SELECT 1 FROM plots WHERE task_seq = ? AND kind = 'image' AND "
                "json_extract(figure, '$.layout.localtask_image.sample') = ?", (seq, filename)).fetchone() is not None

    # ------------------------------------------------------------------ single values
    def get_single_values(self, task_id: str) -> dict[str, float | None]:
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return {r["name"]: r["value"] for r in conn.execute(
                "SELECT name, value FROM single_values WHERE task_seq = ? ORDER BY name", (seq,))}
