"""The recorded commits of a bundle: ``git bundle`` files out of the store's mirrors, and back
into the mirror cache of another store (laid out as :func:`localtask.runner.ensure_mirror` reads it)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from filelock import FileLock

from . import capture
from .exceptions import BundleError, RunError
from .folders import make_dirs
from .runner import _has_commit, _repo_key
from .store import Store

Say = Callable[[str], None]
REF_PREFIX = "refs/localtask/"


def _git(args: list[str], cwd: Path, what: str) -> None:
    proc = capture.git(args, cwd, check=False)
    if proc.returncode != 0:
        raise RunError(f"{what}: git {' '.join(args[:2])} failed: "
                       f"{proc.stderr.decode(errors='replace').strip()}")


def mirror_path(store: Store, repository: str) -> Path:
    return store.cache_dir / "repos" / f"{_repo_key(repository)}.git"


def write_bundle(mirror: Path, commits: list[str], out: Path) -> None:
    """A ``git bundle`` at ``out`` holding ``commits`` and their history, each under a
    ``refs/localtask/<sha>`` ref, made in a scratch repository borrowing ``mirror``'s objects
    (the mirror and the user's repository are never changed)."""
    with tempfile.TemporaryDirectory(prefix="localtask-bundle-") as tmp:
        scratch = Path(tmp) / "scratch.git"
        _git(["init", "--bare", "--quiet", str(scratch)], Path(tmp), "Cannot bundle the commits")
        (scratch / "objects" / "info" / "alternates").write_text(str(mirror / "objects") + "\n")
        for commit in commits:
            _git(["update-ref", REF_PREFIX + commit, commit], scratch, f"Cannot bundle commit {commit}")
        _git(["bundle", "create", "--quiet", str(out), "--all"], scratch, "Cannot write the git bundle")


def stage_bundle(bundle: Path, staging: Path) -> Path:
    """A bare repository at ``staging`` with the commits of the git bundle file ``bundle``."""
    _git(["init", "--bare", "--quiet", str(staging)], staging.parent, "Cannot read the bundle's commits")
    _git(["fetch", "--quiet", str(bundle), f"+{REF_PREFIX}*:{REF_PREFIX}*"], staging,
         "Cannot read the bundle's commits")
    return staging


def missing_commits(repo: Path | None, commits: list[str]) -> list[str]:
    """The commits of ``commits`` that the repository ``repo`` lacks (all, when there is none)."""
    if repo is None or not (repo / "HEAD").exists():
        return list(commits)
    return [c for c in commits if not _has_commit(repo, c)]


def install(store: Store, repository: str, staged: Path, commits: list[str]) -> tuple[Path, bool, list[str]]:
    """Put the staged commits into the store's mirror of ``repository``: the staged repository
    is renamed into place when there is no mirror yet, else its refs are fetched into the
    mirror. Returns (mirror, whether it was created, the commits it did not have before)."""
    mirror = mirror_path(store, repository)
    make_dirs(mirror.parent)
    with FileLock(str(mirror) + ".lock", timeout=600):
        if not (mirror / "HEAD").exists():
            shutil.rmtree(mirror, ignore_errors=True)
            os.replace(staged, mirror)
            return mirror, True, list(commits)
        new = missing_commits(mirror, commits)
        _git(["fetch", "--quiet", str(staged), f"+{REF_PREFIX}*:{REF_PREFIX}*"], mirror,
             f"Cannot add the bundle's commits to the mirror {mirror}")
        return mirror, False, new


def uninstall(mirror: Path, created: bool, new: list[str]) -> None:
    """Undo :func:`install` after a failed import: remove a mirror it created, or the refs of
    the commits ``new`` to it (the objects left are unreachable, as after any fetch undone)."""
    if created:
        shutil.rmtree(mirror, ignore_errors=True)
        return
    for commit in new:
        capture.git(["update-ref", "-d", REF_PREFIX + commit], mirror, check=False)


def check_complete(staged: Path | None, commits: list[str], mirror: Path, repository: str) -> None:
    """BundleError unless every commit is in the staged bundle or already in the store's mirror."""
    lacking = missing_commits(staged, commits)
    lacking = missing_commits(mirror, lacking) if lacking else lacking
    if lacking:
        raise BundleError(
            f"The bundle lacks commit(s) {', '.join(c[:12] for c in lacking)} of {repository}, and this "
            "store's mirror does not have them either: its tasks could not be rebuilt. Export the tasks "
            "again from a store (or repository) that has these commits. Nothing was imported.")
