"""Folders of the store: private by default, group-shared inside a group folder.

A new store folder is made 0700. A folder created inside a setgid, group-writable folder (the
usual shared-group folder: ``chgrp lab /shared/store && chmod 2770 /shared/store``) is made
0770 less the umask instead, and Linux gives it the parent's group and setgid bit: with
``umask 007`` every member of the group can then run workers on the same store. Files follow
the umask as usual.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE = 0o700
GROUP_SHARED = 0o770


def is_group_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a setgid folder its group may write to."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_ISGID and mode & stat.S_IWGRP)


def make_dirs(path: str | os.PathLike, exist_ok: bool = True) -> Path:
    """``mkdir -p path``: each folder it creates is private, or group-shared when its parent is
    a group folder (see the module's docstring). Returns ``path``."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not missing and not exist_ok:
        raise FileExistsError(f"{path} exists")
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=GROUP_SHARED if is_group_folder(folder.parent) else PRIVATE)
        except FileExistsError:
            if not folder.is_dir() or (folder == path and not exist_ok):
                raise
    return path


def umask() -> int:
    """This process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def precreate_shared_file(path: str | os.PathLike) -> None:
    """In a group folder, create the empty file ``path`` group read-write (0660 less the umask)
    before SQLite opens it: SQLite creates a database 0644 whatever the umask allows, and gives
    its -wal, -shm and -journal files the database's mode. Elsewhere, or if it exists, nothing."""
    path = Path(path)
    if not is_group_folder(path.parent):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o660)
    except OSError:  # made meanwhile by another process (or not ours to make): SQLite decides
        return
    try:
        os.fchmod(fd, 0o660 & ~umask())
    except OSError:
        pass
    finally:
        os.close(fd)
