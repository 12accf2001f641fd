"""The store: one folder holding a SQLite database and per-task bulk files.

Only these store modules speak SQL: ``store_base`` (schema, connections, transactions),
``store_access`` (local and shared access), and the queries grouped by concern in
``store_tasks``, ``store_queue``, ``store_workers``, ``store_outputs``, ``store_reports``,
``store_models``, ``store_verdicts`` and ``store_bundle``. Every state change is one short
``BEGIN IMMEDIATE`` transaction opened by
:meth:`Store.transaction`; none is held across git, pip or artifact I/O.

This module is the facade: :class:`Store` and every name the rest of localtask imports.
"""
from __future__ import annotations

from pathlib import Path

from .store_access import Access, LocalAccess, SharedAccess, _claim_owner_dead, _lock_host_name
from .store_base import (
    CLONED_COLUMNS,
    DB_NAME,
    DEFAULT_BUSY_TIMEOUT,
    FULL_REMEDY,
    LOW_SPACE,
    MIGRATIONS,
    NETWORK_FILESYSTEMS,
    SCHEMA_VERSION,
    TASK_COLUMNS,
    UPDATABLE,
    StoreBase,
    _env_float,
    _file_size_limit,
    _now,
    _pid_alive,
    filesystem_type,
    is_network_filesystem,
    resolve_home,
    space_problem,
)
from .store_bundle import BundleQueries
from .store_models import ModelQueries
from .store_outputs import OutputQueries
from .store_queue import QueueQueries
from .store_reports import ReportQueries
from .store_tasks import TaskQueries
from .store_verdicts import VerdictQueries
from .store_workers import WorkerQueries

__all__ = [
    "Access", "CLONED_COLUMNS", "DB_NAME", "DEFAULT_BUSY_TIMEOUT", "FULL_REMEDY", "LOW_SPACE",
    "LocalAccess", "MIGRATIONS", "NETWORK_FILESYSTEMS", "SCHEMA_VERSION", "SharedAccess", "Store",
    "TASK_COLUMNS", "UPDATABLE", "filesystem_type", "is_network_filesystem", "resolve_home",
    "space_problem",
]
# private helpers that other modules (worker: _pid_alive) and older callers import from here
_REEXPORTED = (_claim_owner_dead, _env_float, _file_size_limit, _lock_host_name, _now, _pid_alive)


class Store(TaskQueries, QueueQueries, WorkerQueries, OutputQueries, ReportQueries, ModelQueries,
            VerdictQueries, BundleQueries, StoreBase):
    """A localtask store folder. Obtain one with :meth:`Store.open` (cached per folder)."""

    _instances: dict[Path, "Store"] = {}

    @staticmethod
    def _on_network_filesystem(home: Path) -> bool:
        # looked up in this module at each call, so that localtask.store.filesystem_type can be
        # replaced (tests present a network filesystem that way)
        return is_network_filesystem(filesystem_type(home))
