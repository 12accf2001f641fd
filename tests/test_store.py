"""The store folder and its SQLite database: creation, versions, corruption, locking, ids."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from localtask import (
    AmbiguousTaskIdError,
    StoreCorruptError,
    StoreLockedError,
    StoreVersionError,
    Task,
    TaskNotFoundError,
)
from localtask.store import DB_NAME, SCHEMA_VERSION, Store, resolve_home


def raw(db_path):
    """A plain sqlite3 connection on the store's file, as another program would open it."""
    return sqlite3.connect(str(db_path), isolation_level=None)


def add_task(store: Store, task_id: str | None = None, **fields) -> str:
    task_id = task_id or uuid.uuid4().hex
    store.insert_task({"id": task_id, "project": "proj", "name": fields.pop("name", "t"),
                       "status": fields.pop("status", "created"), **fields})
    return task_id


#: the journal each access strategy puts the database in.
JOURNAL = {"local": "wal", "shared": "delete"}


@pytest.fixture(params=["local", "shared"])
def mode(request, monkeypatch):
    """Run a test against both access strategies: local (WAL, kept connections) and shared
    (rollback journal, a connection per operation under the cross-host lock file). Every
    ``Store(home)`` the test (or a process it starts) opens follows LOCALTASK_SHARED."""
    monkeypatch.setenv("LOCALTASK_SHARED", "1" if request.param == "shared" else "0")
    return request.param


def test_mode_fixture_selects_the_access_strategy(home, mode):
    from localtask.store import LocalAccess, SharedAccess

    store = Store(home)
    assert store.shared is (mode == "shared")
    assert type(store._access_strategy) is {"local": LocalAccess, "shared": SharedAccess}[mode]
    assert (store._lock is not None) is (mode == "shared")
    store.close()


def test_fresh_store_creates_database_and_private_folders(home, mode):
    store = Store(home)
    db = home / DB_NAME
    assert db.is_file()
    conn = raw(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == JOURNAL[mode]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"tasks", "parameters", "configurations", "queue_entries", "scalars", "artifacts",
            "workers"} <= tables
    for folder in (home, home / "tasks", home / "cache", home / "blobs"):
        assert folder.is_dir()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert store.home == home
    store.close()


def test_reopening_keeps_data_and_version(home, mode):
    first = Store(home)
    task_id = add_task(first, name="kept")
    first.close()
    second = Store(home)
    assert second.get_task(task_id)["name"] == "kept"
    assert second.count_tasks() == 1
    second.close()


def test_home_argument_wins_over_environment(tmp_path, monkeypatch, mode):
    from_env, from_arg = tmp_path / "from-env", tmp_path / "from-arg"
    monkeypatch.setenv("LOCALTASK_HOME", str(from_env))
    assert Store().home == from_env
    assert (from_env / DB_NAME).is_file()
    store = Store(home=from_arg)
    assert store.home == from_arg
    assert (from_arg / DB_NAME).is_file()
    assert Task.get_tasks(home=from_arg) == []


