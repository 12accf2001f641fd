"""Move tasks between stores as one file: :func:`export_tasks` and :func:`import_bundle`.

A bundle (see :mod:`localtask.bundle_archive` for the file) holds the tasks' rows in an SQLite
database with the store's own tables (``tasks.db``), the large recorded diffs (``blobs/``), a
``git bundle`` of the recorded commits per repository (``git/``), with outputs the task
folders (``tasks/<id>/``: console, artifacts, debug samples) and model weights
(``models/<id>/``), with wheels the wheels of the recorded packages (``wheels/``).

An import unpacks and checks everything in a staging folder inside the target store first;
then it renames the files into place and copies the rows in one transaction, and on any
failure renames them back: the store is as it was, or holds the whole bundle.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import bundle_archive, bundle_git, bundle_wheels
from .exceptions import BundleError, BundleVersionError, LocaltaskError, StoreFullError
from .folders import make_dirs
from .store import Store
from .store_base import FULL_REMEDY, SCHEMA_VERSION, space_problem
from .store_bundle import read_bundle_db

Say = Callable[[str], None]
DB_MEMBER = "tasks.db"
#: statuses whose rows are still changing: exported only once they end
BUSY = ("queued", "in_progress")


def _quiet(_message: str) -> None:
    pass


def _bar(total: int, desc: str, progress: bool | None):
    from tqdm import tqdm

    # disable=None: a bar on a terminal only, never in a log file or a test's pipe
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                disable=None if progress is None else not progress)


@dataclass
class ExportReport:
    """What :func:`export_tasks` wrote."""

    path: Path
    task_ids: list[str]
    size: int
    commits: int
    wheels: list[str] = field(default_factory=list)
    #: recorded packages no wheel can stand for (editable, local, VCS installs)
    without_wheel: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What :func:`import_bundle` did; ``conflicts`` maps a skipped task id to why."""

    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    commits: int = 0
    wheels: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.imported or self.replaced or self.commits or self.wheels)


# --------------------------------------------------------------------------- export
def _select(store: Store, ids: Iterable[str], project: str | None, status: Iterable[str] | None,
            tags: Iterable[str] | None) -> list[dict[str, Any]]:
    ids = [store.resolve_id(i) for i in ids]
    status, tags = list(status or ()), list(tags or ())
    if not ids and project is None and not status and not tags:
        raise BundleError("Name the tasks to export: give task ids, or --project / --status / --tag.")
    tasks = store.find_tasks(ids=ids or None, project=project, status=status or None, tags=tags or None)
    if not tasks:
        raise BundleError("No task matches the ids and filters given; see 'localtask list'.")
    busy = [t for t in tasks if t["status"] in BUSY]
    if busy:
        shown = ", ".join(f"{t['id'][:12]} ({t['status']})" for t in busy[:5])
        raise BundleError(f"Cannot export task(s) still queued or running: {shown}. Dequeue them or let "
                          "them end, or leave them out with --status.")
    return tasks


