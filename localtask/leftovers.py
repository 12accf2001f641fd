"""What killed runs leave in a store folder, found and removed: working copies of runs that
ended (or whose worker died), half-built environments and mirrors, temporary files of
interrupted writes, folders of tasks whose row is gone, and dead holders of the shared-mode
lock. ``localtask gc`` runs it on demand; every worker runs it as it starts.

Nothing that a live run may still use is touched: a working copy stays while its task is in
progress, a temporary file or orphan folder stays until it is ``max_age`` seconds old, an
environment stays while its build lock is held, and a working copy kept with
``--keep-workdirs`` stays unless asked (``include_kept``).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store

#: seconds after which a temporary file or an orphan folder is surely not being written
STALE_AGE = 3600.0
#: the marker a worker leaves in a working copy it keeps (``--keep-workdirs``)
KEPT = ".keep"
READY = ".localtask-ready"  # environment.READY, without importing the venv code


@dataclass
class Swept:
    """What :func:`sweep` removed (or, with ``dry_run``, would remove)."""

    workdirs: list[Path] = field(default_factory=list)
    environments: list[Path] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    task_folders: list[Path] = field(default_factory=list)
    dead_locks: int = 0
    freed: int = 0  # bytes

    @property
    def count(self) -> int:
        return (len(self.workdirs) + len(self.environments) + len(self.temp_files)
                + len(self.task_folders) + self.dead_locks)

    def summary(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (len(self.workdirs), "working copies of ended runs"),
            (len(self.environments), "half-built environments"),
            (len(self.temp_files), "temporary files"),
            (len(self.task_folders), "folders of deleted tasks"),
            (self.dead_locks, "dead lock holders")) if n]
        return (", ".join(parts) + f" ({_size(self.freed)})") if parts else "nothing to remove"


def sweep(store: "Store", *, max_age: float = STALE_AGE, include_kept: bool = False,
          dry_run: bool = False) -> Swept:
    """Find the leftovers of killed runs in ``store`` and remove them (not with ``dry_run``)."""
    out = Swept()
    now = time.time()
    old = lambda path: _mtime(path) < now - max_age  # noqa: E731

    # The folders are listed before the running tasks are read: a task is in progress before
    # its worker makes its working copy, so a copy listed here whose task is not running after
    # is a leftover.
    workdirs = _children(store.cache_dir / "work")
    running = {t["id"][:12] for t in store.find_tasks(status=["in_progress"])}
    for folder in workdirs:
        prefix = folder.name.split("-", 1)[0]
        if prefix in running or ((folder / KEPT).exists() and not include_kept):
            continue
        if len(prefix) != 12 and not old(folder):  # not a working copy of ours: only when old
            continue
        out.workdirs.append(folder)

    for folder in _children(store.cache_dir / "venvs"):
        if folder.is_dir() and not (folder / READY).exists() and _lock_free(Path(str(folder) + ".lock")):
            out.environments.append(folder)

    candidates = [*_glob(store.cache_dir / "git", ".tmp-*"), *_glob(store.cache_dir, "*.tmp"),
                  *_glob(store.models_dir, "*/.tmp-*"),
                  *_glob(store.cache_dir / "imports", "import-*")]  # staging of a killed import
    known = {t["id"] for t in store.find_tasks()}
    for folder in _children(store.tasks_dir):
        if folder.name not in known:
            if old(folder):
                out.task_folders.append(folder)
            continue
        candidates += [*_glob(folder / "artifacts", ".tmp-*"), *_glob(folder / "artifacts", "*/.tmp-*"),
                       *_glob(folder, "*/*.tmp")]
    out.temp_files = [p for p in candidates if old(p)]

    for path in (*out.workdirs, *out.environments, *out.temp_files, *out.task_folders):
        out.freed += _disk_size(path)
    if not dry_run:
        for path in (*out.workdirs, *out.environments, *out.temp_files, *out.task_folders):
            _remove(path)
        out.dead_locks = store._access_strategy.break_dead_locks()
    return out


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _glob(folder: Path, pattern: str) -> list[Path]:
    try:
        return list(folder.glob(pattern)) if folder.is_dir() else []
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return time.time()


def _lock_free(lock_path: Path) -> bool:
    """True when no process holds the build lock (an environment being built keeps it)."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(lock_path), timeout=0):
            return True
    except (Timeout, OSError):
        return False


def _disk_size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
