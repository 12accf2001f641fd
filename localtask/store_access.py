"""How a store reaches its database file: one access strategy per kind of disk.

:class:`LocalAccess` (a local disk): WAL journal, one connection per thread kept open.
:class:`SharedAccess` (a network filesystem shared by hosts): rollback journal, and every
operation opens its own connection under a cross-host lock file, so that no host keeps cached
pages; claims of dead lock holders are broken.

Both read ``store.busy_timeout`` at each access, so a change after construction holds. The
journal switch of a new connection is retried while another process holds the database
(``store_busy``): SQLite fails it at once, without waiting, when that process is writing.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Iterator

from .exceptions import StoreLockedError
from .store_base import DB_NAME, _env_float, _pid_alive
from .store_busy import retry_while_busy

if TYPE_CHECKING:
    from .store_base import StoreBase


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


class Access:
    """What every strategy shares: how a connection is made, and this thread's kept one."""

    shared: bool = False
    #: the cross-host lock (filelock's StrictSoftFileLock), or None when there is none.
    lock = None

    def __init__(self, store: "StoreBase"):
        self.store = store
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.store.db_path), timeout=self.store.busy_timeout,
                               isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    #: the journal mode (``PRAGMA journal_mode``) and the sync level of this strategy's connections.
    journal = ""
    synchronous = ""

    def new_connection(self) -> sqlite3.Connection:
        """A new connection, its database in this strategy's journal mode."""
        conn = self._connect()
        try:
            retry_while_busy(lambda: self._switch_journal(conn), self.store.db_path, self.store.busy_timeout)
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _switch_journal(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != self.journal:
            conn.execute(f"PRAGMA journal_mode={self.journal}")

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self.new_connection()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def access(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A connection for one read or one transaction."""
        raise NotImplementedError

    def acquire(self) -> None:
        """Take the cross-host lock, if the strategy has one."""

    def lock_holders(self) -> str:
        return ""

    def break_dead_locks(self) -> int:
        return 0


class LocalAccess(Access):
    """A store on a local disk: WAL journal, one open connection per thread (and process)."""

    journal, synchronous = "wal", "NORMAL"

    @contextlib.contextmanager
    def access(self) -> Iterator[sqlite3.Connection]:
        yield self.connection()


class SharedAccess(Access):
    """A store on a disk several hosts share: rollback journal, full sync, and one connection
    per operation, opened and closed under the cross-host lock file ``localtask.db.lock``."""

    shared = True
    journal, synchronous = "delete", "FULL"

    def __init__(self, store: "StoreBase"):
        super().__init__(store)
        from filelock import StrictSoftFileLock

        self.lock = StrictSoftFileLock(str(store.home / (DB_NAME + ".lock")), timeout=store.busy_timeout)

    @contextlib.contextmanager
    def access(self) -> Iterator[sqlite3.Connection]:
        # No host may keep cached pages, so one connection per operation, opened and closed
        # under the cross-host lock.
        self.acquire()
        try:
            conn = self.new_connection()
            try:
                yield conn
            finally:
                conn.close()
        finally:
            self.lock.release()

    def acquire(self) -> None:
        from filelock import Timeout

        busy_timeout = self.store.busy_timeout
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self.lock.acquire(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                return
            except Timeout:
                if self.break_dead_locks():
                    continue
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"The store lock {self.lock.lock_file} was held by another process for more "
                        f"than {busy_timeout:g} s ({self.lock_holders() or 'holder unknown'}). "
                        "Nothing was changed; retry later.") from None

    def lock_holders(self) -> str:
        # a holder has two claims (its intent and its hold): name it once
        return ", ".join(dict.fromkeys(f"{c.hostname} pid {c.pid}" for c in self.lock.claims))

    def break_dead_locks(self) -> int:
        host = _lock_host_name()
        stale_after = _env_float("LOCALTASK_LOCK_STALE_AFTER", 300.0)
        broken = 0
        for claim in self.lock.claims:
            if claim.hostname == host:
                dead = _claim_owner_dead(claim)
            else:
                try:
                    age = time.time() - (self.lock._claim_directory / claim.name).stat().st_mtime
                except OSError:
                    continue
                dead = age > stale_after
            if dead:
                try:
                    self.lock.force_break(claim.name)
                    broken += 1
                except (FileNotFoundError, ValueError):
                    pass
        return broken
