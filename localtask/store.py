"""The store: one folder holding a SQLite database and per-task bulk files.

This is the only module that speaks SQL. Every state change is one short
``BEGIN IMMEDIATE`` transaction opened by :meth:`Store.transaction`; none is
held across git, pip or artifact I/O.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from .folders import make_dirs, precreate_shared_file
from . import status as status_rules
from .exceptions import (
    AmbiguousTaskIdError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreVersionError,
    TaskNotFoundError,
)
from .status import TaskStatus

SCHEMA_VERSION = 1
DB_NAME = "localtask.db"
DEFAULT_BUSY_TIMEOUT = 30.0
NETWORK_FILESYSTEMS = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "afs", "ceph", "glusterfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "fuse.s3fs", "fuse.gcsfuse", "9p", "beegfs",
}

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL DEFAULT 'training',
        tags TEXT NOT NULL DEFAULT '[]',
        comment TEXT NOT NULL DEFAULT '',
        parent TEXT,
        status TEXT NOT NULL,
        status_reason TEXT NOT NULL DEFAULT '',
        status_before_queue TEXT,
        created REAL NOT NULL,
        started REAL,
        completed REAL,
        last_update REAL NOT NULL,
        queue TEXT,
        worker TEXT,
        host TEXT,
        pid INTEGER,
        abort_requested INTEGER NOT NULL DEFAULT 0,
        script TEXT NOT NULL DEFAULT '{}',
        environment TEXT NOT NULL DEFAULT '{}',
        code BLOB,
        code_ref TEXT
    );
    CREATE INDEX tasks_created ON tasks(created);
    CREATE INDEX tasks_project ON tasks(project, created);
    CREATE INDEX tasks_status ON tasks(status, created);
    CREATE INDEX tasks_parent ON tasks(parent);
    CREATE TABLE parameters (
        task_id TEXT NOT NULL,
        section TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        type TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (task_id, section, name)
    ) WITHOUT ROWID;
    CREATE TABLE configurations (
        task_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (task_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE queues (
        name TEXT PRIMARY KEY,
        created REAL NOT NULL
    );
    CREATE TABLE queue_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        task_id TEXT NOT NULL UNIQUE,
        priority INTEGER NOT NULL DEFAULT 0,
        enqueued REAL NOT NULL
    );
    CREATE INDEX queue_entries_order ON queue_entries(queue, priority DESC, seq);
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        slots INTEGER NOT NULL,
        started REAL NOT NULL,
        last_heartbeat REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'running'
    );
    CREATE TABLE scalars (
        task_seq INTEGER NOT NULL,
        title TEXT NOT NULL,
        series TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        value REAL,
        ts REAL NOT NULL
    );
    CREATE INDEX scalars_task ON scalars(task_seq);
    CREATE TABLE artifacts (
        task_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        filename TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created REAL NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (task_id, name)
    ) WITHOUT ROWID;
    INSERT INTO queues(name, created) VALUES ('default', strftime('%s','now'));
    """,
]