def export_tasks(ids: Iterable[str] = (), *, output: str | os.PathLike, project: str | None = None,
                 status: Iterable[str] | None = None, tags: Iterable[str] | None = None,
                 with_outputs: bool = False, wheels: bool = False, wheels_from: str | os.PathLike | None = None,
                 platform: str | None = None, python_version: str | None = None,
                 home: str | os.PathLike | None = None, say: Say | None = None,
                 progress: bool | None = None) -> ExportReport:
    """Write the tasks given by ``ids`` (unique prefixes) and matching every filter into one
    bundle file at ``output``: their rows, code (diffs and a git bundle of their commits), with
    ``with_outputs`` their console, scalars, plots, debug samples, artifacts and models, with
    ``wheels`` (or ``wheels_from``: a local wheel folder) wheels of their packages for
    ``platform`` / ``python_version`` (default: this interpreter's).

    Raises BundleError (nothing selected, a task still running, a commit that cannot be found,
    wheels that cannot be had), TaskNotFoundError for an unknown id. No file is left behind on
    error. ``progress``: bars on stderr (None: when it is a terminal)."""
    if (platform or python_version) and not (wheels or wheels_from):
        raise BundleError("--platform and --python-version choose the wheels: give --wheels (or --wheels-from DIR) too.")
    say = say or _quiet
    store = Store.open(home)
    output = Path(output).expanduser().absolute()
    if output.is_dir():
        raise BundleError(f"{output} is a folder: give the bundle's file name with -o, e.g. {output}/tasks.ltb")
    tasks = _select(store, ids, project, status, tags)
    task_ids = [t["id"] for t in tasks]
    if not output.parent.is_dir():
        raise BundleError(f"No folder {output.parent} to write the bundle into.")
    with tempfile.TemporaryDirectory(prefix=".localtask-export-", dir=output.parent) as tmp:
        staging = Path(tmp)
        files: list[tuple[str, Path]] = []  # (member, file)
        db_path = staging / DB_MEMBER
        store.export_rows(db_path, task_ids, with_outputs)
        files.append((DB_MEMBER, db_path))
        repos, commits = _export_code(store, tasks, staging, files, say)
        if with_outputs:
            model_ids = read_bundle_db(db_path)[2]
            for folder, prefix in [(store.tasks_dir / t, f"tasks/{t}") for t in task_ids] + \
                                  [(store.models_dir / m, f"models/{m}") for m in model_ids]:
                for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
                    if path.is_file() and not path.name.startswith(".tmp-"):
                        files.append((f"{prefix}/{path.relative_to(folder).as_posix()}", path))
        wheel_names: list[str] = []
        without: list[str] = []
        if wheels or wheels_from:
            dest = staging / "wheels"
            dest.mkdir()
            without = bundle_wheels.download([t["environment"] for t in tasks], dest, say, platform=platform,
                                             python_version=python_version,
                                             wheels_from=str(wheels_from) if wheels_from else None)
            for wheel in sorted(dest.glob("*.whl")):
                wheel_names.append(wheel.name)
                files.append((f"wheels/{wheel.name}", wheel))
            if without:
                say(f"no wheel for {len(without)} package(s) (editable, local or VCS installs): "
                    + ", ".join(without[:5]))
        manifest = {
            "created": time.time(), "source": str(store.home), "with_outputs": with_outputs,
            "tasks": {t["id"]: {"name": t["name"], "project": t["project"], "status": t["status"],
                                "repository": (t["script"] or {}).get("repository"),
                                "commit": (t["script"] or {}).get("commit")} for t in tasks},
            "fingerprints": store.fingerprints(task_ids, with_outputs),
            "repos": repos, "wheels": wheel_names, "without_wheel": without,
        }
        writer = bundle_archive.BundleWriter(output)
        try:
            total = sum(p.stat().st_size for _, p in files)
            with _bar(total, "export", progress) as bar:
                for name, path in files:
                    writer.add_file(name, path, bar.update)
            writer.close(manifest)
        except OSError as exc:
            writer.abort()
            full = space_problem(output.parent, exc)
            raise BundleError(f"Cannot write the bundle {output}: {full or exc.strerror or exc}. "
                              "No bundle was written.") from None
        except BaseException:
            writer.abort()
            raise
    return ExportReport(output, task_ids, output.stat().st_size, commits, wheel_names, without)


def _export_code(store: Store, tasks: list[dict[str, Any]], staging: Path,
                 files: list[tuple[str, Path]], say: Say) -> tuple[dict[str, Any], int]:
    from .runner import _repo_key, ensure_mirror

    for ref in store.code_refs(t["id"] for t in tasks):
        if (store.blobs_dir / ref).is_file():
            files.append((f"blobs/{ref}", store.blobs_dir / ref))
    by_repo: dict[str, dict[str, Any]] = {}
    for task in tasks:
        script = task["script"] or {}
        if script.get("kind") != "git" or not script.get("commit"):
            continue
        try:
            mirror = ensure_mirror(store, script, say)
        except LocaltaskError as exc:
            raise BundleError(f"Cannot export task {task['id']}: its commit {script['commit'][:12]} "
                              f"cannot be found ({exc}). No bundle was written.") from None
        entry = by_repo.setdefault(script["repository"], {"mirror": mirror, "commits": []})
        if script["commit"] not in entry["commits"]:
            entry["commits"].append(script["commit"])
    repos = {}
    for repository, entry in by_repo.items():
        key = _repo_key(repository)
        member = f"git/{key}.bundle"
        out = staging / "git" / f"{key}.bundle"
        out.parent.mkdir(exist_ok=True)
        say(f"git bundle of {len(entry['commits'])} commit(s) of {repository}")
        try:
            bundle_git.write_bundle(entry["mirror"], entry["commits"], out)
        except LocaltaskError as exc:
            raise BundleError(f"{exc}. No bundle was written.") from None
        files.append((member, out))
        repos[key] = {"repository": repository, "commits": entry["commits"], "member": member}
    return repos, sum(len(e["commits"]) for e in by_repo.values())


