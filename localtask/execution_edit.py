"""Edit a draft's execution: repository, branch, commit, entry point, working directory, argv,
the uncommitted diff, the package list, the Python version and the container image.

:func:`edit_execution` checks every change against the repository (through the store's mirror)
before it writes anything, and writes all of them in one transaction that checks the task is
still a draft. The Python API (:mod:`localtask.task_execution`), ``localtask edit`` and the web
page all call it.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import capture, package_list, runner
from . import status as status_rules
from .exceptions import CaptureError, ExecutionEditError, IllegalTransitionError, RunError
from .store import Store

Say = Callable[[str], None]

# A container image reference as docker and podman read it: [host[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_IMAGE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
_PYTHON = re.compile(r"^3\.(\d{1,2})(?:\.\d{1,3})?$")
#: localtask runs inside the task's process, so the task's Python must be one localtask supports
MIN_PYTHON_MINOR = 10


def check_image(image: str) -> str:
    """``image`` when it is a container image reference (``name[:tag][@digest]``)."""
    if not isinstance(image, str) or len(image) > 255 or not _IMAGE.match(image):
        raise ExecutionEditError(
            f"{image!r} is not a container image name: write it as docker does, e.g. python:3.11-slim, "
            "ghcr.io/org/image:tag or name@sha256:<digest> (lower case, no spaces or options).")
    return image


def check_python(version: str) -> str:
    """``version`` when it names a Python localtask can run in (``3.X`` or ``3.X.Y``, X >= 10)."""
    match = _PYTHON.match(str(version).strip()) if isinstance(version, str) else None
    if not match:
        raise ExecutionEditError(f"{version!r} is not a Python version: give 3.X or 3.X.Y, e.g. 3.11.")
    if int(match.group(1)) < MIN_PYTHON_MINOR:
        raise ExecutionEditError(f"Python {version} is too old: localtask runs inside the task and needs "
                                 f"3.{MIN_PYTHON_MINOR} or newer.")
    return version.strip()


@dataclass
class ExecutionEdit:
    """The changes asked for; None leaves a field as it is.

    ``diff``: the new uncommitted diff (``b""`` drops it). ``packages``: requirement lines, or
    the path of a requirements file, replacing the whole list; ``set_packages`` adds or changes
    packages by name, ``remove_packages`` removes them. ``image=""`` removes the image.
    """

    repository: str | None = None
    branch: str | None = None
    commit: str | None = None
    entry_point: str | None = None
    working_dir: str | None = None
    argv: list[str] | None = None
    diff: bytes | None = None
    packages: list[str] | str | os.PathLike | None = None
    set_packages: list[str] = field(default_factory=list)
    remove_packages: list[str] = field(default_factory=list)
    python: str | None = None
    image: str | None = None
    image_arguments: str | None = None
    image_setup: str | None = None

    def empty(self) -> bool:
        """Whether nothing is asked for."""
        return all(getattr(self, name) in (None, []) for name in self.__dataclass_fields__)


def _local_repository(path: str) -> str | None:
    """The top folder of the git repository at ``path`` (a local copy), or None."""
    folder = Path(os.path.expanduser(path))
    if not folder.is_dir():
        return None
    proc = capture.git(["rev-parse", "--show-toplevel"], folder, check=False)
    if proc.returncode != 0:
        raise ExecutionEditError(f"{path} is a folder but not a git repository: give a repository's "
                                 "URL or the path of a local clone.")
    return proc.stdout.decode().strip()


def _edit_repository(script: dict[str, Any], edit: ExecutionEdit) -> str | None:
    """Point the script at the edited repository; returns the revision a local copy has checked
    out (ClearML's set_repo: a local path gives its current commit and branch)."""
    value = edit.repository.strip()
    if not value or "\x00" in value:
        raise ExecutionEditError("The repository is empty: give a git URL or the path of a local clone.")
    top = _local_repository(value)
    script.update(kind="git", submodules=False)
    if top is None:
        if os.path.exists(os.path.expanduser(value)):
            raise ExecutionEditError(f"{value} is a file, not a repository: give a git URL or a folder.")
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\s]+@[^/\s]+:", value):
            raise ExecutionEditError(f"{value} is neither a folder here nor a git URL "
                                     "(https://..., ssh://..., git@host:path, file://...).")
        script.update(repository=capture.strip_credentials(value), remote=True, local_path=None)
        return None
    script.update(repository=top, remote=False, local_path=top)
    head = capture.git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], top, check=False)
    if edit.branch is None:
        branch = capture.git(["symbolic-ref", "--short", "-q", "HEAD"], top, check=False)
        script["branch"] = branch.stdout.decode().strip() or None
    return head.stdout.decode().strip() or None if head.returncode == 0 else None