TASK_COLUMNS = (
    "id, project, name, type, tags, comment, parent, status, status_reason, "
    "status_before_queue, created, started, completed, last_update, queue, worker, host, pid, "
    "abort_requested, script, environment, code_ref, seq"
)
#: columns a clone copies: the configuration, never the outputs.
CLONED_COLUMNS = ("type", "tags", "script", "environment", "code", "code_ref")
UPDATABLE = {
    "name", "project", "type", "tags", "comment", "parent", "status_reason", "started",
    "completed", "queue", "worker", "host", "pid", "script", "environment", "code", "code_ref",
    "abort_requested",
}


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The store folder: ``home`` if given, else ``$LOCALTASK_HOME``, else platformdirs' user data dir."""
    if home is None:
        home = os.environ.get("LOCALTASK_HOME") or None
    if home is None:
        import platformdirs

        home = platformdirs.user_data_dir("localtask", appauthor=False)
    return Path(home).expanduser().absolute()


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path`` as /proc/mounts names it ('' if unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    target = str(path.resolve())
    best, best_type = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, best_type = mount, parts[2]
    return best_type


def is_network_filesystem(fstype: str) -> bool:
    return fstype in NETWORK_FILESYSTEMS or fstype.split(".")[0] in NETWORK_FILESYSTEMS


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_host_name() -> str:
    """This host as filelock writes it into a claim: the hostname escaped, plus the pid namespace
    when not the initial one (a container), so that a claim from this very host is recognised."""
    try:
        from filelock._identity import host_name
    except ImportError:  # another filelock layout: its claims hold the plain hostname
        import socket

        return socket.gethostname()
    return host_name()


def _claim_owner_dead(claim) -> bool:
    """Whether the process that wrote a claim on this host is gone: its pid is free, or now names
    another process (a recycled pid: its start time differs from the one the claim recorded)."""
    try:
        from filelock._identity import owner_is_stale
    except ImportError:
        return not _pid_alive(claim.pid)
    return owner_is_stale(claim.pid, claim.hostname, getattr(claim, "start", None))


def _now() -> float:
    return time.time()


#: what to do when the store's disk is full; ends every StoreFullError message.
FULL_REMEDY = ("free space on that disk (or raise the file-size limit, if one is set), or point "
               "LOCALTASK_HOME at a store on a disk with room")
#: below this many free bytes, SQLite's vague "disk I/O error" is taken to mean a full disk.
LOW_SPACE = 1 << 20


def _file_size_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def space_problem(folder: Path, exc: BaseException) -> str | None:
    """Why a write under ``folder`` failed for want of room, or None when ``exc`` is another
    error: no space left on the device, a disk quota, or this process's file-size limit
    (``ulimit -f``: the write then fails with EFBIG, which SQLite reports as a disk I/O error)."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return os.strerror(exc.errno)
        if exc.errno == errno.EFBIG:
            limit = _file_size_limit()
            return (f"File too large: this process may not write files past {limit} bytes (ulimit -f)"
                    if limit is not None else os.strerror(exc.errno))
        return None
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    text = str(exc)
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return f"No space left on device (SQLite: {text})"
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        try:
            stat = os.statvfs(folder)
            free = stat.f_bavail * stat.f_frsize
        except (OSError, AttributeError):
            free = LOW_SPACE
        if free < LOW_SPACE:
            return f"No space left on device (SQLite: {text})"
        limit = _file_size_limit()
        if limit is not None:
            return f"File too large: this process may not write files past {limit} bytes (ulimit -f; SQLite: {text})"
    return None


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class Store:
    """A localtask store folder. Obtain one with :meth:`Store.open` (cached per folder)."""

    _instances: dict[Path, "Store"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, home: str | os.PathLike | None = None, *, busy_timeout: float | None = None,
                 shared: bool | None = None):
        self.home = resolve_home(home)
        self.db_path = self.home / DB_NAME
        self.tasks_dir = self.home / "tasks"
        self.cache_dir = self.home / "cache"
        self.blobs_dir = self.home / "blobs"
        self.notify_path = self.home / "queue.notify"
        self.busy_timeout = busy_timeout if busy_timeout is not None else _env_float(
            "LOCALTASK_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT)
        self._make_dirs()
        if shared is None:
            forced = os.environ.get("LOCALTASK_SHARED", "").strip().lower()
            if forced in ("1", "true", "yes", "on"):
                shared = True
            elif forced in ("0", "false", "no", "off"):
                shared = False
            else:
                shared = is_network_filesystem(filesystem_type(self.home))
        self.shared = shared
        self._local = threading.local()
        self._lock = None
        if shared:
            from filelock import StrictSoftFileLock

            self._lock = StrictSoftFileLock(str(self.home / (DB_NAME + ".lock")),
                                            timeout=self.busy_timeout)
        self._migrated = False
        precreate_shared_file(self.db_path)
        with self._translate_errors():
            self._migrate()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, home: str | os.PathLike | None = None) -> "Store":
        """The store at ``home`` (see :func:`resolve_home`), opened once per process."""
        path = resolve_home(home)
        with cls._instances_lock:
            store = cls._instances.get(path)
            if store is None or store._pid != os.getpid():
                store = cls(path)
                cls._instances[path] = store
            return store

    @property
    def _pid(self) -> int:
        return getattr(self, "_created_pid", os.getpid())

    def _make_dirs(self) -> None:
        self._created_pid = os.getpid()
        for path in (self.home, self.tasks_dir, self.cache_dir, self.blobs_dir):
            if not path.is_dir():
                try:
                    make_dirs(path)
                except OSError as exc:
                    raise StoreError(f"Cannot create the store folder {path}: {exc.strerror}. "
                                     "Choose another with LOCALTASK_HOME or --home.") from None

    def _new_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.db_path), timeout=self.busy_timeout,
                               isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if self.shared:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "delete":
                conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
        else:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._new_connection()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            low = text.lower()
            if "locked" in low or "busy" in low:
                raise StoreLockedError(
                    f"The store database {self.db_path} stayed locked by another process for more "
                    f"than {self.busy_timeout:g} s ({text}). Nothing was changed; retry, or raise "
                    "LOCALTASK_BUSY_TIMEOUT.") from None
            full = space_problem(self.home, exc)
            if full:
                raise StoreFullError(
                    f"Cannot write the store database {self.db_path}: {full}. Nothing was changed; "
                    f"{FULL_REMEDY}.") from None
            if "not a database" in low or "malformed" in low or "corrupt" in low:
                raise StoreCorruptError(
                    f"The store database {self.db_path} is corrupt or not a localtask database "
                    f"({text}). localtask did not modify it; restore it from a backup or move it "
                    "away to start a new store.") from None
            raise StoreError(f"Store database error in {self.db_path}: {text}") from None
        except (UnicodeEncodeError, OverflowError) as exc:
            # sqlite3 raises these while binding a value: a str with a lone surrogate (undecodable
            # bytes of an argument or a file name), an int beyond 64 bits.
            raise StoreError(f"Cannot store or look up this value ({exc}): SQLite holds only valid "
                             "Unicode text and integers of at most 64 bits. Nothing was changed.") from None

    @contextlib.contextmanager
    def _access(self) -> Iterator[sqlite3.Connection]:
        if not self.shared:
            yield self._connection()
            return
        # Shared disk: no host may keep cached pages, so one connection per operation,
        # opened and closed under the cross-host lock.
        self._acquire_shared()
        try:
            conn = self._new_connection()
            try:
                yield conn
            finally:
                conn.close()
        finally:
            self._lock.release()

    def _acquire_shared(self) -> None:
        from filelock import Timeout

        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                self._lock.acquire(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                return
            except Timeout:
                if self.break_dead_locks():
                    continue
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"The store lock {self._lock.lock_file} was held by another process for more "
                        f"than {self.busy_timeout:g} s ({self.lock_holders() or 'holder unknown'}). "
                        "Nothing was changed; retry later.") from None

    def lock_holders(self) -> str:
        # a holder has two claims (its intent and its hold): name it once
        return ", ".join(dict.fromkeys(f"{c.hostname} pid {c.pid}" for c in self._lock.claims))

    def break_dead_locks(self) -> int:
        """Remove lock claims of dead holders: a dead pid on this host at once, another host's
        claim once older than ``LOCALTASK_LOCK_STALE_AFTER`` seconds (default 300). Returns how many."""
        if self._lock is None:
            return 0
        host = _lock_host_name()
        stale_after = _env_float("LOCALTASK_LOCK_STALE_AFTER", 300.0)
        broken = 0
        for claim in self._lock.claims:
            if claim.hostname == host:
                dead = _claim_owner_dead(claim)
            else:
                try:
                    age = time.time() - (self._lock._claim_directory / claim.name).stat().st_mtime
                except OSError:
                    continue
                dead = age > stale_after
            if dead:
                try:
                    self._lock.force_break(claim.name)
                    broken += 1
                except (FileNotFoundError, ValueError):
                    pass
        return broken

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (no transaction is held)."""
        with self._translate_errors(), self._access() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._translate_errors(), self._access() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (a full disk, an I/O error): a second
                # ROLLBACK would fail and hide the error that matters.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        with self.read() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self._check_version(version)
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"The store {self.home} was written by a newer localtask (schema version "
                f"{version}; this localtask understands up to {SCHEMA_VERSION}). Upgrade "
                "localtask (pip install -U localtask) or point LOCALTASK_HOME at another store.")

    # ------------------------------------------------------------------ paths
    def task_dir(self, task_id: str, create: bool = False) -> Path:
        path = self.tasks_dir / task_id
        if create and not path.is_dir():
            make_dirs(path)
        return path

    def console_path(self, task_id: str) -> Path:
        return self.tasks_dir / task_id / "console.log"

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _task_dict(row: sqlite3.Row) -> dict[str, Any]:
        task = dict(row)
        for key in ("tags", "script", "environment"):
            if key in task and isinstance(task[key], str):
                task[key] = json.loads(task[key])
        return task

    def _get(self, conn: sqlite3.Connection, task_id: str, columns: str = TASK_COLUMNS) -> sqlite3.Row:
        row = conn.execute(f"SELECT {columns} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(f"No task with id {task_id!r} in the store {self.home}.")
        return row

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
        with self.read() as conn:
            rows = conn.execute("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                                (key, key + "g")).fetchall()
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
                     tags: Iterable[str] | None = None) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause (or '') and its arguments for the task filters given."""
        where, args = [], []
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
                   name_contains: str | None = None) -> list[dict[str, Any]]:
        """Tasks matching every given filter, newest first."""
        clause, args = self._task_filter(project=project, name=name, name_contains=name_contains,
                                         parent=parent, status=status, ids=ids, tags=tags)
        sql = f"SELECT {TASK_COLUMNS} FROM tasks{clause} ORDER BY created DESC, seq DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend([int(limit), int(offset)])
        with self.read() as conn:
            return [self._task_dict(r) for r in conn.execute(sql, args)]

    def count_tasks(self) -> int:
        with self.read() as conn:
            return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]

    #: sort keys of :meth:`task_page` -> SQL expression (``?`` is "now", for running tasks).
    PAGE_SORTS = {
        "created": "created", "name": "lower(name)", "status": "status", "type": "type",
        "project": "lower(project)", "started": "started", "completed": "completed",
        "last_update": "last_update", "duration": "(coalesce(completed, ?) - started)",
        "queue": "coalesce(worker, queue)", "id": "id",
    }
    NOT_NULL_SORTS = {"created", "name", "status", "type", "project", "last_update", "id"}
    PAGE_COLUMNS = ("id, project, name, type, tags, comment, parent, status, status_reason, created, "
                    "started, completed, last_update, queue, worker, host")

    def task_page(self, *, project: str | None = None, status: Iterable[str] | None = None,
                  tags: Iterable[str] | None = None, name_contains: str | None = None,
                  parent: str | None = None, sort: str = "created", descending: bool = True,
                  limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of the task table (light columns: no script, environment or code) and the
        number of tasks matching the filters. ``sort`` is a key of :attr:`PAGE_SORTS`."""
        if sort not in self.PAGE_SORTS:
            raise StoreError(f"Cannot sort tasks by {sort!r}; use one of: {', '.join(self.PAGE_SORTS)}.")
        clause, args = self._task_filter(project=project, name_contains=name_contains, parent=parent,
                                         status=status, tags=tags)
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
        with self.read() as conn:
            projects: dict[str, dict[str, Any]] = {}
            for r in conn.execute("SELECT project, status, count(*) AS n, max(last_update) AS last "
                                  "FROM tasks GROUP BY project, status ORDER BY lower(project)"):
                entry = projects.setdefault(r["project"], {"name": r["project"], "tasks": 0,
                                                           "statuses": {}, "last_update": 0.0})
                entry["tasks"] += r["n"]
                entry["statuses"][r["status"]] = r["n"]
                entry["last_update"] = max(entry["last_update"], r["last"] or 0.0)
        return list(projects.values())

    def all_tags(self) -> list[str]:
        """Every tag used by some task, sorted."""
        with self.read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT json_each.value FROM tasks, json_each(tasks.tags) ORDER BY 1")]

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
            conn.execute(
                f"INSERT INTO tasks (id, project, name, comment, parent, status, created, last_update, {cols}) "
                f"SELECT ?, ?, ?, ?, ?, 'created', ?, ?, {cols} FROM tasks WHERE id = ?",
                (new_id, project if project is not None else src["project"],
                 name if name is not None else f"Clone of {src['name']}",
                 comment if comment is not None else f"Auto-generated by cloning task {src['id']}",
                 new_parent, now, now, source_id))
            conn.execute("INSERT INTO parameters SELECT ?, section, name, value, type, description "
                         "FROM parameters WHERE task_id = ?", (new_id, source_id))
            conn.execute("INSERT INTO configurations SELECT ?, name, kind, value, description "
                         "FROM configurations WHERE task_id = ?", (new_id, source_id))

    def reset_task(self, task_id: str, *, delete_artifacts: bool = False, force: bool = False) -> list[str]:
        """Delete a task's outputs and make it a draft again; returns artifact files to remove."""
        with self.transaction() as conn:
            row = self._transition(
                conn, task_id, "reset", TaskStatus.created, force=force, started=None,
                completed=None, status_reason="", worker=None, queue=None, host=None, pid=None,
                abort_requested=0, status_before_queue=None)
            conn.execute("DELETE FROM queue_entries WHERE task_id = ?", (task_id,))
            conn.execute("DELETE FROM scalars WHERE task_seq = ?", (row["seq"],))
            files = []
            if delete_artifacts:
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
            conn.execute("DELETE FROM scalars WHERE task_seq = ?", (row["seq"],))
            for table in ("parameters", "configurations", "artifacts"):
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
        claim_sql = ("UPDATE tasks SET status = 'in_progress', worker = ?, host = ?, started = ?, "
                     "completed = NULL, last_update = ?, status_reason = '', abort_requested = 0 "
                     "WHERE id = ? AND status = 'queued'")
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

    def queue_counts(self) -> list[dict[str, Any]]:
        """Every queue with its number of waiting tasks."""
        with self.read() as conn:
            return [dict(r) for r in conn.execute(
                "SELECT q.name AS name, count(e.seq) AS queued, q.created AS created FROM queues q "
                "LEFT JOIN queue_entries e ON e.queue = q.name GROUP BY q.name ORDER BY q.name")]

    def queue_entries(self, queue: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT seq, queue, task_id, priority, enqueued FROM queue_entries"
        args: tuple = ()
        if queue is not None:
            sql += " WHERE queue = ?"
            args = (queue,)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(sql + " ORDER BY queue, priority DESC, seq", args)]

    def pending(self, queues: list[str]) -> int:
        marks = ", ".join("?" for _ in queues)
        with self.read() as conn:
            return conn.execute(f"SELECT count(*) FROM queue_entries WHERE queue IN ({marks})",
                                queues).fetchone()[0]

    # ------------------------------------------------------------------ scalars
    def add_scalars(self, task_seq: int, rows: list[tuple]) -> None:
        """Append ``(title, series, iteration, value, ts)`` rows for the task with ``task_seq``."""
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany("INSERT INTO scalars(task_seq, title, series, iteration, value, ts) "
                             "VALUES (?, ?, ?, ?, ?, ?)", [(task_seq, *r) for r in rows])

    def get_scalars(self, task_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            seq = self._get(conn, task_id, "seq")["seq"]
            return [dict(r) for r in conn.execute(
                "SELECT title, series, iteration, value FROM scalars WHERE task_seq = ? "
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

    def artifact_filename(self, task_id: str, name: str) -> str | None:
        """The file the artifact row ``name`` of a task names, or None without such a row."""
        with self.read() as conn:
            row = conn.execute("SELECT filename FROM artifacts WHERE task_id = ? AND name = ?",
                               (task_id, name)).fetchone()
        return row[0] if row else None

    def artifact_file_named(self, task_id: str, filename: str) -> bool:
        """Whether some artifact row of the task names ``filename``."""
        with self.read() as conn:
            return conn.execute("SELECT 1 FROM artifacts WHERE task_id = ? AND filename = ?",
                                (task_id, filename)).fetchone() is not None

    def get_artifacts(self, task_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT name, kind, filename, size, sha256, created, meta FROM artifacts "
                "WHERE task_id = ? ORDER BY name", (task_id,))]
        for row in rows:
            row["meta"] = json.loads(row["meta"])
        return rows

    # ------------------------------------------------------------------ workers
    def register_worker(self, name: str, host: str, pid: int, queues: list[str], slots: int) -> None:
        now = _now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO workers(name, host, pid, queues, slots, started, last_heartbeat, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running') ON CONFLICT(name) DO UPDATE SET "
                "host = excluded.host, pid = excluded.pid, queues = excluded.queues, "
                "slots = excluded.slots, started = excluded.started, "
                "last_heartbeat = excluded.last_heartbeat, state = 'running'",
                (name, host, pid, json.dumps(queues), slots, now, now))

    def worker_row(self, name: str) -> dict | None:
        with self.read() as conn:
            row = conn.execute("SELECT * FROM workers WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

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
        with self.transaction() as conn:
            conn.execute("DELETE FROM workers WHERE name = ?", (name,))

    def list_workers(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            workers = [dict(r) for r in conn.execute("SELECT * FROM workers ORDER BY name")]
            for w in workers:
                w["queues"] = json.loads(w["queues"])
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
                rows = conn.execute("SELECT id, worker, queue FROM tasks WHERE status = 'in_progress' "
                                    "AND worker = ?", (only_worker,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT t.id, t.worker, t.queue FROM tasks t LEFT JOIN workers w ON w.name = t.worker "
                    "WHERE t.status = 'in_progress' AND t.worker IS NOT NULL AND t.worker != ? "
                    "AND (w.name IS NULL OR w.last_heartbeat < ?) AND t.last_update < ?",
                    (exclude_worker or "", limit, limit)).fetchall()
            for row in rows:
                if requeue:
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

    def abort_requested(self, task_ids: list[str]) -> list[str]:
        """Those of ``task_ids`` whose abort was requested."""
        marks = ", ".join("?" for _ in task_ids)
        with self.read() as conn:
            return [r["id"] for r in conn.execute(
                f"SELECT id FROM tasks WHERE id IN ({marks}) AND abort_requested = 1", task_ids)]

    def set_task_pid(self, task_id: str, pid: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE tasks SET pid = ?, last_update = ? WHERE id = ?", (pid, _now(), task_id))

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
        with self.transaction() as conn:
            return conn.execute(f"UPDATE tasks SET {sets} WHERE id = ? AND status = 'in_progress' "
                                f"AND {owner}", args).rowcount == 1

    # ------------------------------------------------------------------ maintenance
    def integrity_check(self) -> str:
        with self.read() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
