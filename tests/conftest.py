"""Shared helpers: real git repositories, real subprocesses, real stores under tmp_path.

The ``localtask_home`` / ``localtask_store`` fixtures come from localtask's own pytest
plugin (``localtask/testing.py``), loaded through its ``pytest11`` entry point.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: environment variables that would make a test depend on the machine it runs on.
_LEAKY_ENV = ("LOCALTASK_TASK_ID", "LOCALTASK_SHARED", "LOCALTASK_BUSY_TIMEOUT", "LOCALTASK_QUIET", "GIT_DIR",
              "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_EXTERNAL_DIFF")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    """No test reads the user's git configuration or their default store."""
    gitconfig = tmp_path_factory.getbasetemp() / "gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text("[user]\n\tname = Test User\n\temail = test@example.com\n"
                             "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # A store nobody asked for would land here instead of in the real user data folder.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)


def git(*args: str, cwd: str | os.PathLike, check: bool = True, input: bytes | None = None,
        env: dict | None = None) -> bytes:
    """Run git in ``cwd`` and return its stdout (bytes); fail the test on a non-zero exit."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n"
                             f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout


def init_repo(path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A git repository at ``path`` whose first commit holds ``files`` (default: a README)."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=path)
    write_files(path, files if files is not None else {"README.md": "# test repo\n"})
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "initial commit", cwd=path)
    return path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


@pytest.fixture
def make_repo(tmp_path) -> Path:
    """A fresh git repository (``tmp_path/repo``) with one commit holding a README and a
    ``.gitignore`` (``*.log``, ``build/``, ``__pycache__/``)."""
    return init_repo(tmp_path / "repo", {
        "README.md": "# test repo\n",
        ".gitignore": "*.log\nbuild/\n__pycache__/\n",
    })


@pytest.fixture
def home(tmp_path) -> Path:
    """A store folder that does not exist yet (the store creates it)."""
    return tmp_path / "store-home"


def run_python(*argv: str, home: str | os.PathLike, cwd: str | os.PathLike | None = None,
               env: dict[str, str] | None = None, timeout: float = 60,
               input: str | None = None) -> subprocess.CompletedProcess:
    """``sys.executable *argv`` in a subprocess with ``LOCALTASK_HOME=home``; text output."""
    full_env = dict(os.environ)
    full_env["LOCALTASK_HOME"] = str(home)
    full_env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ appearing in the repos under test
    full_env.pop("LOCALTASK_TASK_ID", None)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=full_env, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def run_script(path: str | os.PathLike, *args: str, home: str | os.PathLike,
               cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the script ``path`` with ``args`` in a subprocess (see :func:`run_python`)."""
    path = Path(path)
    return run_python(str(path), *args, home=home, cwd=cwd or path.parent, env=env, timeout=timeout)


def write_script(path: Path, body: str) -> Path:
    """Write a dedented script file (creating its folder) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


#: a script body that records a task and prints its id for :func:`task_id_of`.
INIT_SCRIPT = """
import sys
from localtask import Task

task = Task.init(project_name="proj", task_name="run")
print("TASK_ID=" + task.id)
"""


def task_id_of(proc: subprocess.CompletedProcess, expect_rc: int | None = 0) -> str:
    """The task id a script printed as ``TASK_ID=<id>``; checks the exit code first."""
    if expect_rc is not None:
        assert proc.returncode == expect_rc, (
            f"exit code {proc.returncode}, expected {expect_rc}\n--- stdout\n{proc.stdout}\n"
            f"--- stderr\n{proc.stderr}")
    ids = re.findall(r"^TASK_ID=([0-9a-f]{32})$", proc.stdout, re.M)
    assert len(ids) == 1, f"no task id printed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return ids[0]


def tree_bytes(root: Path, exclude: set[str] = frozenset()) -> dict[str, object]:
    """``{relative posix path: bytes (or ('symlink', target))}`` of every file below ``root``,
    skipping ``.git`` and the relative paths in ``exclude``."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in list(dirnames):
            full = Path(dirpath) / name
            if full.is_symlink():
                rel = full.relative_to(root).as_posix()
                if rel not in exclude:
                    out[rel] = ("symlink", os.readlink(full))
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel in exclude:
                continue
            if full.is_symlink():
                out[rel] = ("symlink", os.readlink(full))
            else:
                out[rel] = full.read_bytes()
    return out
