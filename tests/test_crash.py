"""kill -9 in the middle of enqueue, clone, reset, scalar-logging and artifact-upload loops
(issue 5, item 3): the store stays whole and keeps everything it committed.

Each loop kind runs in a real child process against a real store, through the public API,
doing operations back to back. Before an operation the child appends a ``begin`` line to a
side journal, after it returns a ``done`` line (each written with one ``write`` and fsynced),
both saying what the store must hold afterwards. The parent kills the child with SIGKILL a
random 3-300 ms after it says READY (so some kills land in its start-up and ``Task.init``,
most in an operation: in a transaction, a file write or between the two), starts another,
and every 10 kills and at the end checks:

- :func:`check_store_consistent`: ``PRAGMA integrity_check``, every artifact row names a
  complete file with its size and sha256, queue entries agree with queued tasks, no orphans;
- replaying the journal: whatever a ``done`` line says is in the store, exactly; an operation
  begun but not done (the child was killed in it) left the store as before it, as after it,
  or (for a multi-step operation) after one of its steps, never anything else;
- every clone of the seed task is whole (parameters, configuration objects, script and
  environment all copied), journaled or not;
- temporary files left by killed writers are never named by a row.

The kill of a worker while its tasks run is covered by
tests/test_worker_e2e.py::test_task_of_killed_worker_is_failed_or_requeued.

LOCALTASK_CRASH_KILLS (default 100) sets the kills per loop kind of the slow tests;
LOCALTASK_CRASH_SEED replays a run (the seed is printed by each test).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import pytest

from helpers_robust import check_store_consistent, child_env, kill9, read_line, spawn_python, temp_files

KILLS = int(os.environ.get("LOCALTASK_CRASH_KILLS", "100"))
CHECK_EVERY = 10
KINDS = ("enqueue", "clone", "reset", "scalars", "artifacts")

SEED_TASK = """
import argparse, sys
from localtask import Task
task = Task.init(project_name="crash", task_name="seed")
task.connect({"lr": 0.1, "epochs": 10, "optimizer": "adam"})
task.connect(argparse.Namespace(batch=32, data="cifar10"))
task.connect_configuration({"model": {"layers": [64, 64], "dropout": 0.1}}, name="model")
task.set_tags(["seed"])
print("SEED=" + task.id, flush=True)
task.close()
"""

#: One loop kind, forever: argv = kind, journal, seed task id, rng seed, scratch folder.
CHILD = r"""
import hashlib, json, os, pickle, random, sys
kind, journal_path, seed_id, rng_seed, scratch = sys.argv[1:6]
rng = random.Random(int(rng_seed))
fd = os.open(journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

def journal(k, op, **fields):
    os.write(fd, (json.dumps(dict(fields, k=k, op=op), sort_keys=True) + "\n").encode())
    os.fsync(fd)

from localtask import Task
print("READY", flush=True)
pid = os.getpid()

def clone(n):
    name = f"{kind} {pid}-{n}"
    journal("begin", "clone", name=name)  # its id is known once it is committed
    task = Task.clone(seed_id, name=name)
    journal("done", "clone", task=task.id, name=name)
    return task

def loop_clone():
    for n in range(10**9):
        task = clone(n)
        if rng.random() < 0.5:
            params = {"General/lr": rng.random(), "General/epochs": rng.randint(1, 1000),
                      "Args/batch": rng.choice([8, 16, 64, 128])}
            journal("begin", "edit", task=task.id, params=params)
            task.update_parameters(params)
            journal("done", "edit", task=task.id, params=params)

def loop_enqueue():
    mine = []  # [task id, status as this child knows it, status before it was queued]
    for n in range(10**9):
        if len(mine) < 3 or rng.random() < 0.25:
            mine.append([clone(n).id, "created", None])
            mine = mine[-20:]
        entry = rng.choice(mine)
        task_id, status, before = entry
        if status in ("created", "stopped"):
            queue, priority = rng.choice(["crash-a", "crash-b"]), rng.randint(0, 3)
            rec = dict(task=task_id, to=["queued", queue, priority])
            journal("begin", "enqueue", **rec)
            Task.enqueue(task_id, queue_name=queue, priority=priority)
            journal("done", "enqueue", **rec)
            entry[1:] = ["queued", status]
        elif rng.random() < 0.6:
            rec = dict(task=task_id, to=[before, None, None])
            journal("begin", "dequeue", **rec)
            Task.dequeue(task_id)
            journal("done", "dequeue", **rec)
            entry[1:] = [before, None]
        else:
            rec = dict(task=task_id, to=["stopped", None, None])
            journal("begin", "abort", **rec)
            assert Task.get_task(task_id).abort() == "stopped"
            journal("done", "abort", **rec)
            entry[1:] = ["stopped", None]

def reset(task, delete, force=False):
    rec = dict(task=task.id, delete=delete)
    journal("begin", "reset", **rec)
    task.reset(delete_artifacts=delete, force=force)
    journal("done", "reset", **rec)

def loop_reset():
    # runs left half-done by killed children are reset first, as a user would after a crash
    for task in Task.get_tasks(project_name="crash", task_name="reset ", status=["in_progress"]):
        reset(task, rng.random() < 0.5, force=True)
    mine = []
    for n in range(10**9):
        if not mine or rng.random() < 0.4:
            mine.append(clone(n).id)
        task = Task.get_task(rng.choice(mine[-10:]))
        scalars, text = rng.randint(1, 400), f"run {pid}-{n}"
        result = {"run": text, "values": [rng.random() for _ in range(rng.randint(1, 2000))]}
        sha = hashlib.sha256(json.dumps(result, indent=2, ensure_ascii=False).encode()).hexdigest()
        rec = dict(task=task.id, scalars=scalars, console=text, sha=sha)
        journal("begin", "run", **rec)
        task.mark_started()
        logger = task.get_logger()
        for i in range(scalars):
            logger.report_scalar("loss", "train", i * 0.25, i)
        logger.flush()
        logger.report_text(text, print_console=False)
        task.upload_artifact("result", result)
        task.mark_completed()
        journal("done", "run", **rec)
        reset(task, rng.random() < 0.5)

def loop_scalars():
    task = Task.init(project_name="crash", task_name="scalars")
    logger = task.get_logger()
    done = 0
    while True:
        upto = done + rng.randint(5, 200)
        journal("begin", "scalars", task=task.id, upto=upto)
        for i in range(done, upto):
            logger.report_scalar("loss", "train", i * 0.25, i)
            logger.report_scalar("acc", "val", 1.0 / (i + 1), i)
        logger.flush()
        journal("done", "scalars", task=task.id, upto=upto)
        done = upto

def artifact_object(name):
    size = rng.choice([0, 1, 100, 4096, 65536, 300000]) + rng.randint(0, 999)
    if name == "model":  # a file, copied
        path = os.path.join(scratch, f"model-{pid}.bin")
        data = os.urandom(size)
        with open(path, "wb") as fh:
            fh.write(data)
        return path, data
    if name == "metrics":
        obj = {"step": rng.randint(0, 10**6), "loss": [rng.random() for _ in range(size // 20)]}
        return obj, json.dumps(obj, indent=2, ensure_ascii=False).encode()
    if name == "notes":
        obj = os.urandom(size // 2 + 1).hex()[:size].replace("a", "\n")
        return obj, obj.encode()
    obj = os.urandom(size)
    return obj, pickle.dumps(obj)

def loop_artifacts():
    own = Task.init(project_name="crash", task_name="artifacts")
    targets = [own, Task.get_task(seed_id)]  # the seed's artifacts are overwritten by every child
    while True:
        task, name = rng.choice(targets), rng.choice(["model", "metrics", "notes", "weights"])
        obj, data = artifact_object(name)
        rec = dict(task=task.id, name=name, sha=hashlib.sha256(data).hexdigest(), size=len(data))
        journal("begin", "upload", **rec)
        task.upload_artifact(name, obj)
        journal("done", "upload", **rec)

globals()["loop_" + kind]()
"""


# --------------------------------------------------------------------------- journal
def read_journal(path: Path) -> list[dict]:
    """The journal's records (a line cut by the kill, if any, is not a record)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def replay(records: list[dict], steps, initial=None) -> set:
    """The states the store may be in for one object, given its journal ``records`` in order.

    ``steps(state, record)`` lists the states an operation passes through from ``state``,
    the last one being its result. After a ``done`` record only results are possible; after
    a ``begin`` with no ``done`` (killed in it), any state the operation passes through, or
    the one before it.
    """
    current = {initial}
    base = current
    for rec in records:
        if rec["op"] == "clone" and rec["k"] == "begin":
            continue  # the clone does not exist before its done record
        if rec["k"] == "begin":
            base = current
            current = set(base)
            for state in base:
                current.update(steps(state, rec))
        else:
            if rec["op"] == "clone":
                base = {initial}
            current = {steps(state, rec)[-1] for state in base}
            base = current
    return current


def by_key(records: list[dict], *fields: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        if "task" in rec:  # a clone begun has no id yet
            out[tuple(rec.get(f) for f in fields)].append(rec)
    return out


# --------------------------------------------------------------------------- store reads
def connect(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(home / "localtask.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def params_of(conn: sqlite3.Connection, task_id: str) -> dict[str, tuple[str, str]]:
    return {f"{r['section']}/{r['name']}": (r["value"], r["type"]) for r in conn.execute(
        "SELECT section, name, value, type FROM parameters WHERE task_id = ?", (task_id,))}


def decoded_params(conn: sqlite3.Connection, task_id: str) -> dict:
    from localtask import params as P

    return {k: P.decode(v, t) for k, (v, t) in params_of(conn, task_id).items()}


def check_clones_whole(conn: sqlite3.Connection, seed_id: str, edited: set[str]) -> int:
    """Every clone of the seed holds the seed's whole configuration (its parameters too,
    unless the journal says it was edited). Returns the number of clones."""
    cols = "type, tags, script, environment, code, code_ref"
    seed = tuple(conn.execute(f"SELECT {cols} FROM tasks WHERE id = ?", (seed_id,)).fetchone())
    seed_params = params_of(conn, seed_id)
    seed_confs = [tuple(r) for r in conn.execute(
        "SELECT name, kind, value, description FROM configurations WHERE task_id = ? ORDER BY name", (seed_id,))]
    assert seed_params and seed_confs
    clones = conn.execute(f"SELECT id, {cols} FROM tasks WHERE parent = ?", (seed_id,)).fetchall()
    for row in clones:
        assert tuple(row)[1:] == seed, f"clone {row['id']} lacks part of the seed's script or environment"
        confs = [tuple(r) for r in conn.execute(
            "SELECT name, kind, value, description FROM configurations WHERE task_id = ? ORDER BY name",
            (row["id"],))]
        assert confs == seed_confs, f"clone {row['id']} has configurations {confs}"
        params = params_of(conn, row["id"])
        if row["id"] in edited:
            assert set(params) == set(seed_params), f"clone {row['id']} has parameters {params}"
        else:
            assert params == seed_params, f"clone {row['id']} has parameters {params}"
    return len(clones)


def check_journaled_clones(conn: sqlite3.Connection, records: list[dict], seed_id: str) -> None:
    for rec in records:
        if rec["op"] == "clone" and rec["k"] == "done":
            row = conn.execute("SELECT name, parent FROM tasks WHERE id = ?", (rec["task"],)).fetchone()
            assert row is not None, f"committed clone {rec['task']} is missing"
            assert (row["name"], row["parent"]) == (rec["name"], seed_id), dict(row)


# --------------------------------------------------------------------------- per kind
def verify_clone(conn, records, seed_id, home) -> None:
    seed_params = decoded_params(conn, seed_id)
    initial = tuple(sorted(seed_params.items()))

    def steps(state, rec):
        return [initial] if rec["op"] == "clone" else [tuple(sorted({**dict(state), **rec["params"]}.items()))]

    for (task_id,), recs in by_key(records, "task").items():
        allowed = replay(recs, steps, initial)
        actual = tuple(sorted(decoded_params(conn, task_id).items()))
        assert actual in allowed, f"task {task_id}: parameters {actual}, journal allows {allowed}"
        row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        assert row["status"] == "created"


def verify_enqueue(conn, records, seed_id, home) -> None:
    initial = ("created", None, None)

    def steps(state, rec):
        return [initial] if rec["op"] == "clone" else [tuple(rec["to"])]

    for (task_id,), recs in by_key(records, "task").items():
        allowed = replay(recs, steps, initial)
        row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        entry = conn.execute("SELECT queue, priority FROM queue_entries WHERE task_id = ?", (task_id,)).fetchone()
        actual = (row["status"], *(tuple(entry) if entry else (None, None)))
        assert actual in allowed, f"task {task_id}: {actual}, journal allows {allowed}"


def verify_reset(conn, records, seed_id, home) -> None:
    initial = ("created", 0, None, None)

    def steps(state, rec):
        status, scalars, console, art = state
        if rec["op"] == "clone":
            return [initial]
        if rec["op"] == "run":  # mark_started, scalars flushed, console line, artifact, completed
            return [("in_progress", 0, None, art), ("in_progress", rec["scalars"], None, art),
                    ("in_progress", rec["scalars"], rec["console"], art),
                    ("in_progress", rec["scalars"], rec["console"], rec["sha"]),
                    ("completed", rec["scalars"], rec["console"], rec["sha"])]
        after = ("created", 0, None, None if rec["delete"] else art)
        # the console file is removed just after the reset commits: a kill in between keeps it
        return [("created", 0, console, after[3]), after] if rec["k"] == "begin" else [after]

    for (task_id,), recs in by_key(records, "task").items():
        allowed = replay(recs, steps, initial)
        row = conn.execute("SELECT seq, status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        scalars = conn.execute("SELECT count(*) FROM scalars WHERE task_seq = ?", (row["seq"],)).fetchone()[0]
        console_path = home / "tasks" / task_id / "console.log"
        console = console_path.read_text().rstrip("\n") if console_path.exists() else None
        console = console or None  # opened by the run, killed before its first line: nothing yet
        art = conn.execute("SELECT sha256 FROM artifacts WHERE task_id = ? AND name = 'result'",
                           (task_id,)).fetchone()
        actual = (row["status"], scalars, console, art[0] if art else None)
        assert actual in allowed, f"task {task_id}: {actual}, journal allows {allowed}"


def verify_scalars(conn, records, seed_id, home) -> None:
    for (task_id,), recs in by_key(records, "task").items():
        committed = max((r["upto"] for r in recs if r["k"] == "done"), default=0)
        begun = max(r["upto"] for r in recs)
        seq = conn.execute("SELECT seq FROM tasks WHERE id = ?", (task_id,)).fetchone()["seq"]
        counts = {}
        for title, series, value in (("loss", "train", "iteration * 0.25"), ("acc", "val", "1.0 / (iteration + 1)")):
            n, distinct, low, high, wrong = conn.execute(
                "SELECT count(*), count(DISTINCT iteration), min(iteration), max(iteration), "
                f"sum(value IS NULL OR value != {value}) FROM scalars WHERE task_seq = ? AND title = ? "
                "AND series = ?", (seq, title, series)).fetchone()
            assert n == 0 or (n == distinct == high + 1 and low == 0), \
                f"task {task_id} {title}/{series}: iterations are not 0..n-1 once each ({n} rows)"
            assert not wrong, f"task {task_id} {title}/{series}: {wrong} wrong values"
            counts[title] = n
        assert committed <= counts["acc"] and counts["loss"] <= begun, \
            f"task {task_id}: {counts} points, journal: {committed} committed, {begun} begun"
        # points are buffered loss_i, acc_i, loss_i+1...: a batch is a prefix of that order
        assert counts["loss"] - counts["acc"] in (0, 1), f"task {task_id}: {counts}"


def verify_artifacts(conn, records, seed_id, home) -> None:
    def steps(state, rec):
        return [rec["sha"]]

    for (task_id, name), recs in by_key(records, "task", "name").items():
        allowed = replay(recs, steps)
        row = conn.execute("SELECT sha256, size FROM artifacts WHERE task_id = ? AND name = ?",
                           (task_id, name)).fetchone()
        actual = row["sha256"] if row else None
        assert actual in allowed, f"task {task_id} artifact {name}: sha256 {actual}, journal allows {allowed}"


VERIFY = {"clone": verify_clone, "enqueue": verify_enqueue, "reset": verify_reset,
          "scalars": verify_scalars, "artifacts": verify_artifacts}


def verify(kind: str, home: Path, journal: Path, seed_id: str) -> dict[str, int]:
    """Every check of the module docstring; returns figures for the report."""
    counts = check_store_consistent(home)
    records = read_journal(journal)
    conn = connect(home)
    try:
        check_journaled_clones(conn, records, seed_id)
        edited = {r["task"] for r in records if r["op"] == "edit"}
        counts["clones"] = check_clones_whole(conn, seed_id, edited)
        VERIFY[kind](conn, records, seed_id, home)
    finally:
        conn.close()
    counts["temp_files"] = len(temp_files(home))  # check_store_consistent: no row names one
    counts["committed_ops"] = sum(r["k"] == "done" for r in records)
    return counts


# --------------------------------------------------------------------------- the loop
def make_seed(home: Path, cwd: Path) -> str:
    proc = spawn_python(SEED_TASK, env=child_env(home), cwd=cwd)
    seed_id = read_line(proc, "SEED=").split("=", 1)[1]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return seed_id


def crash_loop(kind: str, tmp_path: Path, kills: int) -> dict:
    rng_seed = int(os.environ.get("LOCALTASK_CRASH_SEED") or random.randrange(1 << 30))
    print(f"\n{kind}: seed {rng_seed} (LOCALTASK_CRASH_SEED={rng_seed} replays the random choices)")
    rng = random.Random(rng_seed)
    home, journal, scratch = tmp_path / "home", tmp_path / "journal.jsonl", tmp_path / "scratch"
    scratch.mkdir()
    seed_id = make_seed(home, tmp_path)
    env = child_env(home)
    started = time.monotonic()
    counts: dict[str, int] = {}
    for n in range(1, kills + 1):
        proc = spawn_python(CHILD, kind, str(journal), seed_id, str(rng.randrange(1 << 30)), str(scratch),
                            env=env, cwd=tmp_path)
        try:
            read_line(proc, "READY")
            time.sleep(rng.uniform(0.003, 0.3))
            if proc.poll() is not None:
                raise AssertionError(f"the {kind} child exited by itself ({proc.returncode}):\n"
                                     f"{proc.stderr.read()}")
        finally:
            kill9(proc)
        assert proc.returncode == -9
        if n % CHECK_EVERY == 0 or n == kills:
            counts = verify(kind, home, journal, seed_id)
    records = read_journal(journal)
    # a child works sequentially: an operation it finished has its done record right after its begin
    killed_in_op = sum(rec["k"] == "begin" and (i + 1 == len(records) or records[i + 1]["k"] != "done")
                       for i, rec in enumerate(records))
    counts.update(kills=kills, killed_in_op=killed_in_op, seconds=round(time.monotonic() - started, 1))
    print(f"{kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert counts["committed_ops"] >= kills, f"too few operations committed to test anything: {counts}"
    if kills >= 20:
        assert killed_in_op >= kills // 4, f"too few kills landed inside an operation: {counts}"
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_kill9_loops_leave_store_whole(kind, tmp_path):
    crash_loop(kind, tmp_path, KILLS)


def test_kill9_artifact_uploads_quick(tmp_path):
    crash_loop("artifacts", tmp_path, 5)


KILLED_UPLOAD = """
import os, sys
from localtask import Task
task = Task.init(project_name="crash", task_name="big upload")
print("TASK=" + task.id, flush=True)
folder = os.path.join(sys.argv[1], "big")
os.makedirs(folder)
with open(os.path.join(folder, "weights.bin"), "wb") as fh:
    fh.write(os.urandom(40 << 20))  # zipping it takes long enough to be killed in the middle
print("UPLOADING", flush=True)
task.upload_artifact("weights", folder)
print("UPLOADED", flush=True)
"""


def test_upload_killed_mid_write_leaves_no_row_and_its_temp_file_is_swept(tmp_path):
    home = tmp_path / "home"
    proc = spawn_python(KILLED_UPLOAD, str(tmp_path), env=child_env(home), cwd=tmp_path)
    try:
        task_id = read_line(proc, "TASK=").split("=", 1)[1]
        read_line(proc, "UPLOADING")
        folder = home / "tasks" / task_id / "artifacts"
        deadline = time.monotonic() + 30
        while not list(folder.glob(".tmp-*")) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the upload ended before it could be killed"
    finally:
        kill9(proc)
    [left] = temp_files(home)
    assert left.parent == folder
    counts = check_store_consistent(home)
    assert counts["artifacts"] == 0

    from localtask import Task

    young = folder / ".tmp-young"  # as if another process were writing it right now
    young.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(left, (old, old))
    task = Task.get_task(task_id, home=home)
    task.upload_artifact("weights", {"epoch": 1})
    assert temp_files(home) == [young]
    assert task.artifacts["weights"].get() == {"epoch": 1}
    check_store_consistent(home)


def test_reupload_never_rewrites_the_file_a_row_names(tmp_path):
    """The file a row names stays as it is until a row naming the next version commits; the
    superseded file is removed after that, and every version keeps the file's name."""
    from localtask import Task
    from localtask.store import Store

    home = tmp_path / "home"
    proc = spawn_python(SEED_TASK, env=child_env(home), cwd=tmp_path)
    task_id = read_line(proc, "SEED=").split("=", 1)[1]
    assert proc.wait(60) == 0
    task = Task.get_task(task_id, home=home)
    artifacts = home / "tasks" / task_id / "artifacts"
    paths = []
    for version in range(4):
        task.upload_artifact("metrics", {"version": version})
        artifact = task.artifacts["metrics"]
        assert artifact.get() == {"version": version}
        path = Path(artifact.get_local_copy())
        assert path.name == "metrics.json" and path not in paths
        paths.append(path)
        files = sorted(p for p in artifacts.rglob("*") if p.is_file())
        assert files == [path], "the superseded version was not removed"
        check_store_consistent(home)
    assert paths[0] == artifacts / "metrics.json"  # the first upload has the plain path
    task.reset(force=True, delete_artifacts=True)
    assert list(artifacts.rglob("*")) == [] and Store.open(home).get_artifacts(task_id) == []


REUPLOAD = """
import sys
from localtask import Task
task = Task.get_task(sys.argv[1])
print("UPLOADING", flush=True)
task.upload_artifact("metrics", {"version": 2})
print("UPLOADED", flush=True)
"""


def test_reupload_killed_before_its_commit_keeps_the_previous_version_whole(tmp_path):
    """The window the random kills hit only now and then, made certain: another process holds
    the database's write lock, so the child has written the new version of an artifact and
    waits to commit its row when it is killed."""
    from localtask import Task

    home = tmp_path / "home"
    proc = spawn_python(SEED_TASK, env=child_env(home), cwd=tmp_path)
    task_id = read_line(proc, "SEED=").split("=", 1)[1]
    assert proc.wait(60) == 0
    Task.get_task(task_id, home=home).upload_artifact("metrics", {"version": 1})
    new_sha = hashlib.sha256(json.dumps({"version": 2}, indent=2).encode()).hexdigest()
    folder = home / "tasks" / task_id / "artifacts"

    blocker = sqlite3.connect(str(home / "localtask.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    proc = spawn_python(REUPLOAD, task_id, env=child_env(home, LOCALTASK_BUSY_TIMEOUT="60"), cwd=tmp_path)
    try:
        read_line(proc, "UPLOADING")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            written = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
                       and hashlib.sha256(p.read_bytes()).hexdigest() == new_sha]
            if written:
                break
            time.sleep(0.005)
        assert written, "the child never wrote the new version"
        time.sleep(0.05)
        assert proc.poll() is None, "the child committed through another process's write lock"
    finally:
        kill9(proc)
        blocker.execute("ROLLBACK")
        blocker.close()
    check_store_consistent(home)
    assert Task.get_task(task_id, home=home).artifacts["metrics"].get() == {"version": 1}
    Task.get_task(task_id, home=home).upload_artifact("metrics", {"version": 3})
    assert Task.get_task(task_id, home=home).artifacts["metrics"].get() == {"version": 3}
    check_store_consistent(home)
