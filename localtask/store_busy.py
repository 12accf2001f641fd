"""Waiting out another process's hold on the database where SQLite does not wait by itself.

SQLite's busy timeout covers most waits, but a connection that reads and then wants to write
while another one is writing gets SQLITE_BUSY at once (waiting could deadlock). Opening a new
store does just that when several processes open it together: each reads the journal mode and
the schema version, then switches the journal or creates the schema. Those steps are retried
here until the store's busy timeout, and the lock error says how long was really waited.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from .exceptions import StoreLockedError

T = TypeVar("T")
#: the first pause between two tries, doubled up to the longest: a new store is ready in ms.
FIRST_PAUSE, LONGEST_PAUSE = 0.001, 0.05


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying that another connection holds the database."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and ("locked" in text or "busy" in text)


def locked_error(db_path: Path, waited: float, busy_timeout: float, detail: str) -> StoreLockedError:
    """The error for an operation on ``db_path`` given up after ``waited`` seconds."""
    return StoreLockedError(
        f"The store database {db_path} stayed locked by another process: gave up after "
        f"{waited:.1f} s (busy timeout {busy_timeout:g} s; {detail}). Nothing was changed; retry, "
        "or raise LOCALTASK_BUSY_TIMEOUT.")


def retry_while_busy(action: Callable[[], T], db_path: Path, busy_timeout: float) -> T:
    """``action()``, tried again after a short pause each time it finds the database busy, for
    up to ``busy_timeout`` seconds in all. Raises StoreLockedError past that; ``action`` must
    leave nothing half done when it fails (one statement, or one transaction)."""
    began = time.monotonic()
    pause = FIRST_PAUSE
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            waited = time.monotonic() - began
            if not is_busy(exc):
                raise
            if waited >= busy_timeout:
                raise locked_error(db_path, waited, busy_timeout, str(exc)) from None
        time.sleep(min(pause, busy_timeout - waited))
        pause = min(pause * 2, LONGEST_PAUSE)
