"""Task rows: insert, update, transitions, clone, reset, delete, find, page and summary;
their parameters and configurations."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from . import status as status_rules
from .exceptions import AmbiguousTaskIdError, StoreError, TaskNotFoundError
from .status import TaskStatus
from .store_base import CLONED_COLUMNS, TASK_COLUMNS, UPDATABLE, _now

#: a task's environment without the worker's drift verdict (``localtask.drift.KEY``), which
#: belongs to a run: neither a clone nor a reset keeps it
DRIFTLESS_ENVIRONMENT = ("CASE WHEN json_type(environment, '$.drift') IS NULL THEN environment "  # as it was, byte for byte
                         "ELSE json_remove(environment, '$.drift') END")
#: the runtime properties a clone and a reset keep: the random seed the run used (it configures
#: the re-run); the rest (progress) is an output of the run
SEEDED_RUNTIME = ("CASE WHEN json_type(runtime, '$.random_seed') IS NULL THEN '{}' "
                  "ELSE json_object('random_seed', json_extract(runtime, '$.random_seed')) END")


class TaskQueries:
    """Queries on tasks, their parameters and configurations (a mixin of Store)."""

    # ------------------------------------------------------------------ tasks
    def get_task(self, task_id: str) -> dict[str, Any]:
        """The task's row as a dict (JSON columns decoded). Raises TaskNotFoundError."""
        with self.read() as conn:
            return self._task_dict(self._get(conn, task_id))

    def get_code(self, task_id: str) -> bytes | None:
        """The recorded diff (or snapshot archive) of a task, wherever it is kept."""
        with self.read() as conn:
            row = self._get(conn, task_id, "code, code_ref")
        if row["code_ref"]:
            return (self.blobs_dir / row["code_ref"]).read_bytes()
        return row["code"]

    def resolve_id(self, prefix: str) -> str:
        """The full id of the one task whose id starts with ``prefix``."""
        key = (prefix or "").strip().lower()
        if not key or any(ch not in "0123456789abcdef" for ch in key) or len(key) > 32:
            raise TaskNotFoundError(
                f"{prefix!r} is not a task id: ids are 32 hexadecimal characters, and any unique "
                "prefix of one is accepted (see 'localtask list').")
        rows = self.rows("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                         (key, key + "g"))
        if not rows:
            raise TaskNotFoundError(f"No task id starts with {key!r} in the store {self.home}.")
        if len(rows) > 1:
            shown = ", ".join(r["id"][: len(key) + 4] for r in rows[:5])
            raise AmbiguousTaskIdError(
                f"Task id prefix {key!r} matches more than one task ({shown}...); give more characters.")
        return rows[0]["id"]

    def insert_task(self, task: dict[str, Any], parameters: Iterable[tuple] = (),
                    configurations: Iterable[tuple] = ()) -> None:
        """Insert a new task with its parameters ``(section, name, value, type, description)``
        and configurations ``(name, kind, value, description)``."""
        row = dict(task)
        for key in ("tags", "script", "environment"):
            if key in row and not isinstance(row[key], str):
                row[key] = json.dumps(row[key])
        row.setdefault("created", _now())
        row.setdefault("last_update", row["created"])
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO tasks ({cols}) VALUES ({marks})", tuple(row.values()))
            conn.executemany(
                "INSERT INTO parameters(task_id, section, name, value, type, description) "
                "VALUES (?, ?, ?, ?, ?, ?)", [(row["id"], *p) for p in parameters])
            conn.executemany(
                "INSERT INTO configurations(task_id, name, kind, value, description) "
                "VALUES (?, ?, ?, ?, ?)", [(row["id"], *c) for c in configurations])

    def insert_tasks(self, tasks: Iterable[dict[str, Any]]) -> int:
        """Insert many new tasks (rows as :meth:`insert_task` takes them, without parameters or
        configurations) in one transaction: imports and the benchmarks' large stores. Returns
        how many were inserted."""
        count = 0
        with self.transaction() as conn:
            for task in tasks:
                row = {k: (json.dumps(v) if k in ("tags", "script", "environment") and not isinstance(v, str)
                           else v) for k, v in task.items()}
                row.setdefault("created", _now())
                row.setdefault("last_update", row["created"])
                conn.execute(f"INSERT INTO tasks ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             tuple(row.values()))
                count += 1
        return count

    def update_task(self, task_id: str, *, edit: str | None = None, force: bool = False,
                    **fields: Any) -> None:
        """Set columns of a task. With ``edit=<operation>`` the status rules are checked first."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise StoreError(f"Cannot update task columns {sorted(unknown)}")
        values = {k: (json.dumps(v) if k in ("tags", "script", "environment") and not isinstance(v, str)
                      else v) for k, v in fields.items()}
        values["last_update"] = _now()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            if edit:
                status_rules.check(task_id, row["status"], edit, force)
            conn.execute(f"UPDATE tasks SET {sets} WHERE id = ?", (*values.values(), task_id))

    def set_runtime(self, task_id: str, values: dict[str, Any]) -> None:
        """Merge ``values`` into the task's runtime properties (what its run reports about
        itself, such as ``progress``), in one statement: concurrent writers of other keys keep theirs."""
        if not values or not all(str(k).isidentifier() for k in values):
            raise StoreError(f"Runtime property names are identifiers; got {sorted(values)}")
        paths = ", ".join(f"'$.{k}', json(?)" for k in values)
        with self.transaction() as conn:
            self._get(conn, task_id, "id")
            conn.execute(f"UPDATE tasks SET runtime = json_set(runtime, {paths}), last_update = ? WHERE id = ?",
                         (*(json.dumps(v) for v in values.values()), _now(), task_id))

    def transition(self, task_id: str, operation: str, to_status: TaskStatus | None, *,
                   force: bool = False, **fields: Any) -> dict:
        """Move a task to ``to_status`` if ``operation`` is legal from its current status.

        Returns the row as it was before. Raises IllegalTransitionError / TaskNotFoundError.
        """
        with self.transaction() as conn:
            return self._transition(conn, task_id, operation, to_status, force=force, **fields)

    def _transition(self, conn: sqlite3.Connection, task_id: str, operation: str,
                    to_status: TaskStatus | None, *, force: bool = False, **fields: Any) -> dict:
        row = dict(self._get(conn, task_id, "status, status_before_queue, queue, worker, seq"))
        status_rules.check(task_id, row["status"], operation, force)
        values = dict(fields)
        if to_status is not None:
            values["status"] = TaskStatus(to_status).value
        values["last_update"] = _now()
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE tasks SET {sets} WHERE id = ?", (*values.values(), task_id))
        if row["status"] == TaskStatus.queued.value and values.get("status", "queued") != "queued":
            # A queued task marked started/failed by hand leaves its queue in the same transaction.
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
        return row

    @staticmethod
    def _task_filter(*, project: str | None = None, name: str | None = None,
                     name_contains: str | None = None, parent: str | None = None,
                     status: Iterable[str] | None = None, ids: Iterable[str] | None = None,
                     tags: Iterable[str] | None = None,
                     archived: bool | None = None) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause (or '') and its arguments for the task filters given (``archived``
        None: archived or not)."""
        where, args = [], []
        if archived is not None:
            where.append("archived = ?")
            args.append(int(bool(archived)))
        for column, value in (("project", project), ("name", name), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if name_contains:
            where.append("instr(lower(name), lower(?)) > 0")
            args.append(name_contains)
        if status:
            statuses = [status_rules.parse(s) for s in status]
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args.extend(statuses)
        if ids is not None:  # an empty list matches nothing
            ids = list(ids)
            where.append(f"id IN ({', '.join('?' for _ in ids)})")
            args.extend(ids)
        for tag in tags or ():
            where.append("EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE json_each.value = ?)")
            args.append(tag)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def find_tasks(self, *, project: str | None = None, name: str | None = None,
                   status: Iterable[str] | None = None, tags: Iterable[str] | None = None,
                   parent: str | None = None, ids: Iterable[str] | None = None,
                   limit: int | None = None, offset: int = 0,
                   name_contains: str | None = None, archived: bool | None = None) -> list[dict[str, Any]]:
        """Tasks matching every given filter, newest first (``archived=False``: not archived)."""
        clause, args = self._task_filter(project=project, name=name, name_contains=name_contains,
                                         parent=parent, status=status, ids=ids, tags=tags, archived=archived)
        sql = f"SELECT {TASK_COLUMNS} FROM tasks{clause} ORDER BY created DESC, seq DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend([int(limit), int(offset)])
        return [self._task_dict(r) for r in self.rows(sql, args)]

    def count_tasks(self) -> int:
        return self.one("SELECT count(*) AS n FROM tasks")["n"]

    #: sort keys of :meth:`task_page` -> SQL expression (``?`` is "now", for running tasks).
    PAGE_SORTS = {
        "created": "created", "name": "lower(name)", "status": "status", "type": "type",
        "project": "lower(project)", "started": "started", "completed": "completed",
        "last_update": "last_update", "duration": "(coalesce(completed, ?) - started)",
        "queue": "coalesce(worker, queue)", "id": "id",
    }
    NOT_NULL_SORTS = {"created", "name", "status", "type", "project", "last_update", "id"}
    PAGE_COLUMNS = ("id, project, name, type, tags, comment, parent, status, status_reason, created, "
                    "started, completed, last_update, queue, worker, host, archived")

    def task_page(self, *, project: str | None = None, status: Iterable[str] | None = None,
                  tags: Iterable[str] | None = None, name_contains: str | None = None,
                  parent: str | None = None, sort: str = "created", descending: bool = True,
                  limit: int = 50, offset: int = 0,
                  archived: bool | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of the task table (light columns: no script, environment or code) and the
        number of tasks matching the filters. ``sort`` is a key of :attr:`PAGE_SORTS`."""
        if sort not in self.PAGE_SORTS:
            raise StoreError(f"Cannot sort tasks by {sort!r}; use one of: {', '.join(self.PAGE_SORTS)}.")
        clause, args = self._task_filter(project=project, name_contains=name_contains, parent=parent,
                                         status=status, tags=tags, archived=archived)
        key = self.PAGE_SORTS[sort]
        order = "DESC" if descending else "ASC"
        sort_args = [_now()] if "?" in key else []
        # NULLs (never started...) last whichever the direction; the sequence breaks ties. A key
        # that is never NULL gets no NULL term, so that an index (created, seq) serves the sort.
        nulls = "" if sort in self.NOT_NULL_SORTS else f"({key}) IS NULL, "
        if nulls:
            sort_args = sort_args * 2
        sql = (f"SELECT {self.PAGE_COLUMNS} FROM tasks{clause} ORDER BY {nulls}{key} {order}, "
               f"seq {order} LIMIT ? OFFSET ?")
        with self.read() as conn:
            total = conn.execute(f"SELECT count(*) FROM tasks{clause}", args).fetchone()[0]
            rows = [self._task_dict(r) for r in conn.execute(
                sql, [*args, *sort_args, int(limit), int(offset)])]
        return rows, total

    def parameters_of(self, task_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """``{task_id: [parameter rows as get_parameters gives them]}`` for several tasks at once
        (a task without parameters, or not in the store, maps to an empty list)."""
        ids = list(dict.fromkeys(task_ids))
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        with self.read() as conn:
            for start in range(0, len(ids), 500):  # stay below SQLite's bound-variable limit
                chunk = ids[start:start + 500]
                for r in conn.execute(
                        "SELECT task_id, section, name, value, type, description FROM parameters "
                        f"WHERE task_id IN ({', '.join('?' for _ in chunk)}) ORDER BY section, name", chunk):
                    row = dict(r)
                    out[row.pop("task_id")].append(row)
        return out

    def project_summary(self) -> list[dict[str, Any]]:
        """Every project with its number of tasks, per status, and its last activity."""
        projects: dict[str, dict[str, Any]] = {}
        for r in self.rows("SELECT project, status, count(*) AS n, max(last_update) AS last "
                           "FROM tasks GROUP BY project, status ORDER BY lower(project)"):
            entry = projects.setdefault(r["project"], {"name": r["project"], "tasks": 0,
                                                       "statuses": {}, "last_update": 0.0})
            entry["tasks"] += r["n"]
            entry["statuses"][r["status"]] = r["n"]
            entry["last_update"] = max(entry["last_update"], r["last"] or 0.0)
        return list(projects.values())

    def all_tags(self) -> list[str]:
        """Every tag used by some task, sorted."""
        return [r["tag"] for r in self.rows(
            "SELECT DISTINCT json_each.value AS tag FROM tasks, json_each(tasks.tags) ORDER BY 1")]

    def task_names(self, task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{task_id: {name, status, project}}`` for those of ``task_ids`` in the store."""
        ids = list(dict.fromkeys(i for i in task_ids if i))
        out: dict[str, dict[str, Any]] = {}
        if not ids:
            return out
        with self.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for r in conn.execute(f"SELECT id, name, status, project FROM tasks WHERE id IN "
                                      f"({', '.join('?' for _ in chunk)})", chunk):
                    out[r["id"]] = {"name": r["name"], "status": r["status"], "project": r["project"]}
        return out

    def clone_task(self, source_id: str, new_id: str, *, name: str | None, comment: str | None,
                   parent: str | None, project: str | None, set_parent: bool = False) -> None:
        """Copy a task's configuration into a new draft (see Task.clone for the rules)."""
        now = _now()
        with self.transaction() as conn:
            src = self._get(conn, source_id, "id, name, project, parent, comment")
            if parent is not None:
                self._get(conn, parent, "id")
                new_parent = parent
            elif set_parent:
                new_parent = src["id"]
            else:
                new_parent = src["parent"] or src["id"]
            cols = ", ".join(CLONED_COLUMNS)
            # the environment without the original's drift verdict (an output of its run)
            values = ", ".join(DRIFTLESS_ENVIRONMENT if c == "environment" else c for c in CLONED_COLUMNS)
            conn.execute(
                f"INSERT INTO tasks (id, project, name, comment, parent, status, created, last_update, {cols}, "
                f"runtime) SELECT ?, ?, ?, ?, ?, 'created', ?, ?, {values}, {SEEDED_RUNTIME} FROM tasks WHERE id = ?",
                (new_id, project if project is not None else src["project"],
                 name if name is not None else f"Clone of {src['name']}",
                 comment if comment is not None else f"Auto-generated by cloning task {src['id']}",
                 new_parent, now, now, source_id))
            conn.execute("INSERT INTO parameters SELECT ?, section, name, value, type, description "
                         "FROM parameters WHERE task_id = ?", (new_id, source_id))
            conn.execute("INSERT INTO configurations SELECT ?, name, kind, value, description "
                         "FROM configurations WHERE task_id = ?", (new_id, source_id))
            # ClearML copies the input models to the clone: they configure the run; outputs do not
            conn.execute("INSERT INTO task_models(task_id, role, name, model_id) SELECT ?, role, name, "
                         "model_id FROM task_models WHERE task_id = ? AND role = 'input'", (new_id, source_id))

    def replace_configuration(self, task_id: str, *, fields: dict[str, Any], parameters: Iterable[tuple],
                              configurations: Iterable[tuple], input_models: Iterable[tuple[str, str]],
                              force: bool = False) -> None:
        """Replace a draft's whole configuration in one transaction (``Task.import_task``): task
        columns ``fields``, every parameter ``(section, name, value, type, description)``, every
        configuration object ``(name, kind, value, description)`` and the input-model links
        ``(name, model_id)``. Refused unless the task is a draft (or ``force``)."""
        values = {k: (json.dumps(v) if k in ("tags", "script", "environment") and not isinstance(v, str)
                      else v) for k, v in fields.items()}
        unknown = set(values) - UPDATABLE
        if unknown:
            raise StoreError(f"Cannot update task columns {sorted(unknown)}")
        values["last_update"] = _now()
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            status_rules.check(task_id, row["status"], "edit", force)
            conn.execute(f"UPDATE tasks SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                         (*values.values(), task_id))
            conn.execute("DELETE FROM parameters WHERE task_id = ?", (task_id,))
            conn.executemany("INSERT INTO parameters(task_id, section, name, value, type, description) "
                             "VALUES (?, ?, ?, ?, ?, ?)", [(task_id, *r) for r in parameters])
            conn.execute("DELETE FROM configurations WHERE task_id = ?", (task_id,))
            conn.executemany("INSERT INTO configurations(task_id, name, kind, value, description) "
                             "VALUES (?, ?, ?, ?, ?)", [(task_id, *c) for c in configurations])
            conn.execute("DELETE FROM task_models WHERE task_id = ? AND role = 'input'", (task_id,))
            conn.executemany("INSERT INTO task_models(task_id, role, name, model_id) VALUES (?, 'input', ?, ?)",
                             [(task_id, *m) for m in input_models])

    def reset_task(self, task_id: str, *, delete_artifacts: bool = False, force: bool = False) -> list[str]:
        """Delete a task's outputs and make it a draft again; returns artifact files to remove."""
        with self.transaction() as conn:
            row = self._transition(
                conn, task_id, "reset", TaskStatus.created, force=force, started=None,
                completed=None, status_reason="", worker=None, queue=None, host=None, pid=None, pid_ns=None,
                abort_requested=0, status_before_queue=None, run_end=None)
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
            conn.execute(f"UPDATE tasks SET environment = {DRIFTLESS_ENVIRONMENT}, runtime = {SEEDED_RUNTIME} "
                         "WHERE id = ?", (task_id,))
            for table in ("scalars", "plots", "single_values"):
                conn.execute(f"DELETE FROM {table} WHERE task_seq = ?", (row["seq"],))
            files = []
            if delete_artifacts:  # debug samples go with the artifacts (their folder: the caller)
                conn.execute("DELETE FROM samples WHERE task_seq = ?", (row["seq"],))
                files = [r["filename"] for r in conn.execute(
                    "SELECT filename FROM artifacts WHERE task_id = ?", (task_id,))]
                conn.execute("DELETE FROM artifacts WHERE task_id = ?", (task_id,))
        return files

    def delete_task(self, task_id: str, *, force: bool = False) -> None:
        """Remove a task's rows (its folder is removed by the caller after this commits)."""
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status, seq")
            status_rules.check(task_id, row["status"], "delete", force)
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
            for table in ("scalars", "plots", "samples", "single_values"):
                conn.execute(f"DELETE FROM {table} WHERE task_seq = ?", (row["seq"],))
            for table in ("parameters", "configurations", "artifacts", "task_models", "verdicts"):
                conn.execute(f"DELETE FROM {table} WHERE task_id = ?", (task_id,))
            conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def children(self, task_id: str) -> list[dict[str, Any]]:
        return self.find_tasks(parent=task_id)

    # ------------------------------------------------------------------ parameters
    def get_parameters(self, task_id: str) -> list[dict[str, Any]]:
        """Rows ``{section, name, value (JSON text), type, description}``, sorted."""
        with self.read() as conn:
            self._get(conn, task_id, "id")
            return [dict(r) for r in conn.execute(
                "SELECT section, name, value, type, description FROM parameters WHERE task_id = ? "
                "ORDER BY section, name", (task_id,))]

    def set_parameters(self, task_id: str, rows: Iterable[tuple], *, replace: bool = False,
                       check_edit: bool = True, force: bool = False, sections: Iterable[str] = ()) -> None:
        """Upsert ``(section, name, value, type, description)`` rows in one transaction.

        ``replace`` first drops all parameters; ``sections`` drops just those sections.
        ``check_edit`` refuses unless the task is a draft (or ``force``).
        """
        rows = list(rows)
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            if check_edit:
                status_rules.check(task_id, row["status"], "edit", force)
            if replace:
                conn.execute("DELETE FROM parameters WHERE task_id = ?", (task_id,))
            for section in sections:
                conn.execute("DELETE FROM parameters WHERE task_id = ? AND section = ?", (task_id, section))
            conn.executemany(
                "INSERT INTO parameters(task_id, section, name, value, type, description) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(task_id, section, name) DO UPDATE SET "
                "value = excluded.value, type = excluded.type, "
                "description = CASE WHEN excluded.description = '' THEN parameters.description "
                "ELSE excluded.description END",
                [(task_id, *r) for r in rows])
            conn.execute("UPDATE tasks SET last_update = ? WHERE id = ?", (_now(), task_id))

    def delete_parameter(self, task_id: str, section: str, name: str, *, check_edit: bool = True,
                         force: bool = False) -> None:
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            if check_edit:
                status_rules.check(task_id, row["status"], "edit", force)
            conn.execute("DELETE FROM parameters WHERE task_id = ? AND section = ? AND name = ?",
                         (task_id, section, name))

    # ------------------------------------------------------------------ configurations
    def get_configurations(self, task_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            self._get(conn, task_id, "id")
            return [dict(r) for r in conn.execute(
                "SELECT name, kind, value, description FROM configurations WHERE task_id = ? "
                "ORDER BY name", (task_id,))]

    def set_configuration(self, task_id: str, name: str, kind: str, value: str, description: str = "",
                          *, check_edit: bool = True, force: bool = False) -> None:
        with self.transaction() as conn:
            row = self._get(conn, task_id, "status")
            if check_edit:
                status_rules.check(task_id, row["status"], "edit", force)
            conn.execute(
                "INSERT INTO configurations(task_id, name, kind, value, description) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(task_id, name) DO UPDATE SET kind = excluded.kind, value = excluded.value, "
                "description = excluded.description", (task_id, name, kind, value, description))
