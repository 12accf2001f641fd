"""Rows of tasks copied between a store and a bundle's database (``localtask.bundle``).

The bundle's database has the store's own tables (their DDL copied from the store), holding
only the exported tasks' rows. Both directions run as ``INSERT ... SELECT`` on an attached
database: no row passes through Python, and an import is one transaction.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from .store_base import SCHEMA_VERSION

#: tables keyed by task id, and by the task's local ``seq``; outputs only with ``with_outputs``
BY_ID = ("parameters", "configurations")
BY_ID_OUTPUTS = ("artifacts", "task_models")
BY_SEQ_OUTPUTS = ("scalars", "plots", "samples", "single_values")
ALL_TABLES = ("tasks", *BY_ID, *BY_ID_OUTPUTS, *BY_SEQ_OUTPUTS, "models")


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def read_bundle_db(path: Path) -> tuple[int, list[str], list[str], list[str]]:
    """(schema version, task ids, model ids, columns of its tasks table) of a bundle's database;
    sqlite3.DatabaseError when it is not one."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM tasks ORDER BY seq")]
        has_models = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'models'").fetchone()
        models = [r[0] for r in conn.execute("SELECT id FROM models")] if has_models else []
        return version, ids, models, _columns(conn, "main", "tasks")
    finally:
        conn.close()