def test_default_home_is_the_user_data_folder(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("LOCALTASK_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert resolve_home() == tmp_path / "data" / "localtask"
    assert str(resolve_home()) == platformdirs.user_data_dir("localtask", appauthor=False)
    monkeypatch.setenv("LOCALTASK_HOME", "")  # empty means unset, not the current folder
    assert resolve_home() == tmp_path / "data" / "localtask"


def test_store_open_is_cached_per_folder(tmp_path, mode):
    a = Store.open(tmp_path / "a")
    assert Store.open(tmp_path / "a") is a
    assert Store.open(tmp_path / "b") is not a


def test_newer_schema_is_refused_and_file_left_alone(home, mode):
    Store(home).close()
    db = home / DB_NAME
    conn = raw(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreVersionError) as info:
        Store(home)
    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "newer localtask" in message and "Upgrade" in message
    assert db.read_bytes() == before
    conn = raw(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_corrupt_database_is_reported_and_not_modified(home, mode):
    home.mkdir()
    db = home / DB_NAME
    garbage = random.Random(1234).randbytes(64 * 1024)
    db.write_bytes(garbage)
    with pytest.raises(StoreCorruptError) as info:
        Store(home)
    assert str(db) in str(info.value)
    assert "did not modify it" in str(info.value)
    assert db.read_bytes() == garbage


def test_a_text_file_is_not_mistaken_for_a_store(home, mode):
    home.mkdir()
    db = home / DB_NAME
    db.write_text("this is not sqlite\n" * 100)
    with pytest.raises(StoreCorruptError):
        Store(home)
    assert db.read_text() == "this is not sqlite\n" * 100


LOCKER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE tasks SET comment = 'held by the locker'")
    print("locked", flush=True)
    sys.stdin.read()          # hold the write lock until the test closes our stdin
    conn.execute("ROLLBACK")
    print("released", flush=True)
""")


def test_write_past_busy_timeout_raises_locked_and_loses_nothing(home, mode):
    setup = Store(home)
    kept = add_task(setup, name="before the lock")
    setup.close()

    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(home / DB_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        store = Store(home, busy_timeout=0.2)
        blocked = uuid.uuid4().hex
        with pytest.raises(StoreLockedError) as info:
            add_task(store, blocked, name="during the lock")
        assert "locked by another process" in str(info.value)
        assert "0.2 s" in str(info.value)
        # Reads still work while another process writes (WAL; shared: a rollback journal whose
        # writer holds only a RESERVED lock until it commits).
        assert store.get_task(kept)["name"] == "before the lock"
    finally:
        locker.stdin.close()
        assert locker.stdout.readline().strip() == "released"
        locker.wait(timeout=10)
    assert locker.returncode == 0
    with pytest.raises(TaskNotFoundError):
        store.get_task(blocked)
    add_task(store, blocked, name="after the lock")  # the same write now succeeds
    names = sorted(t["name"] for t in store.find_tasks())
    assert names == ["after the lock", "before the lock"]
    assert store.get_task(kept)["comment"] == ""  # the locker's change was rolled back, not ours
    assert store.integrity_check() == "ok"
    store.close()


#: how many processes open each new store at once, and how many new stores they open.
OPENERS, ROUNDS = 8, {"local": 60, "shared": 8}


def _open_new_stores_together(homes, barrier, results):
    """One of the processes of the test below: at each barrier, open the next new store and
    write a task into it."""
    for home in homes:
        barrier.wait()
        try:
            add_task(Store.open(home), name=f"pid {os.getpid()}")
            results.put((home, "ok"))
        except Exception as exc:
            results.put((home, f"{type(exc).__name__}: {exc}"))


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path, mode):
    """Creating the schema and switching the journal while another process does the same gets
    SQLITE_BUSY at once, without the busy timeout's wait: it is retried, never an error."""
    homes = [str(tmp_path / f"store-{n}") for n in range(ROUNDS[mode])]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(OPENERS), spawn.Queue()
    openers = [spawn.Process(target=_open_new_stores_together, args=(homes, barrier, results))
               for _ in range(OPENERS)]
    for process in openers:
        process.start()
    try:
        outcomes = [results.get(timeout=120) for _ in range(OPENERS * len(homes))]
    finally:
        for process in openers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = sorted({outcome for _, outcome in outcomes if outcome != "ok"})
    assert errors == [], f"{len([o for o in outcomes if o[1] != 'ok'])} of {len(outcomes)} opens failed"
    for home in homes:
        store = Store(home)
        assert len(store.find_tasks()) == OPENERS
        assert store.integrity_check() == "ok"
        assert raw(store.db_path).execute("PRAGMA journal_mode").fetchone()[0] == JOURNAL[mode]
        store.close()


#: a process that holds the database in a transaction until the test closes its stdin:
#: ``exclusive`` (no one may even read) or ``writing`` (a write in progress: readers may read, and
#: SQLite fails at once, without its busy timeout's wait, a reader that then wants to write).
TRANSACTION_LOCKER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":
        conn.execute("BEGIN EXCLUSIVE")
    else:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE written_by_the_locker (x)")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
""")


@contextlib.contextmanager
def transaction_held(db_path, how: str, release_after: float | None = None):
    """Another process holds ``db_path`` in a transaction (see TRANSACTION_LOCKER) for the
    block, or until ``release_after`` seconds from now."""
    locker = subprocess.Popen([sys.executable, "-c", TRANSACTION_LOCKER, str(db_path), how],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    release = threading.Timer(release_after, locker.stdin.close) if release_after is not None else None
    try:
        assert locker.stdout.readline().strip() == "locked"
        if release is not None:
            release.start()
        yield
    finally:
        if release is not None:
            release.cancel()
        if not locker.stdin.closed:
            locker.stdin.close()
        locker.wait(timeout=10)


@pytest.mark.parametrize("how", ["exclusive", "writing"])
def test_new_store_locked_past_the_busy_timeout_says_how_long_it_waited(home, mode, how):
    home.mkdir()
    with transaction_held(home / DB_NAME, how):
        began = time.monotonic()
        with pytest.raises(StoreLockedError) as info:
            Store(home, busy_timeout=0.5)
        waited = time.monotonic() - began
    message = str(info.value)
    assert waited >= 0.5, message
    stated = re.search(r"gave up after ([0-9.]+) s \(busy timeout 0\.5 s", message)
    assert stated, message
    assert 0.5 <= float(stated.group(1)) <= waited + 0.05
    assert "Nothing was changed" in message
    store = Store(home, busy_timeout=0.5)  # the lock gone, the same store opens
    add_task(store)
    assert len(store.find_tasks()) == 1
    store.close()


@pytest.mark.parametrize("how", ["exclusive", "writing"])
def test_new_store_opens_once_another_transaction_ends(home, mode, how):
    home.mkdir()
    with transaction_held(home / DB_NAME, how, release_after=0.5):
        began = time.monotonic()
        store = Store(home, busy_timeout=10)
        waited = time.monotonic() - began
    assert waited >= 0.4
    add_task(store)
    assert len(store.find_tasks()) == 1
    assert raw(store.db_path).execute("PRAGMA journal_mode").fetchone()[0] == JOURNAL[mode]
    store.close()


def test_failed_transaction_rolls_back_everything(home, mode):
    store = Store(home)
    task_id = add_task(store)
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            conn.execute("UPDATE tasks SET name = 'changed' WHERE id = ?", (task_id,))
            raise RuntimeError("boom")
    assert store.get_task(task_id)["name"] == "t"
    store.close()


def test_shared_mode_uses_rollback_journal_and_lock_file(home):
    store = Store(home, shared=True)
    task_id = add_task(store, name="shared")
    assert store.get_task(task_id)["name"] == "shared"
    conn = raw(home / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    # The cross-host lock is held only during an access: another holder gets it at once.
    from filelock import StrictSoftFileLock

    other = StrictSoftFileLock(str(home / (DB_NAME + ".lock")), timeout=0)
    other.acquire()
    other.release()


# ------------------------------------------------------------------ id prefixes
@pytest.fixture
def id_store(home, mode):
    store = Store(home)
    ids = {
        "a": "abc0" + "0" * 28,
        "b": "abc1" + "1" * 28,
        "c": "f00d" + "2" * 28,
    }
    for key, task_id in ids.items():
        add_task(store, task_id, name=key)
    yield store, ids
    store.close()


@pytest.mark.parametrize("prefix, expected", [
    ("abc0", "a"), ("abc1", "b"), ("f", "c"), ("F00D", "c"), (" abc0 ", "a"),
    ("abc0" + "0" * 28, "a"),
])
def test_unique_prefix_resolves(id_store, prefix, expected):
    store, ids = id_store
    assert store.resolve_id(prefix) == ids[expected]
    assert Task.get_task(prefix, home=store.home).id == ids[expected]


def test_ambiguous_prefix_names_the_candidates(id_store):
    store, ids = id_store
    with pytest.raises(AmbiguousTaskIdError) as info:
        store.resolve_id("abc")
    message = str(info.value)
    assert "more than one task" in message
    assert ids["a"][:7] in message and ids["b"][:7] in message


@pytest.mark.parametrize("prefix", ["abd", "0", "abc2", "f00d" + "3" * 28])
def test_unknown_prefix_is_not_found(id_store, prefix):
    store, _ = id_store
    with pytest.raises(TaskNotFoundError) as info:
        store.resolve_id(prefix)
    assert type(info.value) is TaskNotFoundError
    assert "No task id starts with" in str(info.value)


@pytest.mark.parametrize("prefix", ["xyz", "abc-0", "", "   ", "a" * 33, "abc0'; DROP TABLE tasks; --"])
def test_non_hex_prefix_is_a_clear_error(id_store, prefix):
    store, _ = id_store
    with pytest.raises(TaskNotFoundError) as info:
        store.resolve_id(prefix)
    assert "is not a task id" in str(info.value)
    assert "32 hexadecimal characters" in str(info.value)
    assert store.count_tasks() == 3


def test_json_columns_round_trip(home, mode):
    store = Store(home)
    task_id = add_task(store, tags=["a", "ü"], script={"argv": ["--x", "1"]},
                       environment={"python": "3.x"})
    row = store.get_task(task_id)
    assert row["tags"] == ["a", "ü"]
    assert row["script"] == {"argv": ["--x", "1"]}
    assert row["environment"] == {"python": "3.x"}
    conn = raw(home / DB_NAME)
    assert json.loads(conn.execute("SELECT tags FROM tasks").fetchone()[0]) == ["a", "ü"]
    conn.close()
    store.close()


def test_unusable_home_is_a_clear_error(tmp_path):
    from localtask import StoreError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # mkdir below it fails, even for root
    with pytest.raises(StoreError, match="Cannot create the store folder .*LOCALTASK_HOME"):
        Store(blocker / "home")


# ------------------------------------------------------------------ claim
@pytest.mark.parametrize("returning", [True, False], ids=["returning", "sqlite-3.34"])
def test_claim_order_queues_priority_age_and_stray_rows(home, monkeypatch, returning, mode):
    if not returning:  # SQLite before 3.35 (RHEL 9, Ubuntu 20.04) has no RETURNING
        monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    store = Store(home)
    ids = {name: add_task(store, name=name) for name in ("a1", "a2", "a-urgent", "b1", "gone", "reset")}
    store.enqueue(ids["gone"], "alpha")
    store.enqueue(ids["a1"], "alpha")
    store.enqueue(ids["b1"], "beta")
    store.enqueue(ids["reset"], "alpha", priority=5)
    store.enqueue(ids["a2"], "alpha")
    store.enqueue(ids["a-urgent"], "alpha", priority=9)
    conn = raw(home / DB_NAME)  # two stray queue rows: their tasks are no longer queued
    conn.execute("UPDATE tasks SET status = 'created' WHERE id IN (?, ?)", (ids["gone"], ids["reset"]))
    conn.commit()
    conn.close()
    order = []
    while (row := store.claim("w", ["beta", "alpha"], host="h")) is not None:
        assert (row["status"], row["worker"], row["host"]) == ("in_progress", "w", "h")
        assert isinstance(row["script"], dict)
        order.append(row["name"])
    assert order == ["b1", "a-urgent", "a1", "a2"]
    assert store.queue_entries() == []  # the stray rows were dropped on the way
    assert {store.get_task(ids[n])["status"] for n in ("gone", "reset")} == {"created"}
    assert store.claim("w", ["alpha"]) is None and store.claim("w", []) is None
