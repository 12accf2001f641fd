"""Workers: registration, heartbeats, lost workers' tasks and dead local runs, the end of a run."""
from __future__ import annotations

import json
from typing import Any

from .exceptions import StoreError
from .status import TaskStatus
from .store_base import _now, _pid_alive, pid_namespace


class WorkerQueries:
    """Queries on workers and the runs they hold (a mixin of Store)."""

    # ------------------------------------------------------------------ workers
    def register_worker(self, name: str, host: str, pid: int, queues: list[str], slots: int,
                        gpus: list[dict] | None = None) -> None:
        """Enter (or re-enter) a worker; ``gpus``: its devices, each with the task holding it."""
        now = _now()
        self.execute(
            "INSERT INTO workers(name, host, pid, queues, slots, started, last_heartbeat, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running') ON CONFLICT(name) DO UPDATE SET "
            "host = excluded.host, pid = excluded.pid, queues = excluded.queues, "
            "slots = excluded.slots, started = excluded.started, "
            "last_heartbeat = excluded.last_heartbeat, state = 'running'",
            (name, host, pid, _queues_text(queues, gpus), slots, now, now))

    def set_worker_gpus(self, name: str, queues: list[str], gpus: list[dict]) -> None:
        """Record which task holds each of a worker's GPUs."""
        self.execute("UPDATE workers SET queues = ? WHERE name = ?", (_queues_text(queues, gpus), name))

    def worker_row(self, name: str) -> dict | None:
        return self.one("SELECT * FROM workers WHERE name = ?", (name,))

    def heartbeat(self, name: str, task_ids: list[str], state: str = "running") -> list[str]:
        """Record that a worker is alive and its tasks too; returns those of its tasks whose
        abort was requested."""
        now = _now()
        with self.transaction() as conn:
            conn.execute("UPDATE workers SET last_heartbeat = ?, state = ? WHERE name = ?",
                         (now, state, name))
            if not task_ids:
                return []
            marks = ", ".join("?" for _ in task_ids)
            conn.execute(f"UPDATE tasks SET last_update = ? WHERE id IN ({marks}) "
                         "AND status = 'in_progress'", (now, *task_ids))
            return [r["id"] for r in conn.execute(
                f"SELECT id FROM tasks WHERE id IN ({marks}) AND abort_requested = 1", task_ids)]

    def unregister_worker(self, name: str) -> None:
        self.execute("DELETE FROM workers WHERE name = ?", (name,))

    def list_workers(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            workers = [dict(r) for r in conn.execute("SELECT * FROM workers ORDER BY name")]
            for w in workers:
                w["queues"], w["gpus"] = _read_queues(w["queues"])
                w["tasks"] = [r["id"] for r in conn.execute(
                    "SELECT id FROM tasks WHERE worker = ? AND status = 'in_progress'", (w["name"],))]
        return workers

    def sweep_lost(self, timeout: float, *, requeue: bool = False, exclude_worker: str | None = None,
                   only_worker: str | None = None) -> list[tuple[str, str]]:
        """Fail (or re-queue) in-progress tasks whose worker stopped beating for ``timeout`` s
        (with ``only_worker``: every in-progress task of that worker, at once).

        Returns ``(task_id, worker)`` pairs that were handled.
        """
        now = _now()
        limit = now - timeout
        handled = []
        with self.transaction() as conn:
            if only_worker is not None:
                rows = conn.execute("SELECT id, worker, queue, run_end FROM tasks WHERE status = 'in_progress' "
                                    "AND worker = ?", (only_worker,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT t.id, t.worker, t.queue, t.run_end FROM tasks t LEFT JOIN workers w ON w.name = t.worker "
                    "WHERE t.status = 'in_progress' AND t.worker IS NOT NULL AND t.worker != ? "
                    "AND (w.name IS NULL OR w.last_heartbeat < ?) AND t.last_update < ?",
                    (exclude_worker or "", limit, limit)).fetchall()
            for row in rows:
                end = json.loads(row["run_end"]) if row["run_end"] else None
                if end is not None:  # the script ended: its run is never repeated
                    status, reason = _ended_before(end, f"its worker {row['worker']} was lost")
                    conn.execute("UPDATE tasks SET status = ?, status_reason = ?, completed = ?, "
                                 "last_update = ? WHERE id = ?",
                                 (status, reason, end.get("at") or now, now, row["id"]))
                elif requeue:
                    conn.execute("UPDATE tasks SET status = 'queued', worker = NULL, status_reason = ?, "
                                 "last_update = ? WHERE id = ?",
                                 (f"re-queued: worker {row['worker']} lost", now, row["id"]))
                    conn.execute("INSERT OR IGNORE INTO queue_entries(queue, task_id, priority, enqueued) "
                                 "VALUES (?, ?, 1, ?)", (row["queue"] or "default", row["id"], now))
                else:
                    conn.execute("UPDATE tasks SET status = 'failed', status_reason = ?, completed = ?, "
                                 "last_update = ? WHERE id = ?",
                                 (f"worker {row['worker']} lost", now, now, row["id"]))
                handled.append((row["id"], row["worker"]))
            if only_worker is None:
                conn.execute("UPDATE workers SET state = 'lost' WHERE last_heartbeat < ? AND state != 'lost'",
                             (limit,))
        return handled

    def fail_dead_local_runs(self, host: str, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Fail the tasks in progress that a script recorded on ``host`` without a worker and
        whose process is gone (killed by SIGKILL or the OOM killer, a reboot). Tasks of other
        hosts or pid namespaces (a container named as its host), of workers, and those whose
        pid is alive are left alone. Returns the
        ``{"id", "pid", "reason"}`` of each task failed (with ``dry_run``: that would be)."""
        rows = self.rows("SELECT id, pid, last_update FROM tasks WHERE status = 'in_progress' AND worker IS NULL "
                         "AND host = ? AND pid IS NOT NULL AND pid_ns = ?", (host, pid_namespace()))
        dead = [{"id": r["id"], "pid": r["pid"], "last_update": r["last_update"],
                 "reason": f"its process (pid {r['pid']} on {host}) died without ending the task"}
                for r in rows if not _pid_alive(r["pid"])]
        if dry_run or not dead:
            return dead
        now = _now()
        with self.transaction() as conn:  # each row again as read: it may have ended meanwhile
            return [run for run in dead if conn.execute(
                "UPDATE tasks SET status = 'failed', status_reason = ?, completed = ?, last_update = ? "
                "WHERE id = ? AND status = 'in_progress' AND worker IS NULL AND host = ? AND pid = ?",
                (run["reason"], self._last_sign_of_life(run["id"], run["last_update"], now), now,
                 run["id"], host, run["pid"])).rowcount]

    def _last_sign_of_life(self, task_id: str, last_update: float | None, now: float) -> float:
        """When a run that died unseen ended, as near as the store can tell: its row's last
        change or its console's last line (not when its death was noticed)."""
        try:
            console = self.console_path(task_id).stat().st_mtime
        except OSError:
            console = 0.0
        return min(now, max(last_update or 0.0, console)) or now

    def beat_tasks(self, task_ids: list[str]) -> list[str]:
        """Record that these running tasks are alive (from the process running them, not a
        worker); returns those whose abort was requested."""
        if not task_ids:
            return []
        marks = ", ".join("?" for _ in task_ids)
        with self.transaction() as conn:
            conn.execute(f"UPDATE tasks SET last_update = ? WHERE id IN ({marks}) "
                         "AND status = 'in_progress'", (_now(), *task_ids))
            return [r["id"] for r in conn.execute(
                f"SELECT id FROM tasks WHERE id IN ({marks}) AND abort_requested = 1", task_ids)]

    def tasks_of_worker(self, name: str) -> list[str]:
        """The ids of the tasks in progress under worker ``name``."""
        return [r["id"] for r in self.rows(
            "SELECT id FROM tasks WHERE status = 'in_progress' AND worker = ?", (name,))]

    def run_statuses(self, task_ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """``{task_id: (status, worker)}`` of those of ``task_ids`` that exist."""
        if not task_ids:
            return {}
        marks = ", ".join("?" for _ in task_ids)
        return {r["id"]: (r["status"], r["worker"]) for r in self.rows(
            f"SELECT id, status, worker FROM tasks WHERE id IN ({marks})", task_ids)}

    def end_lost_run(self, task_id: str, worker: str, reason: str, *, requeue: bool = False) -> bool:
        """Fail (or re-queue) a run of ``worker`` that died without recording its end, with
        ``reason``. Does nothing, and returns False, if the task is no longer that run."""
        now = _now()
        with self.transaction() as conn:
            row = conn.execute("SELECT queue, run_end FROM tasks WHERE id = ? AND status = 'in_progress' "
                               "AND worker = ?", (task_id, worker)).fetchone()
            if row is None:
                return False
            end = json.loads(row["run_end"]) if row["run_end"] else None
            if end is not None:  # the script ended: its run is never repeated
                status, why = _ended_before(end, reason)
                conn.execute("UPDATE tasks SET status = ?, status_reason = ?, completed = ?, "
                             "last_update = ? WHERE id = ?", (status, why, end.get("at") or now, now, task_id))
            elif requeue:
                conn.execute("UPDATE tasks SET status = 'queued', worker = NULL, status_reason = ?, "
                             "last_update = ? WHERE id = ?", (f"re-queued: {reason}", now, task_id))
                conn.execute("INSERT OR IGNORE INTO queue_entries(queue, task_id, priority, enqueued) "
                             "VALUES (?, ?, 1, ?)", (row["queue"] or "default", task_id, now))
            else:
                conn.execute("UPDATE tasks SET status = 'failed', status_reason = ?, completed = ?, "
                             "last_update = ? WHERE id = ?", (reason, now, now, task_id))
        return True

    def note_run_end(self, task_id: str, worker: str | None, stage: str, status: str | None = None,
                     reason: str = "") -> bool:
        """Record, from the process that runs ``worker``'s task, that its script ended:
        ``stage`` 'closing' as it starts closing, 'ended' with its ``status`` once its outputs are
        written. A worker lost after this never runs the task again (see :meth:`sweep_lost`)."""
        end = {"stage": stage, "status": status, "reason": reason, "at": _now()}
        return self.execute("UPDATE tasks SET run_end = ? WHERE id = ? AND status = 'in_progress' "
                            "AND (? IS NULL OR worker = ?)", (json.dumps(end), task_id, worker, worker)) == 1

    def abort_requested(self, task_ids: list[str]) -> list[str]:
        """Those of ``task_ids`` whose abort was requested."""
        marks = ", ".join("?" for _ in task_ids)
        return [r["id"] for r in self.rows(
            f"SELECT id FROM tasks WHERE id IN ({marks}) AND abort_requested = 1", task_ids)]

    def set_task_pid(self, task_id: str, pid: int, host: str | None = None) -> None:
        """Record the pid of a task's process (and the host it runs on, when not its worker's)."""
        if host is None:
            self.execute("UPDATE tasks SET pid = ?, last_update = ? WHERE id = ?", (pid, _now(), task_id))
        else:
            self.execute("UPDATE tasks SET pid = ?, host = ?, last_update = ? WHERE id = ?",
                         (pid, host, _now(), task_id))

    def finish_task(self, task_id: str, worker: str | None, status: TaskStatus, reason: str,
                    environment: dict | None = None) -> bool:
        """End a running task (completed / failed / stopped), run by ``worker`` (None: by the
        process that recorded it), in one transaction. Does nothing, and returns False, if the
        task is no longer that run (lost, aborted, reset, deleted)."""
        now = _now()
        status = TaskStatus(status)
        if status not in (TaskStatus.completed, TaskStatus.failed, TaskStatus.stopped):
            raise StoreError(f"A run cannot end as {status.value}.")
        sets = "status = ?, status_reason = ?, completed = ?, last_update = ?, abort_requested = 0"
        args: list[Any] = [status.value, reason, now, now]
        if environment is not None:
            sets += ", environment = ?"
            args.append(json.dumps(environment))
        owner = "worker = ?" if worker is not None else "worker IS NULL"
        args += [task_id] + ([worker] if worker is not None else [])
        return self.execute(f"UPDATE tasks SET {sets} WHERE id = ? AND status = 'in_progress' "
                            f"AND {owner}", args) == 1


def _ended_before(end: dict, what: str) -> tuple[str, str]:
    """The final status of a run whose script ended before ``what`` ended the run itself."""
    if end.get("stage") == "ended" and end.get("status") in ("completed", "failed", "stopped"):
        reason = end.get("reason") or ""
        note = f"its script ended before: {what} (not run again)"
        return end["status"], f"{reason}; {note}" if reason else note
    return "failed", (f"its script ended, but {what} before the end was recorded (not run again: "
                      "clone it to run it once more)")


# A worker's GPUs share the JSON of its ``queues`` column (no schema change): a list of queue
# names for a worker without GPUs, as before, or {"queues": [...], "gpus": [...]}.
def _queues_text(queues: list[str], gpus: list[dict] | None) -> str:
    return json.dumps(queues if gpus is None else {"queues": queues, "gpus": gpus})


def _read_queues(text: str) -> tuple[list[str], list[dict]]:
    value = json.loads(text)
    if isinstance(value, dict):
        return list(value.get("queues", [])), list(value.get("gpus", []))
    return value, []