class BundleQueries:
    """Export and import of task rows through an attached bundle database (a mixin of Store)."""

    def _attached(self, conn: sqlite3.Connection, path: Path) -> None:
        conn.execute("ATTACH DATABASE ? AS b", (str(path),))

    @staticmethod
    def _select(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS bundle_sel(id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.bundle_sel")
        conn.executemany("INSERT OR IGNORE INTO temp.bundle_sel(id) VALUES (?)", [(i,) for i in ids])

    def export_rows(self, path: Path, task_ids: list[str], with_outputs: bool) -> None:
        """Write a new SQLite database at ``path`` with the store's tables and the rows of
        ``task_ids`` (outputs and their models too with ``with_outputs``)."""
        with self._translate_errors(), self._access() as conn:
            self._attached(conn, path)
            try:
                conn.execute(f"PRAGMA b.user_version = {SCHEMA_VERSION}")
                # a scratch file: made whole or thrown away, never read half-written
                conn.execute("PRAGMA b.journal_mode = OFF")
                conn.execute("PRAGMA b.synchronous = OFF")
                for (sql,) in conn.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table' "
                                           f"AND name IN ({', '.join('?' * len(ALL_TABLES))})", ALL_TABLES):
                    conn.execute(sql.replace("CREATE TABLE ", "CREATE TABLE b.", 1))
                self._select(conn, task_ids)
                conn.execute("BEGIN")
                conn.execute("INSERT INTO b.tasks SELECT * FROM main.tasks WHERE id IN temp.bundle_sel")
                tables = BY_ID + (BY_ID_OUTPUTS if with_outputs else ())
                for table in tables:
                    conn.execute(f"INSERT INTO b.{table} SELECT * FROM main.{table} "
                                 "WHERE task_id IN temp.bundle_sel")
                if with_outputs:
                    for table in BY_SEQ_OUTPUTS:
                        conn.execute(f"INSERT INTO b.{table} SELECT * FROM main.{table} WHERE task_seq IN "
                                     "(SELECT seq FROM main.tasks WHERE id IN temp.bundle_sel)")
                    conn.execute("INSERT INTO b.models SELECT * FROM main.models WHERE task_id IN "
                                 "temp.bundle_sel OR id IN (SELECT model_id FROM b.task_models)")
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("DETACH DATABASE b")

    def code_refs(self, task_ids: Iterable[str]) -> list[str]:
        """The blob names (large recorded diffs, ``<home>/blobs/``) of the tasks ``task_ids``."""
        ids = list(task_ids)
        return [r["code_ref"] for r in self.rows(
            f"SELECT DISTINCT code_ref FROM tasks WHERE code_ref IS NOT NULL AND id IN ({', '.join('?' * len(ids))})",
            ids)] if ids else []

    def fingerprints(self, task_ids: Iterable[str], with_outputs: bool,
                     columns: Iterable[str] | None = None) -> dict[str, str]:
        """A content hash of each existing task of ``task_ids``: its row (but the store-local
        ``seq``; only ``columns`` when given, so that a bundle of an older schema compares on the
        columns it has), parameters, configurations and code, and with ``with_outputs`` how many
        outputs of each kind it has, its artifacts' and its models' hashes. Equal hashes: the
        same task in two stores."""
        keep = set(columns) if columns is not None else None
        result = {}
        with self.read() as conn:
            for task_id in task_ids:
                row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
                if row is None:
                    continue
                task = dict(row)
                seq = task.pop("seq")
                if keep is not None:
                    task = {k: v for k, v in task.items() if k in keep or k in ("code", "code_ref")}
                code, ref = task.pop("code"), task.pop("code_ref")
                if ref:
                    code = (self.blobs_dir / ref).read_bytes() if (self.blobs_dir / ref).is_file() else ref.encode()
                parts: dict[str, Any] = {
                    "task": task, "code": hashlib.sha256(code or b"").hexdigest(),
                    "parameters": [list(r) for r in conn.execute(
                        "SELECT section, name, value, type, description FROM parameters WHERE task_id = ? "
                        "ORDER BY section, name", (task_id,))],
                    "configurations": [list(r) for r in conn.execute(
                        "SELECT name, kind, value, description FROM configurations WHERE task_id = ? "
                        "ORDER BY name", (task_id,))],
                }
                if with_outputs:
                    parts["counts"] = [conn.execute(f"SELECT count(*) FROM {t} WHERE task_seq = ?",
                                                    (seq,)).fetchone()[0] for t in BY_SEQ_OUTPUTS]
                    parts["artifacts"] = [list(r) for r in conn.execute(
                        "SELECT name, filename, sha256 FROM artifacts WHERE task_id = ? ORDER BY name",
                        (task_id,))]
                    parts["models"] = [list(r) for r in conn.execute(
                        "SELECT t.role, t.name, t.model_id, m.sha256 FROM task_models t LEFT JOIN models m "
                        "ON m.id = t.model_id WHERE t.task_id = ? ORDER BY t.role, t.name", (task_id,))]
                blob = json.dumps(parts, sort_keys=True, default=repr).encode()
                result[task_id] = hashlib.sha256(blob).hexdigest()
        return result

    def import_rows(self, path: Path, insert_ids: list[str], replace_ids: list[str]) -> None:
        """In one transaction: delete the rows of ``replace_ids``, then copy the rows of
        ``insert_ids + replace_ids`` from the bundle database at ``path`` (whatever outputs it
        holds; a model row that exists already is kept). Task ids are kept, ``seq`` is new."""
        ids = list(insert_ids) + list(replace_ids)
        if not ids:
            return
        with self._translate_errors(), self._access() as conn:
            self._attached(conn, path)
            try:
                self._select(conn, ids)
                conn.execute("BEGIN IMMEDIATE")
                bundle_tables = {r[0] for r in conn.execute("SELECT name FROM b.sqlite_master WHERE type = 'table'")}
                for task_id in replace_ids:
                    seq = conn.execute("SELECT seq FROM main.tasks WHERE id = ?", (task_id,)).fetchone()[0]
                    conn.execute("DELETE FROM main.queue_entries WHERE task_id = ?", (task_id,))
                    for table in BY_SEQ_OUTPUTS:
                        conn.execute(f"DELETE FROM main.{table} WHERE task_seq = ?", (seq,))
                    for table in BY_ID + BY_ID_OUTPUTS:
                        conn.execute(f"DELETE FROM main.{table} WHERE task_id = ?", (task_id,))
                    conn.execute("DELETE FROM main.tasks WHERE id = ?", (task_id,))
                task_cols = [c for c in _columns(conn, "b", "tasks") if c != "seq"
                             and c in _columns(conn, "main", "tasks")]
                cols = ", ".join(task_cols)
                conn.execute(f"INSERT INTO main.tasks ({cols}) SELECT {cols} FROM b.tasks "
                             "WHERE id IN temp.bundle_sel ORDER BY seq")
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS bundle_seq(old INTEGER PRIMARY KEY, new INTEGER)")
                conn.execute("DELETE FROM temp.bundle_seq")
                conn.execute("INSERT INTO temp.bundle_seq SELECT o.seq, n.seq FROM b.tasks o "
                             "JOIN main.tasks n ON n.id = o.id WHERE o.id IN temp.bundle_sel")
                for table in BY_ID + BY_ID_OUTPUTS:
                    if table in bundle_tables:
                        cols = ", ".join(self._common(conn, table))
                        conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM b.{table} "
                                     "WHERE task_id IN temp.bundle_sel")
                for table in BY_SEQ_OUTPUTS:
                    if table in bundle_tables:
                        rest = [c for c in self._common(conn, table) if c != "task_seq"]
                        conn.execute(
                            f"INSERT INTO main.{table} (task_seq, {', '.join(rest)}) SELECT m.new, "
                            f"{', '.join('x.' + c for c in rest)} FROM b.{table} x "
                            "JOIN temp.bundle_seq m ON m.old = x.task_seq ORDER BY x.rowid")
                if "models" in bundle_tables:
                    cols = ", ".join(self._common(conn, "models"))
                    conn.execute(f"INSERT OR IGNORE INTO main.models ({cols}) SELECT {cols} FROM b.models")
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("DETACH DATABASE b")

    @staticmethod
    def _common(conn: sqlite3.Connection, table: str) -> list[str]:
        """Columns of ``table`` in both the bundle and the store (an older bundle has fewer)."""
        here = set(_columns(conn, "main", table))
        return [c for c in _columns(conn, "b", table) if c in here]
