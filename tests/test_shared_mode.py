"""Shared mode (a store on a network filesystem), tested on local disk with processes that
present themselves as different hosts (this machine has no NFS client; see RECIPES.md).

Covers: detection from the filesystem type and the forcing switches, the rollback journal,
a connection per operation, the cross-host lock (exclusion, no stale read), and the breaking
of dead holders' claims (same host: at once; another host: only after
LOCALTASK_LOCK_STALE_AFTER seconds).
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_robust import FAKE_HOST_PRELUDE, child_env, kill9, read_line, small_tmpfs, spawn_python
from localtask import StoreLockedError, Task
from localtask import store as store_mod
from localtask.store import DB_NAME, Store, filesystem_type, is_network_filesystem

#: a child that opens the store in shared mode, takes its lock, says so, and holds it.
HOLDER = """
    import sys, time
    from localtask.store import Store
    store = Store(sys.argv[1], shared=True)
    store._acquire_shared()
    print("HELD", time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
    if len(sys.argv) > 3:  # change a task while still holding the lock (the lock is reentrant)
        store.update_task(sys.argv[3], name=sys.argv[4])
        print("UPDATED", time.time(), flush=True)
    store._lock.release()
    print("RELEASED", time.time(), flush=True)
    """


def add_task(store: Store, name: str = "t") -> str:
    task_id = os.urandom(16).hex()
    store.insert_task({"id": task_id, "project": "p", "name": name, "status": "created"})
    return task_id


def journal_mode(home: Path) -> str:
    conn = sqlite3.connect(str(home / DB_NAME))
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def open_db_fds(home: Path) -> int:
    """How many descriptors this process has open on the database file."""
    target = str(home / DB_NAME)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            pass
    return count


# --------------------------------------------------------------------------- detection
def findmnt_type(path: Path) -> str:
    proc = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if proc.returncode != 0:
        pytest.skip("findmnt is not available to cross-check /proc/mounts")
    return proc.stdout.strip()


def test_filesystem_type_read_from_proc_mounts(tmp_path):
    assert filesystem_type(Path("/proc")) == "proc"
    assert filesystem_type(Path("/proc/self/status")) == "proc"
    assert filesystem_type(tmp_path) == findmnt_type(tmp_path)
    assert filesystem_type(tmp_path / "not" / "there") == findmnt_type(tmp_path)


def test_filesystem_type_of_a_mount_whose_path_has_a_space(tmp_path):
    """/proc/mounts writes a space as \\040; the innermost mount wins over its parent's."""
    outer = filesystem_type(tmp_path)
    with small_tmpfs(tmp_path / "with space") as mount:
        (mount / "sub").mkdir()
        assert filesystem_type(mount) == "tmpfs"
        assert filesystem_type(mount / "sub") == "tmpfs"
        assert filesystem_type(tmp_path / "with space-not") == outer
        assert filesystem_type(tmp_path) == outer


@pytest.mark.parametrize("fstype, network", [
    ("nfs", True), ("nfs4", True), ("cifs", True), ("smb3", True), ("smbfs", True), ("lustre", True),
    ("gpfs", True), ("ceph", True), ("glusterfs", True), ("beegfs", True), ("9p", True), ("afs", True),
    ("fuse.sshfs", True), ("fuse.glusterfs", True), ("fuse.cephfs", True), ("fuse.s3fs", True),
    ("ext4", False), ("xfs", False), ("btrfs", False), ("tmpfs", False), ("overlay", False),
    ("zfs", False), ("fuse", False), ("fuse.portal", False), ("fuseblk", False), ("", False),
])
def test_network_filesystem_types(fstype, network):
    assert is_network_filesystem(fstype) is network


@pytest.mark.parametrize("fstype, forced, option, shared", [
    ("ext4", None, None, False),
    ("nfs4", None, None, True),
    ("fuse.sshfs", None, None, True),
    ("ext4", "1", None, True),
    ("ext4", "yes", None, True),
    ("ext4", "on", None, True),
    ("nfs", "0", None, False),      # forced off: the user knows better (a local cache mount...)
    ("nfs", "false", None, False),
    ("ext4", "", None, False),
    ("nfs", "1", False, False),     # the store option wins over the environment
    ("ext4", "0", True, True),
])
def test_shared_mode_detected_from_the_filesystem_or_forced(home, monkeypatch, fstype, forced, option,
                                                            shared):
    monkeypatch.setattr(store_mod, "filesystem_type", lambda path: fstype)
    if forced is None:
        monkeypatch.delenv("LOCALTASK_SHARED", raising=False)
    else:
        monkeypatch.setenv("LOCALTASK_SHARED", forced)
    store = Store(home, shared=option)
    assert store.shared is shared
    add_task(store)
    assert journal_mode(home) == ("delete" if shared else "wal")
    store.close()


def test_real_filesystem_detection_on_this_disk(home, monkeypatch):
    monkeypatch.delenv("LOCALTASK_SHARED", raising=False)
    home.mkdir()
    assert Store(home).shared is is_network_filesystem(filesystem_type(home))


# --------------------------------------------------------------------------- journal, connections
def test_shared_store_uses_the_rollback_journal_even_after_local_use(home):
    local = Store(home, shared=False)
    task_id = add_task(local, "first")
    assert journal_mode(home) == "wal"
    local.close()
    shared = Store(home, shared=True)
    assert shared.get_task(task_id)["name"] == "first"
    assert journal_mode(home) == "delete"
    assert not (home / (DB_NAME + "-wal")).exists()
    add_task(shared, "second")
    assert journal_mode(home) == "delete"
    assert shared.integrity_check() == "ok"


def test_shared_mode_keeps_no_connection_between_operations(home):
    shared = Store(home, shared=True)
    task_id = add_task(shared)
    shared.get_task(task_id)
    assert open_db_fds(home) == 0  # nothing cached: the next read sees the file as it is now
    local_home = home.parent / "local-home"
    local = Store(local_home, shared=False)
    local.get_task(add_task(local))
    assert open_db_fds(local_home) == 1  # local mode keeps its connection (and its WAL index)
    local.close()


def test_worker_polls_instead_of_file_events_in_shared_mode(home, monkeypatch):
    from localtask.worker import Worker

    monkeypatch.setenv("LOCALTASK_SHARED", "1")
    monkeypatch.setattr(Store, "_instances", {})
    assert Worker(home=home).use_events is False
    monkeypatch.setenv("LOCALTASK_SHARED", "0")
    monkeypatch.setattr(Store, "_instances", {})
    assert Worker(home=home).use_events is True


# --------------------------------------------------------------------------- the lock across hosts
def test_lock_claim_names_the_host_and_pid_of_its_holder(home):
    store = Store(home, shared=True, busy_timeout=0.5)
    holder = spawn_python(HOLDER, str(home), "60", host="node-b.cluster", env=child_env())
    try:
        read_line(holder, "HELD")
        held = [c for c in store._lock.claims if c.state == "held"]
        assert [(c.hostname, c.pid) for c in held] == [("node-b.cluster", holder.pid)]
        assert store.lock_holders() == f"node-b.cluster pid {holder.pid}"
        with pytest.raises(StoreLockedError, match=f"node-b.cluster pid {holder.pid}\\)"):
            store.count_tasks()
    finally:
        kill9(holder)


def test_lock_excludes_another_host_and_the_read_after_its_commit_is_fresh(home):
    """Host B holds the lock, changes a task, releases. Host A's read, started while B held
    the lock, waits for B and sees B's change: no overlap, no stale page."""
    store = Store(home, shared=True)
    task_id = add_task(store, "before")
    assert store.get_task(task_id)["name"] == "before"  # A has read the old value once
    holder = spawn_python(HOLDER, str(home), "1.5", task_id, "after", host="host-b", env=child_env())
    try:
        read_line(holder, "HELD")
        started = time.time()
        row = store.get_task(task_id)
        done = time.time()
        updated = float(read_line(holder, "UPDATED").split()[1])
        released = float(read_line(holder, "RELEASED").split()[1])
        assert row["name"] == "after"
        assert done >= released > updated >= started
        assert holder.wait(10) == 0
    finally:
        kill9(holder)


COUNTER = """
    import sys, time
    from pathlib import Path
    from localtask.store import Store
    store = Store(sys.argv[1], shared=True)
    counter = Path(sys.argv[1]) / "counter.txt"
    for _ in range(int(sys.argv[2])):
        store._acquire_shared()
        try:  # a read-modify-write that loses updates unless the lock excludes
            value = int(counter.read_text())
            time.sleep(0.001)
            counter.write_text(str(value + 1))
        finally:
            store._lock.release()
    print("DONE", flush=True)
    """


def test_lock_excludes_between_three_hosts(home):
    Store(home, shared=True)
    (home / "counter.txt").write_text("0")
    rounds = 60
    children = [spawn_python(COUNTER, str(home), str(rounds), host=f"host-{i}", env=child_env())
                for i in range(3)]
    try:
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
    finally:
        for child in children:
            kill9(child)
    assert int((home / "counter.txt").read_text()) == 3 * rounds


def test_killed_holder_on_this_host_is_broken_at_once(home):
    store = Store(home, shared=True, busy_timeout=30)
    task_id = add_task(store)
    holder = spawn_python(HOLDER, str(home), "600", env=child_env())
    read_line(holder, "HELD")
    kill9(holder)
    assert store._lock.claims  # the dead process's claim is still there ...
    started = time.monotonic()
    assert store.get_task(task_id)["id"] == task_id  # ... and the next operation proceeds
    assert time.monotonic() - started < 3
    assert store._lock.claims == ()
    add_task(store)
    assert store.integrity_check() == "ok"


def test_live_holder_on_this_host_is_never_broken(home):
    store = Store(home, shared=True, busy_timeout=1)
    task_id = add_task(store)
    holder = spawn_python(HOLDER, str(home), "600", env=child_env())
    try:
        read_line(holder, "HELD")
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            store.get_task(task_id)
        assert store.break_dead_locks() == 0
    finally:
        kill9(holder)


def test_killed_holder_on_another_host_is_broken_only_after_the_stale_age(home, monkeypatch):
    """Another host's pid cannot be probed from here (the same number may be a live local
    process, or none): its claim is broken by age only."""
    monkeypatch.setenv("LOCALTASK_LOCK_STALE_AFTER", "300")
    store = Store(home, shared=True, busy_timeout=1)
    task_id = add_task(store)
    holder = spawn_python(HOLDER, str(home), "600", host="far-away", env=child_env())
    claimed_at = float(read_line(holder, "HELD").split()[1])
    kill9(holder)  # the pid is now free on this machine: still not a proof for "far-away"
    with pytest.raises(StoreLockedError, match=f"far-away pid {holder.pid}"):
        store.get_task(task_id)
    assert store.break_dead_locks() == 0

    stale_after = 4.0
    monkeypatch.setenv("LOCALTASK_LOCK_STALE_AFTER", str(stale_after))
    store.busy_timeout = 30
    assert store.get_task(task_id)["id"] == task_id
    waited_since_claim = time.time() - claimed_at
    assert stale_after - 0.5 <= waited_since_claim < stale_after + 4
    assert store._lock.claims == ()


def test_killed_writer_mid_transaction_leaves_the_store_whole(home):
    """kill -9 inside a write transaction, lock held and journal hot: the next operation
    breaks the claim, SQLite rolls the journal back, nothing half-written is visible."""
    store = Store(home, shared=True)
    task_id = add_task(store, "kept")
    writer = spawn_python("""
        import sys, time
        from localtask.store import Store
        store = Store(sys.argv[1], shared=True)
        with store.transaction() as conn:
            conn.execute("UPDATE tasks SET name = 'half' WHERE id = ?", (sys.argv[2],))
            conn.execute("INSERT INTO queues(name, created) VALUES ('half-made', 0)")
            print("IN_TRANSACTION", flush=True)
            time.sleep(600)
        """, str(home), task_id, env=child_env())
    read_line(writer, "IN_TRANSACTION")
    assert (home / (DB_NAME + "-journal")).exists()
    kill9(writer)
    assert store.get_task(task_id)["name"] == "kept"
    assert "half-made" not in {q["name"] for q in store.queue_counts()}
    assert store.integrity_check() == "ok"


def test_task_api_across_hosts_in_forced_shared_mode(home, tmp_path):
    """A run recorded on host A, cloned and enqueued from host B, seen from A at once."""
    script = tmp_path / "rec" / "rec.py"
    script.parent.mkdir()
    script.write_text(FAKE_HOST_PRELUDE + "from localtask import Task\n"
                      "t = Task.init(project_name='p', task_name='n')\nprint('TASK_ID=' + t.id)\n")
    env = child_env(home, LOCALTASK_SHARED="1")
    rec = subprocess.run([sys.executable, str(script)], env={**env, "FAKE_HOSTNAME": "a"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert rec.returncode == 0, rec.stderr
    original = rec.stdout.split("TASK_ID=")[1].strip()
    other = spawn_python("""
        import sys
        from localtask import Task
        clone = Task.clone(sys.argv[1], name="from b")
        Task.enqueue(clone, "gpu")
        print("CLONE", clone.id, flush=True)
        """, original, host="b", env=env)
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    clone_id = out.split()[-1]
    store = Store(home, shared=True)
    row = store.get_task(clone_id)
    assert (row["status"], row["queue"], row["name"], row["parent"]) == ("queued", "gpu", "from b", original)
    assert store.get_task(original)["host"] == "a"
    assert Task.get_task(clone_id, home=home).status == "queued"


IN_CONTAINER = """
    import subprocess, sys, time
    from localtask import StoreLockedError
    from localtask.store import Store
    store = Store(sys.argv[1], shared=True, busy_timeout=3)
    holder = subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1], "600"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().startswith("HELD")
    holder.kill()
    holder.wait()
    started = time.monotonic()
    try:
        store.count_tasks()
        print("PROCEEDED", round(time.monotonic() - started, 2), flush=True)
    except StoreLockedError as exc:
        print("LOCKED", exc, flush=True)
    """


def test_dead_holder_in_the_same_container_is_broken_at_once(home):
    """In a container (its own pid namespace) filelock names the host 'name?pidns-...'; a
    claim of a dead process of this very container must still count as this host's."""
    import textwrap

    Store(home, shared=True)
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip("cannot create a pid namespace here (unshare needs root)")
    proc = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                           textwrap.dedent(IN_CONTAINER), str(home), textwrap.dedent(HOLDER)],
                          env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PROCEEDED"), proc.stdout
    assert float(proc.stdout.split()[1]) < 2
