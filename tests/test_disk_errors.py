"""Issue 5, item 4: a store that runs out of room (disk full, file-size limit).

Every case runs twice, with a real limit each time and no mock of the store:

- ``tmpfs``: the store lives on a small tmpfs the test mounts, and the child fills it up
  (``fill_disk``): writes fail with ENOSPC, SQLite reports "database or disk is full". Skipped
  where mounting is not permitted.
- ``fsize``: works without root. The child forbids itself to grow any file of the store
  (``RLIMIT_FSIZE`` at the size of its largest file, SIGXFSZ ignored): writes fail with EFBIG,
  which SQLite reports as a "disk I/O error".

What the user gets (the behaviour these tests pin down):

- ``upload_artifact`` raises StoreFullError naming the artifact, the store and the cause;
  nothing is recorded, no temporary file stays, and the same call succeeds once there is room.
- ``report_scalar`` raises StoreFullError at the first call after a background write failed
  (``flush()`` raises at once); unwritten points stay in memory and are written once there is
  room; committed points are untouched.
- The console tee warns once on the real stderr and stops copying; the script's output still
  reaches the terminal and the log is an exact beginning of it.
- A task run by a worker that hits the limit ends failed with the cause in its status reason;
  when not even that end can be written, the worker says so, never hangs, and its next start
  finds a whole store and fails the task.
- A transaction that does not fit is rolled back with its real cause (StoreFullError), and the
  same connection serves the next one once there is room.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers_robust import check_store_consistent, child_env, read_line, small_tmpfs, temp_files
from helpers_worker import LOCALTASK_CLI, make_repo, start_worker_process

TESTS = Path(__file__).resolve().parent

#: Source run first in every child: ``exhaust(home)`` leaves the store no room, ``relieve(x)``
#: gives it back. Which limit is chosen by the ROOM environment variable.
ROOM_PRELUDE = textwrap.dedent(f"""
    import os, resource, signal, sys
    from pathlib import Path
    sys.path.insert(0, {str(TESTS)!r})
    from helpers_robust import fill_disk

    def exhaust(home):
        home = Path(home)
        leave = int(os.environ.get("ROOM_LEAVE", "0"))
        if os.environ["ROOM"] == "tmpfs":
            return fill_disk(home, leave=leave)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        largest = max(p.stat().st_size for p in home.rglob("*") if p.is_file())
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + leave, resource.RLIM_INFINITY))
        return None

    def relieve(filler):
        if filler is not None:
            filler.unlink()
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    """)

#: what the error says was exhausted, for each kind of limit.
CAUSE = {"tmpfs": "No space left on device", "fsize": "File too large"}


@pytest.fixture(params=["tmpfs", "fsize"])
def room(request, tmp_path):
    """``(kind, home)``: a store folder that a child can leave without room (see the module doc)."""
    if request.param == "tmpfs":
        with small_tmpfs(tmp_path / "fs", "16m") as fs:
            yield request.param, fs / "home"
    else:
        yield request.param, tmp_path / "home"


def start_child(code: str, kind: str, home: Path, cwd: Path, **env: str) -> subprocess.Popen:
    """``python -c PRELUDE+code`` with a pipe on stdin (for PAUSE / go handshakes)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", ROOM_PRELUDE + textwrap.dedent(code)],
                            env=child_env(home, ROOM=kind, **env), cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, send: str = "") -> tuple[str, str]:
    """Send ``send``, then wait for the child to exit 0; returns the rest of (stdout, stderr)."""
    out, err = proc.communicate(send, timeout=60)
    assert proc.returncode == 0, f"child exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
    return out, err


def result(text: str) -> dict:
    found = re.findall(r"^RESULT (.*)$", text, re.M)
    assert len(found) == 1, text
    return json.loads(found[0])


