"""A draft task made from a repository and a script without running it (ClearML's
``Task.create`` and ``clearml-task``): the code is pinned to a commit, the packages come from
a list, a requirements file or the repository's own ``requirements.txt``.
"""
from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

from . import capture
from .exceptions import CreateError, LocaltaskError
from .status import TaskStatus
from .store import Store

#: a requirement line's distribution name, and an exact pin after it
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIN = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*==\s*([^\s;,#]+)\s*(?:;.*)?$")


def is_url(repo: str) -> bool:
    """A remote address (``scheme://...`` or scp-like ``user@host:path``) rather than a folder."""
    return "://" in repo or bool(re.match(r"^[\w.-]+@[\w.-]+:", repo))


def requirement_entry(line: str) -> dict[str, Any]:
    """A package entry of a task's environment from a requirement line: ``name`` and ``version``
    for an exact ``==`` pin (as a recorded package), else ``version`` None and the
    ``requirement`` line itself. Checked as a draft's edit is (PEP 508).
    Raises CreateError for a line that is not a requirement."""
    from .exceptions import ExecutionEditError
    from .package_list import parse_line

    try:
        entry = parse_line(line)
    except ExecutionEditError as exc:
        raise CreateError(str(exc)) from None
    if entry is None:
        raise CreateError(f"Requirement {line!r} names no package: give lines such as 'numpy', "
                          "'tqdm>=4.0' or 'torch==2.3.1'.")
    return entry


def read_requirements(text: str, source: str) -> list[dict[str, Any]]:
    """Package entries of a requirements file's text (comments, blank lines and pip options
    such as ``--index-url`` skipped). Raises CreateError naming ``source`` for a bad line."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or (line.startswith("-") and not line.startswith(("-e ", "--editable "))):
            continue
        try:
            entries.append(requirement_entry(line))
        except CreateError as exc:
            raise CreateError(f"{source}, line {number}: {exc}") from None
    return entries


def _git_out(args: list[str], cwd: Path, what: str) -> str:
    proc = capture.git(args, cwd, check=False)
    if proc.returncode != 0:
        raise CreateError(f"{what}: {proc.stderr.decode(errors='replace').strip() or 'git knows no such commit'}"
                          " (give a full commit id, a unique prefix, a tag or a branch of that repository).")
    return proc.stdout.decode(errors="replace").strip()


def _relative(path: str, label: str) -> str:
    rel = PurePosixPath(path.replace("\\", "/"))
    parts = [p for p in rel.parts if p != "."]
    if rel.is_absolute() or ".." in parts:
        raise CreateError(f"The {label} {path!r} must be a path inside the repository (relative to its root).")
    return "/".join(parts) or "."


class _Source:
    """Where the draft's code comes from: a folder (a local clone) to read it in, the script
    facts to record, and the diff on top of the commit."""

    def __init__(self, git_dir: Path, info: dict[str, Any], diff: bytes):
        self.git_dir, self.info, self.diff = git_dir, info, diff

    def file_at_commit(self, rel: str) -> bytes | None:
        proc = capture.git(["show", f"{self.info['commit']}:{rel}"], self.git_dir, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def has_file(self, rel: str) -> bool:
        if self.diff and rel in capture.diff_files(self.diff):
            return (Path(self.info["local_path"]) / rel).is_file()
        proc = capture.git(["cat-file", "-t", f"{self.info['commit']}:{rel}"], self.git_dir, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == b"blob"

    def read(self, rel: str) -> bytes | None:
        if self.diff and rel in capture.diff_files(self.diff):
            try:
                return (Path(self.info["local_path"]) / rel).read_bytes()
            except OSError:
                return None
        return self.file_at_commit(rel)


def _local_source(folder: Path, branch: str | None, commit: str | None) -> _Source:
    found = capture.capture_git(folder)
    if found is None:
        raise CreateError(f"{folder} is not in a git repository: give repo= / --repo a git repository (a local "
                          "clone or its URL), or a script outside git without repo=.")
    info, diff = found
    top = Path(info["local_path"])
    if commit or branch:
        ref = commit or branch
        info["commit"] = _git_out(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], top,
                                  f"No commit {ref!r} in the repository {top}")
        if branch:
            info["branch"] = branch
        elif info["commit"] != _git_out(["rev-parse", "HEAD"], top, "git rev-parse HEAD"):
            info["branch"] = None  # the named commit, not the tip of the branch checked out
        diff = b""  # uncommitted changes belong to the checked-out commit, not to this one
    elif not info["commit"]:
        raise CreateError(f"The repository {top} has no commit yet: commit the script first.")
    return _Source(top, info, diff)


def _remote_source(store: Store, repo: str, branch: str | None, commit: str | None) -> _Source:
    from .runner import ensure_mirror, network_env

    url = capture.strip_credentials(repo)
    if not commit:
        ref = f"refs/heads/{branch}" if branch else "HEAD"
        proc = capture.git(["ls-remote", repo, ref], store.cache_dir, env=network_env(store.cache_dir),
                           check=False)
        line = proc.stdout.decode(errors="replace").split("\n", 1)[0]
        if proc.returncode != 0 or not line.strip():
            why = proc.stderr.decode(errors="replace").strip() or f"it has no {ref}"
            raise CreateError(f"Cannot read {ref} of {url}: {why}. Check the address and the branch, "
                              "or give commit= / --commit.")
        commit = line.split()[0]
    # the address as recorded runs keep it: credentials come from git's own helpers
    info = {"kind": "git", "repository": url, "remote": True, "local_path": None, "branch": branch,
            "commit": commit}
    # the repository is cached now, as a worker would: the commit and the script are checked here
    try:
        mirror = ensure_mirror(store, info, lambda _msg: None)
    except LocaltaskError as exc:
        raise CreateError(f"Cannot fetch {commit[:12]} of {url}: {exc}") from None
    return _Source(mirror, info, b"")


def _imported_packages(code: bytes, cache_dir: Path) -> list[dict[str, Any]]:
    """The installed distributions (exact versions) whose modules the script imports."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        raise CreateError(f"packages=True reads the script's imports, but it does not parse: {exc}") from None
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.partition(".")[0])
    index = capture.dist_index(cache_dir)
    names = sorted({n for top in tops for n in index["modules"].get(top, ())}, key=str.lower)
    return [index["dists"][n] for n in names]


def _packages(source: _Source | None, entry_code: bytes | None, packages: Any, requirements_file: Any,
              cache_dir: Path) -> list[dict[str, Any]]:
    if packages is True:
        return _imported_packages(entry_code or b"", cache_dir)
    if packages:
        if isinstance(packages, str):
            packages = [packages]
        return [requirement_entry(str(p)) for p in packages]
    if requirements_file:
        path = Path(requirements_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CreateError(f"Cannot read the requirements file {path}: {exc.strerror or exc}.") from None
        return read_requirements(text, str(path))
    if source is not None:  # as ClearML: the repository's own requirements.txt
        text = source.read("requirements.txt")
        if text is not None:
            return read_requirements(text.decode("utf-8", "replace"), "requirements.txt of the repository")
    return []


def argparse_rows(argparse_args: Iterable[Any] | None) -> list[tuple[str, str, str, str, str]]:
    """``Args`` parameter rows from ``[(name, value), ...]`` (``"--lr"`` is ``lr``, ``--batch-size``
    is ``batch_size``, as argparse names them). Values stay text: the script's parser reads them
    through its own types on the run."""
    from . import params as P

    rows = []
    for pair in argparse_args or ():
        if isinstance(pair, str) and "=" in pair:
            pair = pair.split("=", 1)
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CreateError(f"argparse_args takes (name, value) pairs, e.g. [('lr', '0.1')]; got {pair!r}.")
        name = str(pair[0]).lstrip("-").replace("-", "_")
        P.check_name("Args", name)
        text, kind = P.encode("" if pair[1] is None else str(pair[1]), f"Args/{name}")
        rows.append(("Args", name, text, kind, ""))
    return rows


def _source(store: Store, repo: str | None, branch: str | None, commit: str | None,
            script: str | None) -> _Source | None:
    """The repository to take the code from; None for a lone script outside git (no ``repo``)."""
    if repo and is_url(str(repo)):
        return _remote_source(store, str(repo), branch, commit)
    if repo:
        folder = Path(os.path.expanduser(str(repo)))
        if not folder.is_dir():
            raise CreateError(f"Repository folder {folder} does not exist: give a local clone or a URL.")
        return _local_source(folder, branch, commit)
    path = Path(os.path.expanduser(script)) if script else None
    if path is None or not path.is_file():
        shown = repr(script) if script else "(none given)"
        raise CreateError(f"Script {shown} not found: give repo= / --repo (a local clone or a URL) with the "
                          "script's path inside it, or the path of a script on this machine.")
    if capture.capture_git(path.absolute()) is None:
        if branch or commit:
            raise CreateError(f"{path} is not in a git repository: branch= and commit= need one.")
        return None
    return _local_source(path.absolute().parent, branch, commit)


def _entry_in(source: _Source, script: str, working_dir: str, repo_given: bool) -> str:
    """The entry point relative to the repository root: an absolute path (or, without ``repo``,
    a path from here) inside the clone, else a path from the root or from the working directory."""
    path = Path(os.path.expanduser(script))
    top = source.info.get("local_path")
    if top and (path.is_absolute() or (not repo_given and path.is_file())):
        path = path.absolute()
        try:
            return (path.parent.resolve() / path.name).relative_to(Path(top).resolve()).as_posix()
        except ValueError:
            raise CreateError(f"Script {script!r} is outside the repository {top}.") from None
    entry = _relative(script, "script")
    if working_dir != "." and source.has_file(f"{working_dir}/{entry}"):  # ClearML's way first
        entry = f"{working_dir}/{entry}"
    if not source.has_file(entry):
        raise CreateError(f"Script {entry!r} is not in {source.info['repository']} at commit "
                          f"{source.info['commit'][:12]}: give its path relative to the repository root.")
    return entry


def create_draft(store: Store, *, project_name: str, task_name: str | None, task_type: str,
                 repo: str | None, branch: str | None, commit: str | None, script: str | None,
                 working_directory: str | None, packages: bool | Sequence[str] | None,
                 requirements_file: str | os.PathLike | None, argparse_args: Iterable[Any] | None,
                 docker: str | None, docker_args: str | None = None, docker_setup: str | None = None,
                 tags: Iterable[str] | None = None) -> str:
    """Insert a draft (status ``created``) that a worker can run; returns its id.

    ``repo``: a local clone (its remote, or its path when it has none, is recorded) or a URL;
    without it the script's own repository, or the script alone outside git. The commit is
    ``commit``, else the tip of ``branch``, else the clone's HEAD with its uncommitted changes.
    Raises CreateError when the repository, commit, script or a requirement cannot be used.
    """
    from .task import _check_text, _task_type, new_id, store_code

    if not script:
        raise CreateError("Task.create needs script=: the entry point to run (a path inside the repository).")
    module = script[3:].strip() if script.startswith("-m ") else None
    working_dir = _relative(working_directory or ".", "working directory")
    info: dict[str, Any] = {"argv": [], "module": module, "interactive": False, "created_by": "Task.create"}
    source = _source(store, repo, branch, commit, None if module else script)
    if source is None:  # a lone script outside git: stored whole, as a recorded run is
        path = Path(os.path.expanduser(script)).absolute()
        entry_code = path.read_bytes()
        code: bytes | None = capture.snapshot({path.name: entry_code})
        info.update(kind="files", repository=None, branch=None, commit=None, entry_point=path.name,
                    working_dir=working_dir, local_path=str(path.parent), files=[path.name])
    else:
        info.update(source.info)
        entry = None if module else _entry_in(source, script, working_dir, repo_given=bool(repo))
        info.update(entry_point=entry, working_dir=working_dir, diff_size=len(source.diff),
                    diff_files=capture.diff_files(source.diff))
        code = source.diff or None
        entry_code = source.read(entry) if entry else None
    environment: dict[str, Any] = {"packages": _packages(source, entry_code, packages, requirements_file,
                                                         store.cache_dir)}
    if docker:
        environment["image"] = _check_text("docker image", str(docker), 500)
    if docker_args:
        environment["image_arguments"] = str(docker_args)
    if docker_setup:
        environment["image_setup"] = str(docker_setup)
    task_id = new_id()
    name = _check_text("task name", task_name or (module or Path(info["entry_point"]).stem))
    row = {"id": task_id, "project": _check_text("project name", project_name or "default"), "name": name,
           "type": _task_type(task_type or "training"), "tags": list(tags or []),
           "status": TaskStatus.created.value, "script": info, "environment": environment,
           "created": time.time(), **store_code(store, code)}
    store.insert_task(row, parameters=argparse_rows(argparse_args))
    return task_id

