"""Helpers for the robustness tests (issue 5): processes posing as other hosts, size-limited
filesystems, store consistency checks, directory snapshots.

Plain functions (no fixtures), imported by tests/test_shared_mode.py, test_concurrency.py,
test_crash.py, test_bad_input.py and test_disk_errors.py.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

#: Python source run first in a child that must look like another machine: filelock writes
#: ``socket.gethostname()`` into its lock claims, localtask uses ``os.uname().nodename`` for
#: workers and task rows. Both are patched before localtask or filelock is imported.
FAKE_HOST_PRELUDE = textwrap.dedent("""
    import os, socket
    _fake_host = os.environ.get("FAKE_HOSTNAME")
    if _fake_host:
        socket.gethostname = lambda: _fake_host
        _real_uname = os.uname
        def _uname():
            u = _real_uname()
            return os.uname_result((u.sysname, _fake_host, u.release, u.version, u.machine))
        os.uname = _uname
    """)


def child_env(home: str | os.PathLike | None = None, **extra: str) -> dict[str, str]:
    """This process's environment for a child: no task id, no bytecode files, ``extra`` added."""
    env = dict(os.environ)
    env.pop("LOCALTASK_TASK_ID", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if home is not None:
        env["LOCALTASK_HOME"] = str(home)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def spawn_python(code: str, *args: str, host: str | None = None, env: dict[str, str] | None = None,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=None) -> subprocess.Popen:
    """``python -c PRELUDE+code args`` (text pipes); with ``host`` the child poses as that host."""
    full_env = dict(env if env is not None else child_env())
    if host is not None:
        full_env["FAKE_HOSTNAME"] = host
    source = FAKE_HOST_PRELUDE + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", source, *args], env=full_env, stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, text=True, cwd=cwd)


def _more(proc: subprocess.Popen, deadline: float) -> bool:
    """Read what ``proc`` has written to stdout into its test buffer; False on timeout.

    The pipe is read with os.read, below the file object: a readline there would take two
    lines that came in one read into the file object's buffer, and a select() would then find
    the pipe empty and wait for nothing."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout.fileno(), selectors.EVENT_READ)
        if not sel.select(max(0.0, deadline - time.monotonic())):
            return False
    data = os.read(proc.stdout.fileno(), 1 << 16)
    proc._test_buf = getattr(proc, "_test_buf", b"") + data
    proc._test_eof = not data
    return True


def read_line(proc: subprocess.Popen, expect: str, timeout: float = 30) -> str:
    """The first stdout line of ``proc`` starting with ``expect`` (fails the test on exit or
    timeout). Once called, read the rest with :func:`read_rest`, not from ``proc.stdout``."""
    deadline = time.monotonic() + timeout
    while True:
        buf = getattr(proc, "_test_buf", b"")
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            proc._test_buf = buf
            text = line.decode("utf-8", errors="replace")
            if text.startswith(expect):
                return text
        if getattr(proc, "_test_eof", False):
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"child exited ({proc.wait()}) before printing {expect!r}:\n{err}")
        if not _more(proc, deadline):
            raise AssertionError(f"child printed no {expect!r} line within {timeout} s")


def read_rest(proc: subprocess.Popen, timeout: float = 30) -> str:
    """What ``proc`` printed after the lines :func:`read_line` took, up to its end."""
    deadline = time.monotonic() + timeout
    while not getattr(proc, "_test_eof", False):
        if not _more(proc, deadline):
            raise AssertionError(f"child's stdout did not end within {timeout} s")
    rest, proc._test_buf = getattr(proc, "_test_buf", b""), b""
    return rest.decode("utf-8", errors="replace")


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL a child this test started and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# --------------------------------------------------------------------------- filesystems
@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the block; skips the test where mounting is
    not permitted (not root, no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {proc.stdout.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Fill the filesystem holding ``folder`` until at most ``leave`` bytes stay free; returns
    the filler file (delete it to free the space)."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb") as fh:
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave:
                break
            try:
                fh.write(chunk[: max(1, min(len(chunk), free - leave))])
                fh.flush()
            except OSError:
                break
    return filler


# --------------------------------------------------------------------------- snapshots
def tree_listing(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file and folder below ``root``, not
    descending into ``skip`` folders: compare two to see whether anything was written."""
    out: dict[str, tuple[int, int]] = {}
    skip_s = {str(p) for p in skip}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip_s]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            out[os.path.relpath(full, root)] = (st.st_size if not os.path.isdir(full) else 0, st.st_mtime_ns
                                                if not os.path.isdir(full) else 0)
    return out


# --------------------------------------------------------------------------- consistency
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_store_consistent(home: Path) -> dict[str, int]:
    """Assert that the store at ``home`` is whole: SQLite's integrity check passes, every
    artifact row names a complete file (size and sha256 match, never a temporary name), every
    code blob a table names exists with its digest, the queue and the queued tasks agree, and
    no row of a child table is orphaned. Returns counts for the report.

    Reads the database file directly, as any SQLite client would (rolling back the journal of
    a writer that was killed); call it when no other process uses the store.
    """
    db = Path(home) / "localtask.db"
    conn = sqlite3.connect(str(db), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tasks = {r["id"]: dict(r) for r in conn.execute("SELECT id, seq, status, code_ref FROM tasks")}
        seqs = {t["seq"] for t in tasks.values()}
        artifacts = [dict(r) for r in conn.execute("SELECT * FROM artifacts")]
        for art in artifacts:
            assert art["task_id"] in tasks, f"artifact row of a missing task: {art}"
            assert ".tmp" not in art["filename"], f"artifact row names a temporary file: {art}"
            path = Path(home) / "tasks" / art["task_id"] / "artifacts" / art["filename"]
            assert path.is_file(), f"artifact row without its file: {art}"
            assert path.stat().st_size == art["size"], f"artifact file size differs from its row: {art}"
            assert sha256_file(path) == art["sha256"], f"artifact file content differs from its row: {art}"
        for task in tasks.values():
            if task["code_ref"]:
                blob = Path(home) / "blobs" / task["code_ref"]
                assert blob.is_file() and sha256_file(blob) == task["code_ref"], task
        entries = [dict(r) for r in conn.execute("SELECT task_id, queue FROM queue_entries")]
        queued = {t for t, row in tasks.items() if row["status"] == "queued"}
        assert sorted(e["task_id"] for e in entries) == sorted(queued), "queue entries and queued tasks differ"
        for table in ("parameters", "configurations"):
            orphans = conn.execute(f"SELECT count(*) FROM {table} WHERE task_id NOT IN (SELECT id FROM tasks)")
            assert orphans.fetchone()[0] == 0, f"{table} rows of missing tasks"
        scalar_seqs = {r[0] for r in conn.execute("SELECT DISTINCT task_seq FROM scalars")}
        assert scalar_seqs <= seqs, "scalars of missing tasks"
        for task in tasks.values():
            json.loads(conn.execute("SELECT script FROM tasks WHERE id = ?", (task["id"],)).fetchone()[0])
        return {"tasks": len(tasks), "artifacts": len(artifacts), "queued": len(queued),
                "scalars": conn.execute("SELECT count(*) FROM scalars").fetchone()[0]}
    finally:
        conn.close()


def temp_files(home: Path) -> list[Path]:
    """Temporary files left under the store (by writers killed before their rename)."""
    return sorted(p for p in Path(home).rglob(".tmp-*"))