# --------------------------------------------------------------------------- import
class _Moves:
    """Files and folders renamed into the store, undone in reverse order on failure."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def move(self, source: Path, target: Path, aside: Path | None = None) -> None:
        """Rename ``source`` to ``target``; what was at ``target`` goes to ``aside`` first."""
        make_dirs(target.parent)
        if aside is not None and target.exists():
            self.put_aside(target, aside)
        os.replace(source, target)
        self.undo.append(lambda: (shutil.rmtree(target) if target.is_dir() and not target.is_symlink()
                                  else target.unlink(missing_ok=True)))

    def put_aside(self, target: Path, aside: Path) -> None:
        """Rename ``target`` to ``aside``; renamed back on failure (removed with the staging folder)."""
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, aside)
        self.undo.append(lambda: os.replace(aside, target))

    def rollback(self) -> None:
        for step in reversed(self.undo):
            try:
                step()
            except OSError:
                pass
        self.undo.clear()


def _check_db(db_path: Path, manifest: dict[str, Any], path: Path) -> tuple[list[str], list[str]]:
    """(task ids, columns of the tasks table) of the bundle's database, after checking it."""
    import sqlite3

    try:
        version, ids, _, columns = read_bundle_db(db_path)
    except sqlite3.DatabaseError as exc:
        raise BundleError(f"The task database in the bundle {path} cannot be read ({exc}). Nothing was imported.") from None
    if version > SCHEMA_VERSION:
        raise BundleVersionError(
            f"The bundle {path} holds rows of store schema version {version}; this localtask understands up "
            f"to {SCHEMA_VERSION}. Upgrade localtask (pip install -U localtask). Nothing was imported.")
    if sorted(ids) != sorted(manifest.get("tasks") or {}):
        raise BundleError(f"The bundle {path} lists other tasks in its manifest than in its database. "
                          "Nothing was imported.")
    return ids, columns