def _resolve(store: Store, script: dict[str, Any], rev: str, what: str, say: Say,
             refetch: bool = False) -> tuple[Path, str]:
    try:
        mirror, commit = runner.mirror_revision(store, script, rev, say, refetch=refetch)
    except (RunError, CaptureError) as exc:
        raise ExecutionEditError(f"Cannot read the repository {script['repository']}: {exc}") from None
    if commit is None:
        raise ExecutionEditError(f"The {what} {rev!r} does not exist in the repository {script['repository']} "
                                 "(nor was it fetched from there): check the name, or push it first.")
    return mirror, commit


def _drop_branch_without(store: Store, script: dict[str, Any], mirror: Path, commit: str, say: Say) -> None:
    """A commit given alone that is not on the task's branch: the branch no longer says where
    the code is, so the task keeps the commit with no branch (as a detached checkout)."""
    branch = script["branch"]
    try:
        _, head = runner.mirror_revision(store, script, branch, say)
    except (RunError, CaptureError):
        head = None
    on_branch = head is not None and capture.git(
        ["merge-base", "--is-ancestor", commit, head], mirror, check=False).returncode == 0
    if not on_branch:
        script["branch"] = None
        say(f"Commit {commit[:12]} is not on branch {branch!r}: the task now names no branch "
            "(give --branch too to name one).")


def _entry_point(mirror: Path, commit: str, script: dict[str, Any], diff_files: list[str]) -> None:
    """Check the entry point is in the commit or the diff. It is looked for relative to the
    working directory first (ClearML's way), then to the repository root, and stored relative
    to the root, as localtask records it."""
    entry = script.get("entry_point")
    if script.get("module") or not entry:
        return
    candidates = [entry]
    work = script.get("working_dir") or "."
    if work not in (".", ""):  # relative to the working directory first, as ClearML reads it
        candidates.insert(0, f"{work.rstrip('/')}/{entry}")
    for path in candidates:
        if path in diff_files or runner.has_file(mirror, commit, path):
            script["entry_point"] = path
            return
    raise ExecutionEditError(f"The entry point {entry!r} is not in commit {commit[:12]} of "
                             f"{script['repository']} nor in the diff: give a path relative to the "
                             "repository root (see 'localtask show').")


def _relative(label: str, value: str) -> str:
    try:
        return runner._safe_relative(value.strip()).as_posix()
    except RunError:
        raise ExecutionEditError(f"The {label} {value!r} must be a path inside the repository "
                                 "(relative, without '..').") from None


def _edit_code(store: Store, script: dict[str, Any], edit: ExecutionEdit, old_diff: bytes,
               say: Say) -> bytes | None:
    """Apply the code edits to ``script``; returns the new diff (None: unchanged)."""
    code_edited = any(v is not None for v in (edit.repository, edit.branch, edit.commit, edit.diff,
                                              edit.entry_point, edit.working_dir))
    if not code_edited:
        return None
    new_diff = edit.diff
    local_head = None
    was_git = script.get("kind") == "git"
    if edit.repository is not None:
        local_head = _edit_repository(script, edit)
        if not was_git and new_diff is None:
            new_diff = b""  # the stored files were not a diff: the new repository's code replaces them
    elif not was_git:
        raise ExecutionEditError("The task's code is stored files, not a git repository: set a repository "
                                 "first (--repo URL-or-path, set_repo()).")
    if edit.working_dir is not None:
        script["working_dir"] = _relative("working directory", edit.working_dir or ".")
    if edit.entry_point is not None:
        script["entry_point"] = _relative("entry point", edit.entry_point)
        script["module"] = None
    refetch = False
    if edit.commit is not None:
        rev, what = edit.commit.strip(), "commit"
    elif edit.branch:
        rev, what, refetch = edit.branch.strip(), "branch", True  # its head now: fetch it anew
    else:
        rev, what = local_head or script.get("commit"), "commit"
    if not rev:
        raise ExecutionEditError("The task has no commit to run: give one (--commit, commit=) or a branch.")
    mirror, commit = _resolve(store, script, rev, what, say, refetch=refetch)
    if edit.branch is not None and not edit.branch.strip():
        script["branch"] = None  # ClearML's empty string: no branch (a detached commit)
    elif edit.branch is not None:
        if what != "branch":  # a commit given too: the branch must exist all the same
            _resolve(store, script, edit.branch.strip(), "branch", say, refetch=True)
        script["branch"] = edit.branch.strip()
    elif edit.commit is not None and script.get("branch"):
        _drop_branch_without(store, script, mirror, commit, say)
    script["commit"] = commit
    diff = old_diff if new_diff is None else new_diff
    if diff:
        try:
            runner.check_diff_paths(diff)
        except RunError as exc:
            raise ExecutionEditError(f"The diff is refused: {exc}") from None
        problem = runner.diff_problem(mirror, commit, diff)
        if problem:
            which = "new diff" if new_diff is not None else "task's diff"
            raise ExecutionEditError(f"The {which} does not apply to commit {commit[:12]}: {problem} "
                                     "(give another diff with --diff FILE, or drop it with --no-diff).")
    files = capture.diff_files(diff)
    _entry_point(mirror, commit, script, files)
    script["diff_size"], script["diff_files"] = len(diff), files
    return diff if (new_diff is not None or not was_git) else None


