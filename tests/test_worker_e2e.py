"""End-to-end worker tests with real worker processes: the CLI worker, kill -9, drain on
SIGTERM/SIGINT, 500 tasks on 4 workers, virtual environments built offline. Marked slow.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from helpers_worker import (
    cli,
    clone_and_enqueue,
    console,
    group_alive,
    make_repo,
    pid_alive,
    recorded_id,
    repo_state,
    results,
    run_burst_worker,
    run_script,
    seed_repo,
    start_worker_process,
    wait_for,
    wait_status,
    workdirs,
)
from localtask import Store, Task

pytestmark = pytest.mark.slow


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> int:
    """End a worker process this test started (SIGTERM, then SIGKILL); returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout)


def kill_group(pid: int | None) -> None:
    """Kill the process group of a task run whose worker is gone (it led its own group)."""
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def worker_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# A task that sleeps TASK_SLEEP seconds (the worker's environment, inherited by its tasks).
SLEEPY = """
    import os, sys, time
    from localtask import Task

    task = Task.init(project_name="e2e", task_name="sleepy")
    print("TASK_ID=" + task.id)
    if os.environ.get("LOCALTASK_TASK_ID"):
        print("started", flush=True)
        time.sleep(float(os.environ.get("TASK_SLEEP", "0")))
        print("RESULT done")
    """


def record_sleepy(tmp_path: Path, home: Path) -> str:
    repo = make_repo(tmp_path / "sleepy", {"sleepy.py": SLEEPY})
    return recorded_id(run_script(repo / "sleepy.py", home=home))


