"""Leftovers of killed runs: a worker that starts removes them and says so; ``localtask gc``
does it on demand, reports what it freed, and never touches what a live run uses."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
from filelock import FileLock

from localtask import Store, Task, leftovers, runner

from helpers_worker import (
    clone_and_enqueue, cli, console, start_worker_process, wait_for, workdirs,
)
from test_worker_e2e import record_sleepy

OLD = time.time() - 2 * leftovers.STALE_AGE


def _aged(path, when=OLD):
    os.utime(path, (when, when))
    return path


@pytest.mark.slow
def test_a_worker_starting_after_a_kill_removes_the_dead_runs_working_copy_and_says_so(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    clone = clone_and_enqueue(record_sleepy(tmp_path, localtask_home))
    first = start_worker_process(localtask_home, "--name", "w1", "--poll-interval", "0.1",
                                 log=tmp_path / "w1.log", TASK_SLEEP="120")
    try:
        wait_for(lambda: "started" in console(store, clone.id), 20, "w1 to run the task")
        pid = store.get_task(clone.id)["pid"]
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        wait_for(lambda: not _alive(pid), 5, "the task to die with its worker")
    finally:
        if first.poll() is None:
            first.kill()
    assert len(workdirs(store)) == 1  # the dead run's working copy is still there

    second = start_worker_process(localtask_home, "--name", "w1", "--burst", log=tmp_path / "w2.log")
    assert second.wait(60) == 0
    assert store.get_task(clone.id)["status"] == "failed"
    assert workdirs(store) == []
    said = (tmp_path / "w2.log").read_text()
    assert "removed leftovers of killed runs: 1 working copies of ended runs" in said


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def littered(localtask_home, tmp_path):
    """A store holding one leftover of each kind beside what live runs use."""
    store = Store.open(localtask_home)
    source = record_sleepy(tmp_path, localtask_home)
    running = Task.clone(source, name="running")
    running.mark_started(force=True)
    ended = Task.clone(source, name="ended")
    kept = Task.clone(source, name="kept")
    paths = {
        "live workdir": runner.make_workdir(store, running.id).parent,
        "dead workdir": runner.make_workdir(store, ended.id).parent,
        "kept workdir": runner.make_workdir(store, kept.id).parent,
    }
    (paths["dead workdir"] / "code").mkdir()
    (paths["dead workdir"] / "code" / "big.bin").write_bytes(b"x" * 50_000)
    (paths["kept workdir"] / leftovers.KEPT).touch()
    venvs = store.cache_dir / "venvs"
    paths["half venv"] = venvs / "half"
    paths["ready venv"] = venvs / "ready"
    paths["building venv"] = venvs / "building"
    for name in ("half", "ready", "building"):
        (venvs / name / "bin").mkdir(parents=True)
    (paths["ready venv"] / leftovers.READY).touch()
    artifacts = store.task_dir(ended.id, create=True) / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    paths["old temp"] = _aged(_write(artifacts / ".tmp-0123", b"partial"))
    paths["fresh temp"] = _write(artifacts / ".tmp-4567", b"being written")
    paths["old sample temp"] = _aged(_write(store.task_dir(ended.id) / "samples" / "a.png.tmp", b"x"))
    paths["mirror temp"] = _aged(_write(store.cache_dir / "git" / ".tmp-abc" / "HEAD", b"ref").parent)
    paths["orphan task folder"] = _aged(_write(store.tasks_dir / ("f" * 32) / "console.log", b"gone").parent)
    paths["fresh orphan folder"] = _write(store.tasks_dir / ("e" * 32) / "console.log", b"new").parent
    store.paths = paths
    store.ids = {"running": running.id, "ended": ended.id}
    return store


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


GONE = {"dead workdir", "half venv", "old temp", "old sample temp", "mirror temp", "orphan task folder"}


def test_gc_removes_each_kind_of_leftover_and_nothing_a_live_run_uses(littered):
    paths = littered.paths
    with FileLock(str(paths["building venv"]) + ".lock"):  # an environment being built right now
        dry = cli("gc", "--dry-run", "--json", home=littered.home)
        assert dry.returncode == 0, dry.stderr
        report = json.loads(dry.stdout)
        assert all(p.exists() for p in paths.values())  # a dry run removes nothing
        listed = {p for k in ("workdirs", "environments", "temp_files", "task_folders") for p in report[k]}
        assert listed == {str(paths[k]) for k in GONE}
        assert report["freed_bytes"] >= 50_000

        done = cli("gc", home=littered.home)
    assert done.returncode == 0, done.stderr
    assert {k for k, p in paths.items() if not p.exists()} == GONE
    assert "Removed: 1 working copies of ended runs, 1 half-built environments, 3 temporary files, " \
           "1 folders of deleted tasks" in done.stderr
    again = cli("gc", home=littered.home)  # its build lock released, unfinished: a leftover now
    assert "Removed: 1 half-built environments" in again.stderr and not paths["building venv"].exists()
    assert "nothing to remove" in cli("gc", home=littered.home).stderr

    assert cli("gc", "--all", home=littered.home).returncode == 0  # --all: the kept copy too
    assert not paths["kept workdir"].exists() and paths["live workdir"].exists()


def test_sweep_in_python_reports_sizes_and_honours_max_age(littered):
    swept = leftovers.sweep(littered, max_age=0, dry_run=True)
    names = {str(p) for p in swept.temp_files}
    assert str(littered.paths["fresh temp"]) in names  # max_age 0: even a fresh one
    assert str(littered.paths["fresh orphan folder"]) in {str(p) for p in swept.task_folders}
    assert swept.freed >= 50_000 and "KB" in swept.summary()