def query(home: Path, sql: str, *args) -> list[tuple]:
    """Rows straight from the database file, as any SQLite client sees them."""
    conn = sqlite3.connect(str(home / "localtask.db"), timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def assert_full_message(message: str, kind: str, home: Path) -> None:
    assert CAUSE[kind] in message, message
    assert str(home) in message, message
    assert "LOCALTASK_HOME" in message and "free space" in message, message
    if kind == "fsize":
        assert "ulimit -f" in message, message


# --------------------------------------------------------------------------- 1. artifacts
def test_artifact_upload_without_room_raises_records_nothing_and_succeeds_later(room, tmp_path):
    kind, home = room
    proc = start_child("""
        import json, os
        from localtask import ArtifactError, StoreFullError, Task

        task = Task.init(project_name="disk", task_name="artifacts")
        task.upload_artifact("first", {"lr": 0.1})
        task.upload_artifact("weights", bytes(range(256)) * 400)
        print("TASK_ID=" + task.id, flush=True)
        data = os.urandom(2 << 20)  # larger than any room left
        filler = exhaust(task.store_home)
        try:
            task.upload_artifact("model", data)
            error = None
        except ArtifactError as exc:
            error = ["ArtifactError", str(exc)]
        except StoreFullError as exc:
            error = [type(exc).__name__, str(exc), isinstance(exc, ArtifactError)]
        print("PAUSE", flush=True)
        sys.stdin.readline()  # the parent looks at the store now
        relieve(filler)
        task.upload_artifact("model", data)  # the very same call, now that there is room
        print("RESULT " + json.dumps({"error": error, "same": task.artifacts["model"].get() == data}))
        """, kind, home, tmp_path / "work")
    try:
        task_id = read_line(proc, "TASK_ID=").split("=", 1)[1]
        read_line(proc, "PAUSE")
        # Out of room: no row for the failed upload, no file, no temporary file, the store whole.
        assert [r[0] for r in query(home, "SELECT name FROM artifacts ORDER BY name")] == ["first", "weights"]
        folder = home / "tasks" / task_id / "artifacts"
        assert sorted(p.name for p in folder.iterdir()) == ["first.json", "weights.pkl"]
        assert temp_files(home) == []
        assert check_store_consistent(home)["artifacts"] == 2
    finally:
        out, err = finish(proc, "go\n")

    res = result(out)
    error_type, message = res["error"][:2]
    assert error_type == "StoreFullError", res["error"]
    assert "'model'" in message and "Nothing was recorded" in message, message
    assert_full_message(message, kind, home)
    assert res["same"] is True
    assert [r[0] for r in query(home, "SELECT name FROM artifacts ORDER BY name")] == ["first", "model", "weights"]
    assert temp_files(home) == []
    assert check_store_consistent(home)["artifacts"] == 3
    assert query(home, "SELECT status FROM tasks WHERE id = ?", task_id) == [("completed",)]


# --------------------------------------------------------------------------- 2. scalars
def test_scalars_without_room_raise_at_the_next_report_and_lose_nothing(room, tmp_path):
    kind, home = room
    proc = start_child("""
        import json, time
        from localtask import StoreFullError, Task

        task = Task.init(project_name="disk", task_name="scalars")
        log = task.get_logger()
        for i in range(300):
            log.report_scalar("loss", "train", 1.0 / (i + 1), i)
        log.flush()
        print("TASK_ID=" + task.id, flush=True)
        filler = exhaust(task.store_home)
        reported, raised, started = 300, None, time.monotonic()
        while raised is None and time.monotonic() - started < 10:
            for _ in range(200):  # written in the background, about every second
                try:
                    log.report_scalar("loss", "train", 0.5, reported)
                except StoreFullError as exc:
                    raised = [type(exc).__name__, str(exc), time.monotonic() - started]
                    break
                finally:
                    reported += 1  # the point of the call that raised is kept too
            time.sleep(0.05)
        try:
            log.flush()
            flushed = None
        except StoreFullError as exc:
            flushed = str(exc)
        print("PAUSE", flush=True)
        sys.stdin.readline()
        time.sleep(1.5)  # the background writer fails again meanwhile
        relieve(filler)
        log.flush()  # the unwritten points go in now
        try:  # the failure is over: the next report must not raise it again
            log.report_scalar("loss", "train", 0.25, reported)
            later = None
        except StoreFullError as exc:
            later = str(exc)
        reported += 1
        log.flush()
        print("RESULT " + json.dumps({"reported": reported, "raised": raised, "flushed": flushed,
                                      "later": later}))
        """, kind, home, tmp_path / "work")
    try:
        task_id = read_line(proc, "TASK_ID=").split("=", 1)[1]
        read_line(proc, "PAUSE", timeout=30)
        # Out of room: the 300 committed points are there, nothing else, and the file is whole.
        assert query(home, "SELECT count(*) FROM scalars")[0][0] == 300
        assert query(home, "PRAGMA integrity_check") == [("ok",)]
    finally:
        out, err = finish(proc, "go\n")

    res = result(out)
    assert res["raised"] is not None, f"report_scalar never raised on a full store\n{err}"
    error_type, message, after = res["raised"]
    assert error_type == "StoreFullError"
    assert after < 5, "the error came long after the failed write"
    assert f"scalars of task {task_id}" in message and "kept in memory" in message, message
    assert_full_message(message, kind, home)
    assert res["flushed"] and CAUSE[kind] in res["flushed"], res
    assert res["later"] is None, res
    rows = query(home, "SELECT iteration, value FROM scalars ORDER BY rowid")
    assert len(rows) == res["reported"]
    assert rows[:300] == [(i, 1.0 / (i + 1)) for i in range(300)]
    assert sorted(r[0] for r in rows) == list(range(res["reported"]))
    assert check_store_consistent(home)["scalars"] == res["reported"]
    assert query(home, "SELECT status FROM tasks WHERE id = ?", task_id) == [("completed",)]


# --------------------------------------------------------------------------- 3. console
def test_console_log_without_room_warns_once_and_the_script_runs_on(room, tmp_path):
    kind, home = room
    proc = start_child("""
        import json
        from localtask import Task

        task = Task.init(project_name="disk", task_name="console")
        print("TASK_ID=" + task.id)
        filler = exhaust(task.store_home)
        for i in range(1500):  # more than any room left (the limit: ~130 kB, the store's WAL)
            print(f"line {i:05d} " + "x" * 200)
        relieve(filler)
        print("RESULT " + json.dumps({"done": True}))
        """, kind, home, tmp_path / "work")
    out, err = finish(proc)

    task_id = re.search(r"^TASK_ID=([0-9a-f]{32})$", out, re.M).group(1)
    assert result(out) == {"done": True}
    lines = [line for line in out.splitlines() if line.startswith("line ")]
    assert len(lines) == 1500  # every line reached the terminal
    warnings = [line for line in err.splitlines() if "console log" in line]
    assert warnings == [f"localtask: cannot write the console log of task {task_id}: {CAUSE[kind]}; "
                        "the run goes on, its console is incomplete"], err
    log = (home / "tasks" / task_id / "console.log").read_text(encoding="utf-8")
    assert log.startswith("TASK_ID=" + task_id) and "line 00000" in log
    assert out.startswith(log) and len(log) < len(out)  # an exact beginning of the output
    assert query(home, "SELECT status FROM tasks WHERE id = ?", task_id) == [("completed",)]
    check_store_consistent(home)


# --------------------------------------------------------------------------- 4. worker
TASK_SCRIPT = ROOM_PRELUDE + textwrap.dedent("""
    from localtask import Task

    task = Task.init(project_name="disk", task_name="fills its store")
    print("started", flush=True)
    if os.environ.get("LOCALTASK_TASK_ID"):  # only when a worker runs it
        exhaust(task.store_home)
        task.upload_artifact("checkpoint", os.urandom(2 << 20))
    print("finished")
    """)


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*LOCALTASK_CLI, "--home", str(home), *args], env=child_env(home),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def record_and_queue_a_clone(tmp_path, home, script: str, room: str) -> str:
    """Record ``script`` as train.py in a new repository, clone it onto the default queue with
    the CLI; returns the clone's id."""
    repo = make_repo(tmp_path / "repo", {"train.py": script})
    recorded = subprocess.run([sys.executable, "train.py"], cwd=repo, env=child_env(home, ROOM=room),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert recorded.returncode == 0, recorded.stderr
    original = query(home, "SELECT id FROM tasks")[0][0]
    out = cli("clone", original, "--queue", "default", home=home).stdout
    return re.search(r"Created task ([0-9a-f]{32})", out).group(1)


def test_worker_task_that_runs_out_of_room_ends_failed_with_the_cause(room, tmp_path):
    kind, home = room
    clone_id = record_and_queue_a_clone(tmp_path, home, TASK_SCRIPT, kind)

    # Room for the worker's own small commits (the task's end), none for the 2 MB checkpoint.
    log_file = tmp_path / "worker.log"
    worker = start_worker_process(home, "--burst", "--name", "disk-worker", "--poll-interval", "0.1",
                                  log=log_file, ROOM=kind, ROOM_LEAVE=str(256 * 1024))
    try:
        assert worker.wait(60) == 0, log_file.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    status, reason = query(home, "SELECT status, status_reason FROM tasks WHERE id = ?", clone_id)[0]
    assert status == "failed", (status, reason, log_file.read_text())
    assert reason.startswith("exit code 1"), reason
    assert "StoreFullError" in reason and "'checkpoint'" in reason and CAUSE[kind] in reason, reason
    assert query(home, "SELECT count(*) FROM artifacts WHERE task_id = ?", clone_id) == [(0,)]
    (home / "filler.bin").unlink(missing_ok=True)
    assert temp_files(home) == []
    check_store_consistent(home)


LOUD_TASK_SCRIPT = ROOM_PRELUDE + textwrap.dedent("""
    from localtask import Task

    task = Task.init(project_name="disk", task_name="fills its store to the last byte")
    if os.environ.get("LOCALTASK_TASK_ID"):
        exhaust(task.store_home)
        for i in range(2000):  # more than a pipe holds: the worker must keep reading
            print(f"line {i:05d} " + "x" * 100)
        task.upload_artifact("checkpoint", os.urandom(2 << 20))
    print("finished")
    """)


@pytest.mark.parametrize("keep_workdirs", [False, True], ids=["workdir-removed", "workdir-kept"])
def test_worker_on_a_disk_full_to_the_last_byte_ends_and_the_next_run_finds_a_whole_store(tmp_path,
                                                                                         keep_workdirs):
    with small_tmpfs(tmp_path / "fs", "16m") as fs:
        home = fs / "home"
        clone_id = record_and_queue_a_clone(tmp_path, home, LOUD_TASK_SCRIPT, "tmpfs")

        log_file = tmp_path / "worker.log"
        keep = ["--keep-workdirs"] if keep_workdirs else []
        worker = start_worker_process(home, "--burst", "--name", "disk-worker", "--poll-interval", "0.1",
                                      *keep, log=log_file, ROOM="tmpfs")
        try:
            code = worker.wait(60)  # it must not hang on a console it cannot write
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        text = log_file.read_text()
        assert text.count("cannot write its console log") == 1, text
        status, reason = query(home, "SELECT status, status_reason FROM tasks WHERE id = ?", clone_id)[0]
        if keep_workdirs:  # not a byte to spare: even the end cannot be written, and it says so
            assert status == "in_progress", (status, reason, text)
            assert f"task {clone_id}: cannot record its end (failed: exit code 1)" in text, text
            assert "No space left on device" in text and "at its next start" in text, text
            assert code == 1 and "Error: Cannot write the store database" in text, text  # its own row
        else:  # the working copy goes first on a disk this full, and that makes room for the end;
            # the task's own end notes may take the last bytes, and then the worker says that
            # its own row stays for its next start
            assert code == 0 or "Error: Cannot write the store database" in text, text
            assert status == "failed", (status, reason, text)
            assert "StoreFullError" in reason and "No space left on device" in reason, reason

        (home / "filler.bin").unlink()
        check_store_consistent(home)
        again = start_worker_process(home, "--burst", "--name", "disk-worker", "--poll-interval", "0.1",
                                     log=tmp_path / "again.log")
        assert again.wait(60) == 0, (tmp_path / "again.log").read_text()
        assert query(home, "SELECT status FROM tasks WHERE id = ?", clone_id) == [("failed",)]
        assert query(home, "SELECT count(*) FROM workers") == [(0,)]
        assert temp_files(home) == []
        check_store_consistent(home)


# --------------------------------------------------------------------------- 5. the store itself
def test_transaction_too_big_for_the_room_left_is_rolled_back_with_the_real_cause(room, tmp_path):
    """A write larger than SQLite's page cache fails inside the transaction, and SQLite rolls
    it back itself: the error must still say what happened (not "cannot rollback"), and the
    same connection must serve the next transaction once there is room."""
    kind, home = room
    out, err = finish(start_child("""
        import json, time
        from localtask import Store, StoreFullError

        store = Store(os.environ["LOCALTASK_HOME"])
        store.insert_task({"id": "a" * 32, "project": "p", "name": "n", "status": "in_progress"})
        seq = store.get_task("a" * 32)["seq"]
        store.add_scalars(seq, [("loss", "train", i, 1.0, time.time()) for i in range(100)])
        filler = exhaust(store.home)
        big = [("t" * 60, "s" * 60, i, 2.0, time.time()) for i in range(60_000)]  # ~10 MB of pages
        try:
            store.add_scalars(seq, big)
            error = None
        except StoreFullError as exc:
            error = str(exc)
        relieve(filler)
        store.add_scalars(seq, [("loss", "train", i, 3.0, time.time()) for i in range(100, 200)])
        print("RESULT " + json.dumps({"error": error, "count": store.count_scalars("a" * 32)}))
        """, kind, home, tmp_path / "work"))
    res = result(out)
    assert res["error"] and "Nothing was changed" in res["error"], res
    assert_full_message(res["error"], kind, home)
    assert res["count"] == 200
    assert check_store_consistent(home)["scalars"] == 200
