"""The store's base: schema, version check, error translation, connections, and the
``read()`` / ``transaction()`` context managers with one-line query helpers.

Only the store modules (``store*.py``) speak SQL. Every state change is one short
``BEGIN IMMEDIATE`` transaction opened by :meth:`StoreBase.transaction`; none is held across
git, pip or artifact I/O. How a connection is opened and guarded (WAL on local disk, rollback
journal and a cross-host lock on a shared one) is an access strategy: see ``store_access``.
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
from typing import Any, Iterator

from .exceptions import (
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreVersionError,
    TaskNotFoundError,
)
from .folders import make_dirs, precreate_shared_file
from .store_busy import is_busy, locked_error, retry_while_busy

SCHEMA_VERSION = 7
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
    # 1 -> 2: plots, debug samples and single values (ClearML's Logger reports)
    """
    CREATE TABLE plots (
        task_seq INTEGER NOT NULL,
        title TEXT NOT NULL,
        series TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        kind TEXT NOT NULL,
        figure TEXT NOT NULL,
        ts REAL NOT NULL
    );
    CREATE INDEX plots_task ON plots(task_seq, title, series);
    CREATE TABLE samples (
        task_seq INTEGER NOT NULL,
        title TEXT NOT NULL,
        series TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        filename TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        ts REAL NOT NULL
    );
    CREATE INDEX samples_task ON samples(task_seq, title, series, iteration);
    CREATE TABLE single_values (
        task_seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        ts REAL NOT NULL,
        PRIMARY KEY (task_seq, name)
    );
    ALTER TABLE tasks ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    """,
    # 2 -> 3: the local model registry (ClearML's OutputModel / InputModel / Model)
    """
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        task_id TEXT,
        name TEXT NOT NULL,
        project TEXT NOT NULL DEFAULT '',
        framework TEXT NOT NULL DEFAULT '',
        filename TEXT,
        uri TEXT,
        sha256 TEXT,
        size INTEGER,
        iteration INTEGER,
        config_text TEXT,
        config_dict TEXT,
        labels TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        comment TEXT NOT NULL DEFAULT '',
        published INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX models_name ON models(project, name, created);
    CREATE INDEX models_task ON models(task_id);
    CREATE TABLE task_models (
        task_id TEXT NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        model_id TEXT NOT NULL,
        PRIMARY KEY (task_id, role, name)
    ) WITHOUT ROWID;
    CREATE INDEX task_models_model ON task_models(model_id);
    """,
    # 3 -> 4: the end of a run as the task's own process saw it (worker runs: see sweep_lost)
    """
    ALTER TABLE tasks ADD COLUMN run_end TEXT;
    """,
    # 4 -> 5: verdicts of reproductions (localtask reproduce): one per reproducing task
    """
    CREATE TABLE verdicts (
        task_id TEXT PRIMARY KEY,
        reference_id TEXT NOT NULL,
        verdict TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX verdicts_reference ON verdicts(reference_id);
    """,
    # 5 -> 6: the pid namespace of a local run's pid (a container on the same host name has
    # its own pids: its runs are not this host's to judge dead)
    """
    ALTER TABLE tasks ADD COLUMN pid_ns TEXT;
    """,
    # 6 -> 7: what a run reports about itself while it runs (ClearML's runtime properties:
    # progress); an output of the run, so never cloned, and cleared by reset
    """
    ALTER TABLE tasks ADD COLUMN runtime TEXT NOT NULL DEFAULT '{}';
    """,
]

TASK_COLUMNS = (
    "id, project, name, type, tags, comment, parent, status, status_reason, "
    "status_before_queue, created, started, completed, last_update, queue, worker, host, pid, "
    "abort_requested, script, environment, code_ref, seq, archived, run_end, pid_ns, runtime"
)
#: columns a clone copies: the configuration, never the outputs.
CLONED_COLUMNS = ("type", "tags", "script", "environment", "code", "code_ref")
UPDATABLE = {
    "name", "project", "type", "tags", "comment", "parent", "status_reason", "started",
    "completed", "queue", "worker", "host", "pid", "script", "environment", "code", "code_ref",
    "abort_requested", "archived", "run_end", "pid_ns", "runtime",
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


def pid_namespace() -> str:
    """This process's pid namespace (``pid:[4026531836]`` on Linux; ``none`` without them):
    a pid means a process only within its namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return "none"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction on ``conn``: committed on success, rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (a full disk, an I/O error): a second
        # ROLLBACK would fail and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class StoreBase:
    """Opening, connections, transactions and the schema of a store folder; the queries come
    from the mixins :class:`localtask.store.Store` combines with it."""

    _instances: dict[Path, "StoreBase"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, home: str | os.PathLike | None = None, *, busy_timeout: float | None = None,
                 shared: bool | None = None):
        from .store_access import LocalAccess, SharedAccess

        self.home = resolve_home(home)
        self.db_path = self.home / DB_NAME
        self.tasks_dir = self.home / "tasks"
        self.cache_dir = self.home / "cache"
        self.blobs_dir = self.home / "blobs"
        self.models_dir = self.home / "models"
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
                shared = self._on_network_filesystem(self.home)
        self.shared = shared
        self._access_strategy = SharedAccess(self) if shared else LocalAccess(self)
        #: the cross-host lock (a filelock StrictSoftFileLock) in shared mode, else None.
        self._lock = self._access_strategy.lock
        self._migrated = False
        precreate_shared_file(self.db_path)
        with self._translate_errors():
            self._migrate()

    @staticmethod
    def _on_network_filesystem(home: Path) -> bool:
        return is_network_filesystem(filesystem_type(home))

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, home: str | os.PathLike | None = None) -> "StoreBase":
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
        return self._access_strategy.new_connection()

    def _connection(self) -> sqlite3.Connection:
        return self._access_strategy.connection()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._access_strategy.close()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            low = text.lower()
            if is_busy(exc):
                # the time since the operation began, not the busy timeout: SQLite may not wait
                raise locked_error(self.db_path, time.monotonic() - began, self.busy_timeout, text) from None
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
        with self._access_strategy.access() as conn:
            yield conn

    def _acquire_shared(self) -> None:
        """Take the cross-host lock (shared mode), breaking dead holders' claims on the way."""
        self._access_strategy.acquire()

    def lock_holders(self) -> str:
        return self._access_strategy.lock_holders()

    def break_dead_locks(self) -> int:
        """Remove lock claims of dead holders: a dead pid on this host at once, another host's
        claim once older than ``LOCALTASK_LOCK_STALE_AFTER`` seconds (default 300). Returns how many."""
        return self._access_strategy.break_dead_locks()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (no transaction is held)."""
        with self._translate_errors(), self._access() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._translate_errors(), self._access() as conn, _immediate(conn):
            yield conn

    # ------------------------------------------------------------------ one-line queries
    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Every row of one read query, as dicts."""
        with self.read() as conn:
            return [dict(r) for r in conn.execute(sql, params)]

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        """The first row of one read query as a dict, or None."""
        with self.read() as conn:
            row = conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def execute(self, sql: str, params: Any = ()) -> int:
        """One statement in its own transaction; returns how many rows it changed."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def _migrate(self) -> None:
        """Create or upgrade the schema; retried while busy, as other processes may be opening
        the same new store (see ``store_busy``)."""
        retry_while_busy(self._migrate_once, self.db_path, self.busy_timeout)

    def _migrate_once(self) -> None:
        with self._access() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            self._check_version(version)
            with _immediate(conn):
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
        for key in ("tags", "script", "environment", "run_end", "runtime"):
            if key in task and isinstance(task[key], str):
                task[key] = json.loads(task[key])
        return task

    def _get(self, conn: sqlite3.Connection, task_id: str, columns: str = TASK_COLUMNS) -> sqlite3.Row:
        row = conn.execute(f"SELECT {columns} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(f"No task with id {task_id!r} in the store {self.home}.")
        return row

    # ------------------------------------------------------------------ maintenance
    def integrity_check(self) -> str:
        with self.read() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