# --------------------------------------------------------------------------- seed workflow, CLI
def test_seed_workflow_through_the_cli(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = seed_repo(tmp_path / "repo")
    before = repo_state(repo)
    original = recorded_id(run_script(repo / "train.py", home=localtask_home))

    out = cli("clone", original[:12], "--set", "General/lr=0.5", "--set", "General/epochs=4",
              "--queue", "default", home=localtask_home)
    assert out.returncode == 0, out.stderr
    clone_id = re.search(r"Created task ([0-9a-f]{32})", out.stdout).group(1)
    log_file = tmp_path / "worker.log"
    worker = start_worker_process(localtask_home, "--burst", "--name", "cli-worker", "--poll-interval", "0.1",
                                  log=log_file)
    assert worker.wait(60) == 0, worker_log(log_file)

    row = store.get_task(clone_id)
    log = console(store, clone_id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert row["worker"] == "cli-worker"
    assert "unstaged change active; extra says untracked module here" in log
    reference = run_script(repo / "train.py", home=localtask_home, SEED_LR="0.5")
    expected = results(reference.stdout)[0].replace("epochs=3", "epochs=4").replace("score=15.0", "score=20.0")
    assert results(log) == [expected] == [
        "lr=0.5 epochs=4 epochs:int,lr:float,optimizer:str score=20.0 scale=10 bonus=7"]
    assert repo_state(repo) == before


# --------------------------------------------------------------------------- 6. lost workers
@pytest.mark.parametrize("requeue", [False, True], ids=["failed", "requeued"])
def test_task_of_killed_worker_is_failed_or_requeued(localtask_home, tmp_path, requeue):
    store = Store.open(localtask_home)
    clone = clone_and_enqueue(record_sleepy(tmp_path, localtask_home))
    lost_timeout = 2
    first = start_worker_process(localtask_home, "--name", "w1", "--lost-timeout", str(lost_timeout),
                                 "--poll-interval", "0.1", log=tmp_path / "w1.log", TASK_SLEEP="120")
    second = None
    pid = None
    try:
        wait_for(lambda: "started" in console(store, clone.id), 20, "w1 to run the task")
        row = store.get_task(clone.id)
        assert (row["status"], row["worker"]) == ("in_progress", "w1")
        pid = row["pid"]
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        killed_at = time.monotonic()
        # the task dies with its worker (PR_SET_PDEATHSIG): no orphan writes into a task that is
        # failed, or run again, by another worker
        wait_for(lambda: not pid_alive(pid), 5, "the killed worker's task to die with it")

        args = ["--name", "w2", "--lost-timeout", str(lost_timeout), "--poll-interval", "0.1"]
        second = start_worker_process(localtask_home, *args, *(["--requeue-lost"] if requeue else []),
                                      log=tmp_path / "w2.log", TASK_SLEEP="0")
        if requeue:
            row = wait_status(store, clone.id, {"completed", "failed"}, lost_timeout + 15)
            assert row["status"] == "completed", (row["status_reason"], console(store, clone.id))
            assert row["worker"] == "w2"
            log = console(store, clone.id)
            assert log.count("runs task") == 2 and results(log) == ["done"]
        else:
            row = wait_status(store, clone.id, {"failed", "completed"}, lost_timeout + 10)
            assert row["status"] == "failed"
            assert row["status_reason"] == "worker w1 lost"
            assert time.monotonic() - killed_at < lost_timeout + 6
        states = {w["name"]: w["state"] for w in store.list_workers()}
        assert states == {"w1": "lost", "w2": "running"}
        assert stop_process(second) == 0
        assert [w["name"] for w in store.list_workers()] == ["w1"]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        kill_group(pid)  # the orphaned run of the killed worker


def test_worker_restarted_under_its_name_after_a_crash(localtask_home, tmp_path):
    """Restarted at once (as systemd would) after kill -9, a worker takes its name back and
    fails the task its dead self was running, without waiting for the lost timeout (30 s)."""
    store = Store.open(localtask_home)
    task_id = record_sleepy(tmp_path, localtask_home)
    crashed = clone_and_enqueue(task_id, name="crashed")
    first = start_worker_process(localtask_home, "--name", "w1", "--poll-interval", "0.1",
                                 log=tmp_path / "w1.log", TASK_SLEEP="120")
    again = None
    pid = None
    try:
        wait_for(lambda: "started" in console(store, crashed.id), 20, "w1 to run the task")
        pid = store.get_task(crashed.id)["pid"]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        later = clone_and_enqueue(task_id, name="later")
        began = time.monotonic()
        again = start_worker_process(localtask_home, "--name", "w1", "--poll-interval", "0.1",
                                     log=tmp_path / "w1-again.log", TASK_SLEEP="0")
        row = wait_status(store, crashed.id, {"failed", "completed"}, 10)
        assert (row["status"], row["status_reason"]) == ("failed", "worker w1 lost")
        assert time.monotonic() - began < 10
        row = wait_status(store, later.id, {"completed", "failed"}, 15)
        assert (row["status"], row["worker"]) == ("completed", "w1")
        assert stop_process(again) == 0, worker_log(tmp_path / "w1-again.log")
    finally:
        for proc in (first, again):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        kill_group(pid)


# --------------------------------------------------------------------------- 7. drain / stop
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_first_signal_drains_the_worker(localtask_home, tmp_path, sig):
    store = Store.open(localtask_home)
    task_id = record_sleepy(tmp_path, localtask_home)
    running = clone_and_enqueue(task_id, name="running")
    waiting = clone_and_enqueue(task_id, name="waiting")
    log_file = tmp_path / "worker.log"
    # --lost-timeout 1.5: a heartbeat every 0.5 s, so that the draining state shows in time
    worker = start_worker_process(localtask_home, "--name", "drainer", "--poll-interval", "0.1",
                                  "--lost-timeout", "1.5", log=log_file, TASK_SLEEP="3")
    try:
        wait_for(lambda: "started" in console(store, running.id), 20, "the first task to start")
        os.kill(worker.pid, sig)
        wait_for(lambda: [w["state"] for w in store.list_workers()] == ["draining"], 2, "the draining state")
        assert worker.poll() is None, "the worker left before its running task ended"
        assert store.get_task(running.id)["status"] == "in_progress"
        code = worker.wait(15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, worker_log(log_file)
    row = store.get_task(running.id)
    assert row["status"] == "completed", (row["status_reason"], console(store, running.id))
    assert results(console(store, running.id)) == ["done"]
    assert store.get_task(waiting.id)["status"] == "queued"
    assert [e["task_id"] for e in store.queue_entries("default")] == [waiting.id]
    assert store.list_workers() == []


def test_second_signal_stops_running_tasks(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    task_id = record_sleepy(tmp_path, localtask_home)
    running = clone_and_enqueue(task_id, name="running")
    waiting = clone_and_enqueue(task_id, name="waiting")
    grace = 2
    log_file = tmp_path / "worker.log"
    worker = start_worker_process(localtask_home, "--name", "stopper", "--poll-interval", "0.1",
                                  "--grace", str(grace), log=log_file, TASK_SLEEP="120")
    pid = None
    try:
        wait_for(lambda: "started" in console(store, running.id), 20, "the first task to start")
        pid = store.get_task(running.id)["pid"]
        os.kill(worker.pid, signal.SIGTERM)
        time.sleep(0.3)
        os.kill(worker.pid, signal.SIGTERM)
        started = time.monotonic()
        code = worker.wait(grace + 10)
        took = time.monotonic() - started
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if pid and group_alive(pid):
            kill_group(pid)
            raise AssertionError("the stopped task's process group survived")
    assert code == 0, worker_log(log_file)
    assert took < grace + 3
    row = store.get_task(running.id)
    assert (row["status"], row["status_reason"]) == ("stopped", "worker stopped")
    assert "RESULT" not in console(store, running.id)
    assert not pid_alive(pid)
    assert store.get_task(waiting.id)["status"] == "queued"


# --------------------------------------------------------------------------- 8. exactly once
TICK = """
    import os, sys
    from localtask import Task

    task = Task.init(project_name="many", task_name="tick")
    print("TASK_ID=" + task.id)
    if os.environ.get("LOCALTASK_TASK_ID"):
        out = sys.argv[1]
        fd = os.open(os.path.join(out, "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, (task.id + "\\n").encode())
        os.close(fd)
        os.close(os.open(os.path.join(out, task.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    """


def test_500_tasks_on_4_workers_run_exactly_once(localtask_home, tmp_path):
    count, workers, slots = 500, 4, 2
    store = Store.open(localtask_home)
    out = tmp_path / "out"
    out.mkdir()
    repo = make_repo(tmp_path / "tick", {"tick.py": TICK})
    task_id = recorded_id(run_script(repo / "tick.py", str(out), home=localtask_home))

    began = time.monotonic()
    ids = [clone_and_enqueue(task_id).id for _ in range(count)]
    enqueued = time.monotonic() - began
    assert store.pending(["default"]) == count

    began = time.monotonic()
    procs = [start_worker_process(localtask_home, "--burst", "--slots", str(slots), "--name", f"many-{i}",
                                  "--poll-interval", "0.1", log=tmp_path / f"worker-{i}.log")
             for i in range(workers)]
    try:
        codes = [p.wait(600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    ran = time.monotonic() - began
    print(f"\n{count} tasks: cloned + enqueued in {enqueued:.1f} s; run by {workers} workers x {slots} "
          f"slots in {ran:.1f} s ({count / ran:.1f} tasks/s)")
    assert codes == [0] * workers, [worker_log(tmp_path / f"worker-{i}.log")[-2000:] for i in range(workers)]

    statuses = {}
    by_worker: dict[str, int] = {}
    for row in store.find_tasks(ids=ids):
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        by_worker[row["worker"]] = by_worker.get(row["worker"], 0) + 1
    assert statuses == {"completed": count}
    lines = (out / "runs.log").read_text().split()
    assert len(lines) == count  # no task ran twice ...
    assert sorted(lines) == sorted(ids)  # ... and none is missing
    assert sorted(p.name for p in out.iterdir() if p.name != "runs.log") == sorted(ids)
    assert store.pending(["default"]) == 0
    assert store.integrity_check() == "ok"
    assert workdirs(store) == []
    print(f"tasks per worker: {dict(sorted(by_worker.items()))}")


# --------------------------------------------------------------------------- 9. execute_remotely
def test_execute_remotely_picked_up_by_a_waiting_worker(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"remote.py": """
        from localtask import Task

        task = Task.init(project_name="remote", task_name="remote")
        params = task.connect({"n": 2})
        print("TASK_ID=" + task.id)
        task.execute_remotely(queue_name="gpu")
        print("remote-only", params["n"] * 21)
        """})
    worker = start_worker_process(localtask_home, "--queue", "gpu", "--name", "waiting",
                                  "--poll-interval", "5", log=tmp_path / "worker.log")
    try:
        wait_for(lambda: store.list_workers(), 20, "the worker to register")
        local = run_script(repo / "remote.py", home=localtask_home)
        task_id = recorded_id(local)
        assert "remote-only" not in local.stdout + local.stderr
        # woken by the queue's notification file, well before its 5 s poll
        row = wait_status(store, task_id, {"completed", "failed"}, 15)
        assert row["status"] == "completed", (row["status_reason"], console(store, task_id))
        assert "remote-only 42" in console(store, task_id)
    finally:
        assert stop_process(worker) == 0


# --------------------------------------------------------------------------- 10. env venv
def make_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel written by hand (no network, no build backend needed)."""
    dist = f"{name}-{version}.dist-info"
    entries = dict(files)
    entries[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    entries[f"{dist}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: localtask-tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n")
    record = []
    for path, text in entries.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    entries[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in entries.items():
            zf.writestr(path, text)
    return wheel


TINY = """
    import os, sys
    import tinypkg
    try:
        from localtask import Task
    except ModuleNotFoundError:  # a worker's venv built from the packages listed below
        print("localtask not installed here")
    else:
        print("TASK_ID=" + Task.init(project_name="venv", task_name="tiny").id)
    print("RESULT", tinypkg.__version__, tinypkg.answer(), sys.prefix)
    """


@pytest.fixture
def offline_pip(monkeypatch):
    """No pip configuration of this machine (extra indexes, find-links) reaches the worker's pip."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


def test_env_venv_built_offline_from_wheels_then_reused(localtask_home, tmp_path, offline_pip):
    store = Store.open(localtask_home)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinypkg", "0.3.1", {
        "tinypkg/__init__.py": "__version__ = '0.3.1'\n\ndef answer():\n    return 42\n"})
    # the recording run imports tinypkg from the unpacked wheel on PYTHONPATH (a pure-Python
    # wheel unpacked is an installed distribution), never from the worker's site-packages
    site = tmp_path / "site"
    with zipfile.ZipFile(wheels / "tinypkg-0.3.1-py3-none-any.whl") as zf:
        zf.extractall(site)
    repo = make_repo(tmp_path / "repo", {"tiny.py": TINY})
    direct = run_script(repo / "tiny.py", home=localtask_home, PYTHONPATH=str(site))
    task_id = recorded_id(direct)
    environment = store.get_task(task_id)["environment"]
    tiny = [p for p in environment["packages"] if p["name"] == "tinypkg"]
    assert tiny == [{"name": "tinypkg", "version": "0.3.1"}]

    # The venv gets tinypkg from the wheels and the worker's own localtask, linked (the recorded
    # editable localtask is never installed); this machine's other packages are left out.
    own = [p for p in environment["packages"] if p["name"] == "localtask"]
    assert own and own[0].get("editable"), environment["packages"]

    def enqueue_tiny() -> Task:
        clone = Task.clone(task_id)
        store.update_task(clone.id, environment={**environment, "packages": tiny + own})
        return Task.enqueue(clone)

    first = enqueue_tiny()
    began = time.monotonic()
    run_burst_worker(localtask_home, env="venv", wheels=str(wheels), timeout=240)
    build = time.monotonic() - began
    second = enqueue_tiny()
    began = time.monotonic()
    run_burst_worker(localtask_home, env="venv", wheels=str(wheels), timeout=120)
    reuse = time.monotonic() - began
    print(f"\nvenv: built and ran in {build:.2f} s; reused and ran in {reuse:.2f} s")

    venvs = [p for p in (store.cache_dir / "venvs").iterdir() if p.is_dir()]
    assert len(venvs) == 1
    for task, verb in ((first, "building"), (second, "reusing")):
        row = store.get_task(task.id)
        log = console(store, task.id)
        assert row["status"] == "completed", (row["status_reason"], log)
        assert f"localtask: {verb} environment {venvs[0]}" in log
        assert "localtask not installed here" not in log
        assert f"TASK_ID={task.id}" in log  # Task.init attached inside the venv
        assert results(log) == [f"0.3.1 42 {venvs[0]}"]
    second_log = console(store, second.id)
    assert "building environment" not in second_log and "pip" not in second_log
    assert reuse < build and reuse < 10


def test_env_venv_ordinary_task_runs_offline_with_the_workers_localtask(localtask_home, tmp_path,
                                                                        offline_pip):
    """A task recorded in the ordinary way lists localtask (an editable install from a path).
    Offline, pip could not build it (setuptools is not in the wheel folder): the worker links its
    own localtask into the venv instead, and the task runs attached to its row."""
    store = Store.open(localtask_home)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    repo = make_repo(tmp_path / "repo", {"job.py": "from localtask import Task\n"
                                                   "print('TASK_ID=' + Task.init().id)\n"})
    task_id = recorded_id(run_script(repo / "job.py", home=localtask_home))
    packages = store.get_task(task_id)["environment"]["packages"]
    localtask_pkg = [p for p in packages if p["name"] == "localtask"]
    assert localtask_pkg and localtask_pkg[0].get("editable"), packages
    clone = Task.clone(task_id)
    store.update_task(clone.id, environment={**store.get_task(task_id)["environment"],
                                             "packages": localtask_pkg})
    Task.enqueue(clone)
    run_burst_worker(localtask_home, env="venv", wheels=str(wheels), timeout=240)
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert "linked this worker's localtask" in log
    assert f"TASK_ID={clone.id}" in log
    assert "pip install" not in log  # nothing to install: localtask is linked, not installed


def test_ctrl_c_while_building_an_environment_drains(localtask_home, tmp_path, offline_pip):
    """Ctrl-C in a terminal reaches the worker's whole process group. The first one must drain:
    a task whose environment is being built still runs to the end."""
    store = Store.open(localtask_home)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinypkg", "0.3.1", {
        "tinypkg/__init__.py": "__version__ = '0.3.1'\n\ndef answer():\n    return 42\n"})
    site = tmp_path / "site"
    with zipfile.ZipFile(wheels / "tinypkg-0.3.1-py3-none-any.whl") as zf:
        zf.extractall(site)
    repo = make_repo(tmp_path / "repo", {"tiny.py": TINY})
    task_id = recorded_id(run_script(repo / "tiny.py", home=localtask_home, PYTHONPATH=str(site)))
    environment = store.get_task(task_id)["environment"]
    clone = Task.clone(task_id)
    store.update_task(clone.id, environment={
        **environment, "packages": [p for p in environment["packages"] if p["name"] == "tinypkg"]})
    Task.enqueue(clone)
    log_file = tmp_path / "worker.log"
    worker = start_worker_process(localtask_home, "--env", "venv", "--wheels", str(wheels), "--name", "venv-w",
                                  "--poll-interval", "0.1", log=log_file)
    try:
        wait_for(lambda: "building environment" in console(store, clone.id), 30, "the venv build to start")
        time.sleep(0.3)
        os.killpg(worker.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        code = worker.wait(120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert results(log) and results(log)[0].startswith("0.3.1 42 ")
    assert code == 0, worker_log(log_file)


def test_ctrl_c_while_caching_the_repository_drains(localtask_home, tmp_path):
    """The same while the worker clones the task's repository from a slow remote (an ssh remote
    served by a local git-upload-pack that takes 2 s to answer), the only place it is: the task
    was recorded in a working copy that is gone (as if recorded on another machine)."""
    store = Store.open(localtask_home)
    origin = tmp_path / "origin.git"
    repo = make_repo(tmp_path / "repo", {"job.py": SLEEPY})
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(origin)], check=True)
    slow_ssh = tmp_path / "slow-ssh"
    slow_ssh.write_text('#!/bin/sh\nsleep 2\nshift\nexec sh -c "$*"\n')  # ssh HOST COMMAND, run here
    slow_ssh.chmod(0o755)
    subprocess.run(["git", "remote", "add", "origin", f"ssh://slowhost{origin}"], cwd=repo, check=True)
    task_id = recorded_id(run_script(repo / "job.py", home=localtask_home))
    assert store.get_task(task_id)["script"]["repository"] == f"ssh://slowhost{origin}"
    repo.rename(tmp_path / "elsewhere")
    clone = clone_and_enqueue(task_id)
    log_file = tmp_path / "worker.log"
    worker = start_worker_process(localtask_home, "--name", "git-w", "--poll-interval", "0.1", log=log_file,
                                  GIT_SSH_COMMAND=str(slow_ssh))
    try:
        wait_for(lambda: "caching repository" in console(store, clone.id), 20, "the repository clone to start")
        time.sleep(0.5)
        os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        code = worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert results(log) == ["done"]
    assert log.count("caching repository") == 1
    assert code == 0, worker_log(log_file)