def import_bundle(path: str | os.PathLike, *, replace: bool = False, home: str | os.PathLike | None = None,
                  say: Say | None = None, progress: bool | None = None) -> ImportReport:
    """Add the tasks of the bundle at ``path`` to the store, keeping their ids; their commits go
    into the store's git mirror cache and their wheels into its wheel cache (``--env venv``
    installs from it offline). Idempotent: a task already here with the same content is left
    as it is; one here with other content is reported in ``conflicts`` and skipped, or
    replaced with ``replace=True``.

    Raises BundleError (truncated, tampered, not a bundle, commits missing),
    BundleVersionError (from a newer store) or StoreFullError (no room); then the store is
    unchanged."""
    say = say or _quiet
    store = Store.open(home)
    path = Path(path).expanduser().absolute()
    report = ImportReport()
    root = store.cache_dir / "imports"
    make_dirs(root)
    staging = root / f"import-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        size = path.stat().st_size if path.is_file() else 0
        with _bar(size, "unpack", progress) as bar:
            manifest = bundle_archive.extract(path, staging / "files", store.home, bar.update)
        files = staging / "files"
        ids, columns = _check_db(files / DB_MEMBER, manifest, path)
        with_outputs = bool(manifest.get("with_outputs"))
        existing = store.fingerprints(ids, with_outputs, columns)
        wanted = manifest.get("fingerprints") or {}
        inserts, replaces = [], []
        for task_id in ids:
            if task_id not in existing:
                inserts.append(task_id)
            elif existing[task_id] == wanted.get(task_id):
                report.unchanged.append(task_id)
            elif replace:
                replaces.append(task_id)
            else:
                report.conflicts[task_id] = ("exists in this store with other content (parameters, status, "
                                             "outputs or code differ); skipped (--replace takes the bundle's)")
        chosen = set(inserts) | set(replaces)
        plan = _plan_commits(store, manifest, chosen, files, staging)
        new_wheels = _plan_wheels(store, manifest, files)
        if not chosen and not new_wheels and not plan:
            return report
        _apply(store, manifest, files, staging, inserts, replaces, plan, new_wheels, report)
        report.imported, report.replaced = inserts, replaces
        return report
    except OSError as exc:
        full = space_problem(store.home, exc)
        if full:
            raise StoreFullError(f"Cannot import the bundle {path} into the store {store.home}: {full}. "
                                 f"Nothing was imported; {FULL_REMEDY}.") from None
        raise BundleError(f"Cannot import the bundle {path}: {exc.strerror or exc}. Nothing was imported.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _plan_commits(store: Store, manifest: dict[str, Any], chosen: set[str], files: Path,
                  staging: Path) -> list[tuple[str, Path, list[str]]]:
    """(repository, staged repository, commits) for each repository whose commits the store's
    mirror lacks; BundleError when a chosen task's commit is neither in the bundle nor here."""
    needed: dict[str, list[str]] = {}
    for task_id in chosen:
        info = manifest["tasks"].get(task_id) or {}
        if info.get("commit") and info.get("repository"):
            commits = needed.setdefault(info["repository"], [])
            if info["commit"] not in commits:
                commits.append(info["commit"])
    members = {r["repository"]: r for r in (manifest.get("repos") or {}).values()}
    plan = []
    for repository, commits in needed.items():
        mirror = bundle_git.mirror_path(store, repository)
        lacking = bundle_git.missing_commits(mirror, commits)
        if not lacking:
            continue
        entry = members.get(repository)
        staged = None
        if entry and (files / entry["member"]).is_file():
            staged = staging / f"repo-{uuid.uuid4().hex[:8]}.git"
            try:
                bundle_git.stage_bundle(files / entry["member"], staged)
            except LocaltaskError as exc:
                raise BundleError(f"The bundle's commits of {repository} cannot be read ({exc}). "
                                  "Nothing was imported.") from None
        bundle_git.check_complete(staged, lacking, mirror, repository)
        plan.append((repository, staged, lacking))
    return plan


def _plan_wheels(store: Store, manifest: dict[str, Any], files: Path) -> list[str]:
    cache = bundle_wheels.wheel_cache(store)
    return [w for w in manifest.get("wheels") or [] if not (cache / w).exists() and (files / "wheels" / w).is_file()]


def _apply(store: Store, manifest: dict[str, Any], files: Path, staging: Path, inserts: list[str],
           replaces: list[str], plan: list, new_wheels: list[str], report: ImportReport) -> None:
    """Rename the files into place, then copy the rows in one transaction; undo the renames on failure."""
    moves = _Moves()
    installed: list[tuple[Path, bool, list[str]]] = []
    aside = staging / "aside"
    try:
        for task_id in inserts + replaces:
            source = files / "tasks" / task_id
            if source.is_dir():
                moves.move(source, store.tasks_dir / task_id, aside / "tasks" / task_id)
            elif task_id in replaces and (store.tasks_dir / task_id).exists():
                moves.put_aside(store.tasks_dir / task_id, aside / "tasks" / task_id)
        for folder in ("blobs", "models"):
            for source in sorted((files / folder).iterdir()) if (files / folder).is_dir() else ():
                target = store.home / folder / source.name
                if not target.exists():
                    moves.move(source, target)
        cache = bundle_wheels.wheel_cache(store)
        for wheel in new_wheels:
            moves.move(files / "wheels" / wheel, cache / wheel)
        for repository, staged, commits in plan:
            installed.append(bundle_git.install(store, repository, staged, commits))
        store.import_rows(files / DB_MEMBER, inserts, replaces)
    except BaseException:
        for mirror, created, new in reversed(installed):
            bundle_git.uninstall(mirror, created, new)
        moves.rollback()
        raise
    report.commits = sum(len(new) for _, _, new in installed)
    report.wheels = len(new_wheels)