def _edit_environment(env: dict[str, Any], edit: ExecutionEdit) -> None:
    if edit.packages is not None or edit.set_packages or edit.remove_packages:
        replace = None
        if edit.packages is not None:
            if isinstance(edit.packages, (str, os.PathLike)):
                replace = package_list.read_file(edit.packages) if str(edit.packages) else []
            else:
                replace = package_list.parse_lines(list(edit.packages), "packages")
        wanted = package_list.parse_lines(edit.set_packages, "set package")
        env["packages"] = package_list.apply(env.get("packages") or [], replace=replace, set_=wanted,
                                             remove=edit.remove_packages)
        env["packages_edited"] = True
    if edit.python is not None:
        env["python"], env["python_edited"] = check_python(edit.python), True
    if edit.image is not None:
        env["image"] = check_image(edit.image.strip()) if edit.image.strip() else None
    if edit.image_arguments is not None:
        import shlex

        try:
            shlex.split(edit.image_arguments)
        except ValueError as exc:
            raise ExecutionEditError(f"The container arguments {edit.image_arguments!r} cannot be read "
                                     f"as a command line: {exc}.") from None
        env["image_arguments"] = edit.image_arguments or None
    if edit.image_setup is not None:
        env["image_setup"] = edit.image_setup or None


def edit_execution(store: Store, task_id: str, edit: ExecutionEdit, say: Say | None = None,
                   owner: bool = False) -> list[str]:
    """Apply ``edit`` to the draft ``task_id``; returns the names of the fields that changed.

    Raises IllegalTransitionError unless the task is a draft, and ExecutionEditError when a
    change is invalid (a commit or branch the repository does not have, a diff that does not
    apply, an entry point that is not there, a malformed requirement, an image name that is
    not one); then nothing is changed. ``owner``: the process that runs the task edits it (as
    ClearML allows before ``execute_remotely``), whatever its status.
    """
    from .task import store_code

    say = say or (lambda _text: None)
    row = store.get_task(task_id)
    if not owner and row["status"] not in status_rules.ALLOWED_FROM["edit"]:  # before any git work
        raise IllegalTransitionError(task_id=task_id, status=row["status"], operation="edit the execution of",
                                     allowed=tuple(sorted(s.value for s in status_rules.ALLOWED_FROM["edit"])),
                                     reason=status_rules.HINTS["edit"])
    script = copy.deepcopy(row["script"] or {})
    env = copy.deepcopy(row["environment"] or {})
    before_script, before_env = copy.deepcopy(script), copy.deepcopy(env)
    old_diff = (store.get_code(task_id) or b"") if script.get("kind") == "git" else b""
    if edit.argv is not None:
        if not all(isinstance(a, str) and "\x00" not in a for a in edit.argv):
            raise ExecutionEditError("argv must be a list of strings without NUL bytes.")
        script["argv"] = list(edit.argv)
    _edit_environment(env, edit)  # the cheap checks first: nothing fetched for a bad requirement
    new_diff = _edit_code(store, script, edit, old_diff, say)
    fields: dict[str, Any] = {}
    if script != before_script:
        fields["script"] = script
    if env != before_env:
        fields["environment"] = env
    if new_diff is not None:
        fields.update(store_code(store, new_diff))
    if fields:
        store.update_task(task_id, edit=None if owner else "edit", **fields)
    return _changed(before_script, script, before_env, env) + (["diff"] if new_diff is not None
                                                                and new_diff != old_diff else [])


def _changed(s0: dict, s1: dict, e0: dict, e1: dict) -> list[str]:
    names = [k for k in ("repository", "branch", "commit", "entry_point", "working_dir", "argv")
             if s0.get(k) != s1.get(k)]
    return names + [k for k in ("packages", "python", "image", "image_arguments", "image_setup")
                    if e0.get(k) != e1.get(k)]


def requirement_lines(packages: Iterable[dict[str, Any]]) -> list[str]:
    """The package list as requirement lines (what ``set_packages`` takes back)."""
    return [package_list.as_line(p) for p in packages]
