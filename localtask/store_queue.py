"""Queues: enqueue, dequeue, the claim, queue counts, stop and abort."""
from __future__ import annotations

import os
import sqlite3
from typing import Any

from .status import TaskStatus
from .store_base import TASK_COLUMNS, _now


#: a claimed task's row: in progress for worker, host, from now (args: worker, host, now, now, id)
CLAIM_SQL = ("UPDATE tasks SET status = 'in_progress', worker = ?, host = ?, started = ?, "
             "completed = NULL, last_update = ?, status_reason = '', abort_requested = 0, run_end = NULL "
             "WHERE id = ? AND status = 'queued'")

class QueueQueries:
    """Queries on queues (a mixin of Store)."""

    # ------------------------------------------------------------------ queues
    def enqueue(self, task_id: str, queue: str, *, priority: int = 0, force: bool = False) -> None:
        """Put a task on a queue and set it queued, in one transaction."""
        now = _now()
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            self._transition(conn, task_id, "enqueue", TaskStatus.queued, force=force, queue=queue,
                             status_before_queue=row["status"], status_reason="", worker=None,
                             abort_requested=0)
            conn.execute("INSERT OR IGNORE INTO queues(name, created) VALUES (?, ?)", (queue, now))
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
            conn.execute("INSERT INTO queue_entries(queue, task_id, priority, enqueued) VALUES (?, ?, ?, ?)",
                         (queue, task_id, int(priority), now))

    def stop_task(self, task_id: str, reason: str, *, operation: str = "stop", force: bool = False) -> None:
        """Set a queued or running task stopped (leaving its queue), with ``reason``."""
        now = _now()
        with self.transaction() as conn:
            self._transition(conn, task_id, operation, TaskStatus.stopped, force=force, completed=now,
                             status_reason=reason, abort_requested=0)
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))

    def request_abort(self, task_id: str) -> dict:
        """Flag a running task for its worker to kill; returns the task's row."""
        with self.transaction() as conn:
            self._transition(conn, task_id, "abort", None, abort_requested=1)
            return dict(self._get(conn, task_id))

    def dequeue(self, task_id: str) -> str:
        """Take a queued task off its queue; it gets back the status it had. Returns that status."""
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status, status_before_queue")
            before = row["status_before_queue"] or TaskStatus.created.value
            self._transition(conn, task_id, "dequeue", TaskStatus(before), queue=None,
                             status_before_queue=None)
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
        return before

    def claim(self, worker: str, queues: list[str], *, host: str | None = None) -> dict | None:
        """Take the next task from ``queues`` (in that order, then priority, then age) and set it
        in progress for ``worker``. Exactly one caller gets each task. Returns the row or None."""
        if not queues:
            return None
        now = _now()
        host = host or os.uname().nodename
        returning = sqlite3.sqlite_version_info >= (3, 35, 0)  # RETURNING; older: same, in 4 steps
        claim_sql = CLAIM_SQL
        with self.transaction() as conn:
            for queue in queues:  # one indexed lookup per queue, in the worker's order
                while True:
                    head = ("SELECT seq FROM queue_entries WHERE queue = ? "
                            "ORDER BY priority DESC, seq LIMIT 1")
                    if returning:
                        entry = conn.execute(f"DELETE FROM queue_entries WHERE seq = ({head}) "
                                             "RETURNING task_id", (queue,)).fetchall()
                    else:
                        entry = conn.execute(head.replace("SELECT seq", "SELECT seq, task_id"),
                                             (queue,)).fetchall()
                        if entry:
                            conn.execute("DELETE FROM queue_entries WHERE seq = ?", (entry[0][0],))
                            entry = [(entry[0][1],)]
                    if not entry:
                        break
                    task_id = entry[0][0]
                    args = (worker, host, now, now, task_id)
                    if returning:
                        row = conn.execute(f"{claim_sql} RETURNING {TASK_COLUMNS}", args).fetchall()
                    else:
                        row = [self._get(conn, task_id)] if conn.execute(claim_sql, args).rowcount else []
                    if row:
                        return self._task_dict(row[0])
                    # A queue row whose task is no longer queued (deleted, reset): dropped; next.
        return None

    def claim_fitting(self, worker: str, queues: list[str], *, free: int, total: int, default: int,
                      host: str | None = None) -> tuple[dict | None, list[tuple[str, int]]]:
        """:meth:`claim` for a worker with ``total`` GPUs, ``free`` of them free now.

        A task asks for ``Resources/gpus`` devices (``default`` when it has no such parameter).
        The first task in order that fits the free GPUs is claimed; one that fits the worker but
        not its free GPUs now is next and waits for them (nothing behind it is claimed, so it is
        never starved); one that needs more than ``total`` is left for a bigger worker. Returns
        ``(row, too_big)``: the claimed row (with ``gpus_requested``, and ``resource_error`` when
        its request was invalid: it is claimed asking none, to be failed with that reason) or
        None, and the ``(task_id, gpus)`` left for being too big.
        """
        from .exceptions import GpuError
        from .resources import GPUS, SECTION, gpus_requested

        now = _now()
        host = host or os.uname().nodename
        too_big: list[tuple[str, int]] = []
        with self.transaction() as conn:
            for queue in queues:
                while True:
                    target, waiting = None, False
                    cursor = conn.execute(
                        "SELECT e.seq, e.task_id, p.value, p.type FROM queue_entries e "
                        "LEFT JOIN parameters p ON p.task_id = e.task_id AND p.section = ? AND p.name = ? "
                        "WHERE e.queue = ? ORDER BY e.priority DESC, e.seq", (SECTION, GPUS, queue))
                    for seq, task_id, text, kind in cursor:
                        error = None
                        try:
                            need = default if text is None else gpus_requested(text, kind)
                        except GpuError as exc:
                            need, error = 0, str(exc)
                        if need > total:
                            if (task_id, need) not in too_big:
                                too_big.append((task_id, need))
                            continue
                        if need > free:
                            waiting = True
                        else:
                            target = (seq, task_id, need, error)
                        break
                    cursor.close()
                    if waiting:
                        return None, too_big
                    if target is None:
                        break
                    seq, task_id, need, error = target
                    conn.execute("DELETE FROM queue_entries WHERE seq = ?", (seq,))
                    if conn.execute(CLAIM_SQL, (worker, host, now, now, task_id)).rowcount:
                        row = self._task_dict(self._get(conn, task_id))
                        row["gpus_requested"], row["resource_error"] = need, error
                        return row, too_big
                    # a queue row whose task is no longer queued: dropped; look again
        return None, too_big

    def queue_counts(self) -> list[dict[str, Any]]:
        """Every queue with its number of waiting tasks."""
        return self.rows(
            "SELECT q.name AS name, count(e.seq) AS queued, q.created AS created FROM queues q "
            "LEFT JOIN queue_entries e ON e.queue = q.name GROUP BY q.name ORDER BY q.name")

    def queue_entries(self, queue: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT seq, queue, task_id, priority, enqueued FROM queue_entries"
        args: tuple = ()
        if queue is not None:
            sql += " WHERE queue = ?"
            args = (queue,)
        return self.rows(sql + " ORDER BY queue, priority DESC, seq", args)

    def pending(self, queues: list[str]) -> int:
        marks = ", ".join("?" for _ in queues)
        return self.one(f"SELECT count(*) AS n FROM queue_entries WHERE queue IN ({marks})", queues)["n"]
