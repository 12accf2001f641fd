"""Rebuild a task's code in a fresh working copy and build the command that runs it."""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from .folders import make_dirs
from . import capture
from .exceptions import RunError
from .store import Store

# git in its own session: a Ctrl-C that drains the worker reaches the terminal's whole process
# group, and must not kill the rebuild of a task the worker lets finish.
git = partial(capture.git, new_session=True)

Say = Callable[[str], None]


def _repo_key(repository: str) -> str:
    return hashlib.sha256(repository.encode()).hexdigest()[:16]


#: (mirror, commit) pairs this process has seen in its mirror: no git call to check them again
_mirrored: set[tuple[str, str]] = set()


def _has_commit(mirror: Path, commit: str) -> bool:
    return git(["cat-file", "-e", f"{commit}^{{commit}}"], mirror, check=False).returncode == 0


def network_env(cwd: Path) -> dict[str, str]:
    """The environment of git calls that reach a remote: never wait for a password nobody can
    type, nor for an ssh host that does not answer; git's own error says what went wrong."""
    env = capture.git_env({"GIT_TERMINAL_PROMPT": "0"})
    for key, value in (("GIT_HTTP_LOW_SPEED_LIMIT", "1000"), ("GIT_HTTP_LOW_SPEED_TIME", "60")):
        env.setdefault(key, value)  # an https transfer stalled below 1 kB/s for a minute fails
    if not (os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH")):
        # The user's core.sshCommand (a key, a proxy) wins over the default, as it would in git.
        configured = git(["config", "--get", "core.sshCommand"], cwd, check=False).stdout.strip()
        if not configured:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=30"
    return env


def _sources(script: dict[str, Any]) -> list[str]:
    sources = [script["repository"]]
    if script.get("local_path") and script["local_path"] not in sources:
        sources.append(script["local_path"])  # commits not pushed yet may still be there
    return sources


def _clone_mirror(root: Path, mirror: Path, sources: list[str], say: Say) -> None:
    env = network_env(root)
    errors = []
    for source in sources:
        say(f"localtask: caching repository {source}")
        tmp = root / f".tmp-{uuid.uuid4().hex}"
        proc = git(["clone", "--mirror", "--quiet", source, str(tmp)], root, env=env, check=False)
        if proc.returncode == 0:
            os.replace(tmp, mirror)
            return
        shutil.rmtree(tmp, ignore_errors=True)
        errors.append(f"{source}: {proc.stderr.decode(errors='replace').strip()}")
    raise RunError("Cannot clone the task's repository: " + "; ".join(errors))


def _resolve(mirror: Path, rev: str) -> str | None:
    """The full commit id ``rev`` (a commit, a prefix of one, a branch or a tag) names in the mirror."""
    if rev.startswith("-"):
        return None
    for name in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
        proc = git(["rev-parse", "--verify", "-q", f"{name}^{{commit}}"], mirror, check=False)
        if proc.returncode == 0:
            return proc.stdout.decode().strip()
    return None


def mirror_revision(store: Store, script: dict[str, Any], rev: str, say: Say,
                    refetch: bool = False) -> tuple[Path, str | None]:
    """The store's bare mirror of the task's repository and the commit ``rev`` names there.

    Cloned from the recorded remote (or the local path when there was none), fetched when ``rev``
    is missing (always with ``refetch``: a branch may have moved); a file lock keeps two workers
    from racing on the same mirror. The commit is None when no source has it.
    """
    from filelock import FileLock

    sources = _sources(script)
    root = store.cache_dir / "repos"
    make_dirs(root)
    mirror = root / f"{_repo_key(script['repository'])}.git"
    if not refetch and (str(mirror), rev) in _mirrored and (mirror / "HEAD").exists():
        return mirror, rev  # seen here before: a mirror only gains commits (its fetches never prune)
    with FileLock(str(mirror) + ".lock", timeout=600):
        if not (mirror / "HEAD").exists():
            _clone_mirror(root, mirror, sources, say)
            refetch = False
        found = None if refetch else _resolve(mirror, rev)
        if found is None:
            env = network_env(mirror)
            for source in sources:
                say(f"localtask: fetching {rev[:40]} from {source}")
                git(["fetch", "--quiet", source, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                    mirror, env=env, check=False)
                found = _resolve(mirror, rev)
                if found is not None:
                    break
        if found is not None and found == rev:
            _mirrored.add((str(mirror), rev))
    return mirror, found


def ensure_mirror(store: Store, script: dict[str, Any], say: Say) -> Path:
    """A bare mirror of the task's repository in the store's cache holding its commit
    (see :func:`mirror_revision`); RunError when no source has the commit."""
    commit = script["commit"]
    mirror, found = mirror_revision(store, script, commit, say)
    if found is None:
        raise RunError(f"Commit {commit} is in none of {', '.join(_sources(script))}: was it pushed, or "
                       "the branch rewritten? Push it (or restore it) and enqueue the task again.")
    return mirror


def _safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not path:
        raise RunError(f"Refusing to write {path!r}: it points outside the working copy.")
    return rel


_GIT_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12,
                ord("r"): 13, ord('"'): 34, ord("\\"): 92}
_QUOTED = re.compile(rb'"(?:[^"\\]|\\.)*"')
_HUNK = re.compile(rb"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _git_unquote(raw: bytes) -> str:
    """A path as git reads it: a ``"..."`` name has C escapes (``\\056`` is '.'), decoded here
    so that an escaped ``..`` is seen as one."""
    raw = raw.strip()
    if len(raw) < 2 or not (raw.startswith(b'"') and raw.endswith(b'"')):
        return raw.decode("utf-8", "replace")
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == 92 and i + 1 < len(body):
            octal = body[i + 1:i + 4]
            if len(octal) == 3 and all(48 <= c <= 55 for c in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            out.append(_GIT_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(body[i])
        i += 1
    return out.decode("utf-8", "replace")


def _patch_names(rest: bytes) -> list[str]:
    """The names git may read from what follows ``--- `` or ``+++ ``: a quoted name, or the text up
    to a TAB. A patch from ``diff -u`` may end the name at a space before its date instead, so
    each text before a space is a candidate too (refusing too much is fine here)."""
    rest = rest.rstrip(b"\r")
    if rest == b"/dev/null" or (rest.startswith(b"/dev/null") and rest[9:10].isspace()):
        return []  # git's test: any text after a space or TAB (a date) is not part of the name
    if rest.startswith(b'"'):
        quoted = _QUOTED.match(rest)
        if quoted:
            return [_git_unquote(quoted.group(0))]
    name = rest.split(b"\t", 1)[0].decode("utf-8", "replace")
    return [name] + [name[:i] for i, c in enumerate(name) if c == " " and name[:i]]


def check_diff_paths(diff: bytes) -> None:
    """Refuse a diff that names a path outside the working copy, before anything is written."""
    from .capture import diff_files

    old_left = new_left = 0  # lines still to come in the current hunk: those are content, not names
    for line in diff.split(b"\n"):
        if old_left > 0 or new_left > 0:
            if line.startswith(b"\\"):
                continue
            if line[:1] in (b" ", b"") and old_left > 0 and new_left > 0:
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if line[:1] == b"-" and old_left > 0:
                old_left -= 1
                continue
            if line[:1] == b"+" and new_left > 0:
                new_left -= 1
                continue
            old_left = new_left = 0  # not hunk content: read it as a header (git refuses such a hunk)
        hunk = _HUNK.match(line)
        if hunk:
            old_left = int(hunk.group(1) if hunk.group(1) is not None else 1)
            new_left = int(hunk.group(2) if hunk.group(2) is not None else 1)
            continue
        if line.startswith((b"--- ", b"+++ ")):
            for name in _patch_names(line[4:]):
                # as written, and without its first folder (a/, b/, or any other with -p1)
                for form in (name, name.partition("/")[2]):
                    if form:
                        _safe_relative(form)
        elif line.startswith((b"rename from ", b"rename to ", b"copy from ", b"copy to ")):
            _safe_relative(_git_unquote(line.split(b" ", 2)[-1]))  # the rest of the line, spaces and all
        elif line.startswith(b"diff --git ") and b'"' in line:
            for quoted in _QUOTED.findall(line):
                name = _git_unquote(quoted)
                _safe_relative(name[2:] if name.startswith(("a/", "b/")) else name)
    for name in diff_files(diff):
        _safe_relative(name.strip('"'))


def _config_value(value: str) -> str:
    """``value`` quoted for a git config file: a path may hold ``"``, ``\\``, ``#`` or ``;``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _working_copy(mirror: Path, workdir: Path, script: dict[str, Any]) -> None:
    """A git working copy at the recorded commit that borrows the mirror's objects.

    Same result as ``git clone --shared`` + checkout, at about a third of the cost: this sits on
    the path from claim to process start.
    """
    dot_git = workdir / ".git"
    # The few files of an empty repository, written directly: one git process less per task.
    for folder in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        make_dirs(dot_git / folder, exist_ok=False)
    (dot_git / "HEAD").write_text("ref: refs/heads/master\n")
    (dot_git / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        f'[remote "origin"]\n\turl = {_config_value(script["repository"])}\n')
    (dot_git / "objects" / "info" / "alternates").write_text(str(mirror / "objects") + "\n")
    proc = git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", script["commit"]],
               workdir, check=False)
    if proc.returncode != 0:
        raise RunError(f"Cannot check out {script['commit']}: {proc.stderr.decode(errors='replace').strip()}")


def rebuild(store: Store, task_id: str, script: dict[str, Any], workdir: Path, say: Say) -> Path:
    """Write the task's code into ``workdir``; returns the directory to run in."""
    kind = script.get("kind")
    code = store.get_code(task_id)
    if kind == "git":
        diff = code or b""
        check_diff_paths(diff)
        if script.get("commit"):
            mirror = ensure_mirror(store, script, say)
            _working_copy(mirror, workdir, script)
        else:  # recorded in a repository without any commit: the diff holds everything
            make_dirs(workdir, exist_ok=False)
            git(["init", "--quiet"], workdir)
        if diff:
            proc = git(["apply", "--binary", "--whitespace=nowarn", "-"], workdir, input=diff, check=False)
            if proc.returncode != 0:
                message = proc.stderr.decode(errors="replace").strip()
                raise RunError(f"The recorded diff no longer applies to commit "
                               f"{(script.get('commit') or 'none')[:12]}: {message}")
        say(f"localtask: code at {script.get('repository')} {(script.get('commit') or '')[:12]}"
            f" + diff of {len(diff)} bytes ({len(script.get('diff_files') or [])} files)")
        if script.get("submodules"):
            say("localtask: warning: the repository has git submodules; localtask does not record "
                "or check them out")
    elif kind == "files":
        make_dirs(workdir, exist_ok=False)
        with zipfile.ZipFile(io.BytesIO(code or b"")) as zf:
            for info in zf.infolist():
                rel = _safe_relative(info.filename)
                target = workdir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
        say(f"localtask: code from the {len(script.get('files') or [])} stored file(s)")
    else:
        raise RunError("The task has no runnable script recorded (it was created interactively); "
                       "record it by running a script that calls Task.init.")
    work = script.get("working_dir") or "."
    run_dir = workdir if os.path.isabs(work) else workdir / _safe_relative(work)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def command(python: str, script: dict[str, Any], workdir: Path) -> list[str]:
    """The command line that runs the task's entry point with its recorded argv."""
    argv = [str(a) for a in script.get("argv") or []]
    if script.get("module"):
        return [python, "-u", "-m", script["module"], *argv]
    entry = script.get("entry_point")
    if not entry:
        raise RunError("The task has no entry point recorded.")
    path = Path(entry)
    if path.is_absolute() and script.get("kind") == "git":
        # The file on this machine's disk, not the rebuilt code: running it would silently run
        # whatever it holds now.
        raise RunError(f"Refusing to run the absolute entry point {entry!r}: a git task runs the file "
                       "of its rebuilt working copy, and this one is outside it. Record the task again "
                       "by running a script inside the repository.")
    if not path.is_absolute():
        path = workdir / _safe_relative(entry)
    return [python, "-u", str(path), *argv]


def make_workdir(store: Store, task_id: str) -> Path:
    root = store.cache_dir / "work"
    make_dirs(root)
    return Path(tempfile.mkdtemp(prefix=f"{task_id[:12]}-", dir=root)) / "code"


def remove_workdir(workdir: Path) -> None:
    shutil.rmtree(workdir.parent, ignore_errors=True)



def diff_problem(mirror: Path, commit: str, diff: bytes) -> str | None:
    """Why ``diff`` does not apply to ``commit`` (git's message), or None when it applies.

    Checked against a temporary index of the commit's tree in the bare mirror: no working copy."""
    index = mirror / f"localtask-check-{uuid.uuid4().hex}.index"
    env = capture.git_env({"GIT_INDEX_FILE": str(index)})
    try:
        git(["read-tree", commit], mirror, env=env)
        proc = git(["apply", "--cached", "--check", "--binary", "--whitespace=nowarn", "-"], mirror,
                   env=env, input=diff, check=False)
    finally:
        index.unlink(missing_ok=True)
    return None if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()


def has_file(mirror: Path, commit: str, path: str) -> bool:
    """Whether ``commit`` holds the file ``path`` (relative to the repository root)."""
    return git(["cat-file", "-e", f"{commit}:{path}"], mirror, check=False).returncode == 0
