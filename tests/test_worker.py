"""The worker, on real parts: real git repositories, real scripts run as subprocesses, real
process groups and signals. Each test takes a few seconds at most; the long end-to-end ones
(worker processes killed, drained, 500 tasks, venvs) are in test_worker_e2e.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from helpers_worker import (
    WorkerThread,
    child_env,
    cli,
    clone_and_enqueue,
    console,
    git,
    group_alive,
    make_repo,
    pid_alive,
    recorded_id,
    repo_state,
    results,
    run_burst_worker,
    run_to_completion,
    run_script,
    seed_repo,
    wait_for,
    wait_status,
    workdirs,
    write,
)
from localtask import LocaltaskError, Store, Task
from localtask.worker import Worker

# --------------------------------------------------------------------------- scripts
MINIMAL = "from localtask import Task\nprint('TASK_ID=' + Task.init().id)\n"

# A script that announces itself, then waits for a gate file (argv[1]) to exist.
GATED = """
    import os, sys, time
    from localtask import Task

    task = Task.init(project_name="gate", task_name="gated")
    print("TASK_ID=" + task.id)
    print("waiting for the gate", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    gate = sys.argv[1] if len(sys.argv) > 1 else ""
    deadline = time.time() + 20
    while gate and os.environ.get("LOCALTASK_TASK_ID") and not os.path.exists(gate):
        if time.time() > deadline:
            sys.exit("gate never opened")
        time.sleep(0.02)
    print("gate passed")
    """


def record(tmp_path: Path, home: Path, body: str, *args: str, **env: str) -> str:
    """Write ``body`` as job.py in a fresh git repository, run it directly with ``args``, and
    return the recorded task id."""
    folder = make_repo(tmp_path / "src", {"job.py": body})
    return recorded_id(run_script(folder / "job.py", *args, home=home, **env))


# --------------------------------------------------------------------------- 1. seed workflow
def test_seed_workflow_clone_edit_enqueue_run(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = seed_repo(tmp_path / "repo")
    before = repo_state(repo)

    direct = run_script(repo / "train.py", home=localtask_home)
    original_id = recorded_id(direct)
    assert results(direct.stdout) == [
        "lr=0.1 epochs=3 epochs:int,lr:float,optimizer:str score=3.0000000000000004 scale=10 bonus=7"]
    assert store.get_task(original_id)["status"] == "completed"
    assert store.get_task(original_id)["script"]["diff_files"] == ["extra.py", "model.py", "train.py"]

    clone = clone_and_enqueue(original_id, {"General/lr": 0.5})
    assert store.get_task(clone.id)["status"] == "queued"
    run_burst_worker(localtask_home)

    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert row["worker"] == "test-worker"
    # the staged, unstaged and untracked changes all took effect
    assert "unstaged change active; extra says untracked module here" in log
    # the edited value was used, with its type
    reference = run_script(repo / "train.py", home=localtask_home, SEED_LR="0.5")
    assert reference.returncode == 0, reference.stderr
    assert results(log) == results(reference.stdout) == [
        "lr=0.5 epochs=3 epochs:int,lr:float,optimizer:str score=15.0 scale=10 bonus=7"]
    assert clone.get_parameters()["General/lr"] == 0.5
    # the run attached to the clone: no task was created for it
    assert f"TASK_ID={clone.id}" in log
    assert len(store.find_tasks(project="seed")) == 3  # original, clone, reference run
    # nothing of the user's repository changed, not even the staging area
    assert repo_state(repo) == before
    assert workdirs(store) == []  # removed after the successful run


# --------------------------------------------------------------------------- 2. argparse
ARGPARSE_SCRIPT = """
    import argparse
    from localtask import Task

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--act", default="relu")
    parser.add_argument("--dropout", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2])
    if INIT_FIRST:
        task = Task.init(project_name="argp", task_name="train")
        args = parser.parse_args()
    else:
        args = parser.parse_args()
        task = Task.init(project_name="argp", task_name="train")
    print("TASK_ID=" + task.id)
    kinds = " ".join(f"{k}={v!r}:{type(v).__name__}" for k, v in sorted(vars(args).items()))
    print("RESULT", kinds, "product", args.lr * args.layers)
    """


@pytest.mark.parametrize("init_first", [True, False], ids=["init-then-parse", "parse-then-init"])
def test_argparse_edited_args_keep_their_types(localtask_home, tmp_path, init_first):
    store = Store.open(localtask_home)
    body = ARGPARSE_SCRIPT.replace("INIT_FIRST", str(init_first))
    repo = make_repo(tmp_path / "repo", {"train.py": body})
    task_id = recorded_id(run_script(repo / "train.py", "--lr", "0.1", "--layers", "2", home=localtask_home))
    assert Task.get_task(task_id).get_parameters_as_dict()["Args"] == {
        "lr": 0.1, "layers": 2, "act": "relu", "dropout": False, "sizes": [1, 2]}

    # edited as a user would from the command line: strings, parsed as the recorded types
    clone = clone_and_enqueue(task_id, {"Args/lr": "0.5", "Args/layers": "4", "Args/dropout": "true",
                                        "Args/sizes": "[8, 16, 32]"})
    edited = {"lr": 0.5, "layers": 4, "act": "relu", "dropout": True, "sizes": [8, 16, 32]}
    assert clone.get_parameters_as_dict()["Args"] == edited
    run_burst_worker(localtask_home)

    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    reference = run_script(repo / "train.py", "--lr", "0.5", "--layers", "4", "--dropout",
                           "--sizes", "8", "16", "32", home=localtask_home)
    assert reference.returncode == 0, reference.stderr
    assert results(log) == results(reference.stdout) == [
        "act='relu':str dropout=True:bool layers=4:int lr=0.5:float sizes=[8, 16, 32]:list product 2.0"]
    # the run recorded the values it used, types intact
    assert clone.get_parameters_as_dict()["Args"] == edited


def test_connect_dict_of_every_type_edited_on_clone(localtask_home, tmp_path):
    body = """
        from localtask import Task

        task = Task.init(project_name="types", task_name="types")
        print("TASK_ID=" + task.id)
        params = {"lr": 0.1, "epochs": 3, "amp": False, "layers": [64, 32], "opt": {"name": "sgd", "m": 0.9},
                  "note": None, "name": "base"}
        task.connect(params)
        for key in sorted(params):
            print("RESULT", key, repr(params[key]), type(params[key]).__name__)
        """
    clone = Task.clone(record(tmp_path, localtask_home, body))
    clone.update_parameters({"General/lr": "0.25", "General/epochs": 7, "General/amp": "true",
                             "General/layers": [128, 64, 32], "General/opt": {"name": "adam", "beta": 0.99},
                             "General/name": "edited"})
    Task.enqueue(clone)
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == [
        "amp True bool",
        "epochs 7 int",
        "layers [128, 64, 32] list",
        "lr 0.25 float",
        "name 'edited' str",
        "note None NoneType",
        "opt {'name': 'adam', 'beta': 0.99} dict",
    ]


# --------------------------------------------------------------------------- 3. configuration
CONFIG_SCRIPT = """
    import json, sys
    from pathlib import Path
    from localtask import Task

    task = Task.init(project_name="conf", task_name="train")
    print("TASK_ID=" + task.id)
    cfg = {"model": {"width": 8, "act": "relu"}, "seed": 1}
    returned = task.connect_configuration(cfg, name="model_cfg")
    assert returned is cfg
    text_path = task.connect_configuration(Path(sys.argv[1]), name="notes")
    print("RESULT", json.dumps(cfg, sort_keys=True))
    print("RESULT", repr(Path(text_path).read_text()))
    """


def test_connect_configuration_edited_on_clone(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"train.py": CONFIG_SCRIPT, "notes.txt": "layers: 2\n"})
    direct = run_script(repo / "train.py", str(repo / "notes.txt"), home=localtask_home)
    task_id = recorded_id(direct)
    assert results(direct.stdout) == ['{"model": {"act": "relu", "width": 8}, "seed": 1}', "'layers: 2\\n'"]

    clone = Task.clone(task_id)
    edited = {"model": {"width": 32, "act": "gelu", "depth": 3}, "seed": 7}
    clone.set_configuration_object("model_cfg", config_dict=edited)
    clone.set_configuration_object("notes", config_text="layers: 12\n")
    Task.enqueue(clone)
    run_burst_worker(localtask_home)

    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert results(log) == [json.dumps(edited, sort_keys=True), "'layers: 12\\n'"]
    assert clone.get_configuration_object_as_dict("model_cfg") == edited
    assert (repo / "notes.txt").read_text() == "layers: 2\n"


# --------------------------------------------------------------------------- running
def test_run_attaches_and_streams_console(localtask_home, tmp_path):
    """LOCALTASK_TASK_ID / LOCALTASK_HOME are set, Task.init attaches, and stdout/stderr reach
    the console while the task is still running."""
    store = Store.open(localtask_home)
    body = GATED + """
    print("ENV", os.environ.get("LOCALTASK_TASK_ID"), os.environ.get("LOCALTASK_HOME"), task.id)
    """
    gate = tmp_path / "gate"
    task_id = record(tmp_path, localtask_home, body, str(gate))
    clone = clone_and_enqueue(task_id)
    count = store.count_tasks()
    runner = WorkerThread(localtask_home).start()
    try:
        log = wait_for(lambda: "to stderr" in console(store, clone.id) and console(store, clone.id), 15,
                       "the running task's output in its console")
        assert store.get_task(clone.id)["status"] == "in_progress"
        assert "waiting for the gate" in log and "gate passed" not in log
    finally:
        gate.touch()
        runner.join()
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert f"ENV {clone.id} {store.home} {clone.id}" in log
    assert store.count_tasks() == count


def test_list_workers_while_running(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    gate = tmp_path / "gate"
    clone = clone_and_enqueue(record(tmp_path, localtask_home, GATED, str(gate)))
    runner = WorkerThread(localtask_home, name="lister", slots=3, queues=["default", "other"],
                          heartbeat_interval=0.2).start()
    try:
        wait_status(store, clone.id, "in_progress", 15)
        workers = store.list_workers()
        assert [(w["name"], w["host"], w["pid"], w["queues"], w["slots"], w["state"], w["tasks"])
                for w in workers] == [
            ("lister", socket.gethostname(), os.getpid(), ["default", "other"], 3, "running", [clone.id])]
        # heartbeats: the worker's row and its task's last update move on while it runs
        beat, update = workers[0]["last_heartbeat"], store.get_task(clone.id)["last_update"]
        wait_for(lambda: store.list_workers()[0]["last_heartbeat"] > beat + 0.3
                 and store.get_task(clone.id)["last_update"] > update + 0.3, 5, "two heartbeats")
    finally:
        gate.touch()
        runner.join()
    assert store.list_workers() == []  # a worker that exits leaves the table


def test_slots_run_tasks_at_the_same_time(localtask_home, tmp_path):
    """Two tasks that each wait until both have started can only finish with two slots."""
    store = Store.open(localtask_home)
    meet = tmp_path / "meet"
    meet.mkdir()
    body = """
        import os, sys, time
        from localtask import Task

        task = Task.init(project_name="slots", task_name="meet")
        print("TASK_ID=" + task.id)
        if os.environ.get("LOCALTASK_TASK_ID"):
            open(os.path.join(sys.argv[1], task.id), "w").close()
            deadline = time.time() + 10
            while len(os.listdir(sys.argv[1])) < 2:
                if time.time() > deadline:
                    sys.exit("alone")
                time.sleep(0.02)
        """
    task_id = record(tmp_path, localtask_home, body, str(meet))
    clones = [clone_and_enqueue(task_id) for _ in range(2)]
    run_burst_worker(localtask_home, slots=2)
    assert [store.get_task(c.id)["status"] for c in clones] == ["completed", "completed"]
    assert sorted(os.listdir(meet)) == sorted(c.id for c in clones)


def test_work_once_claims_up_to_the_free_slots(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    task_id = record(tmp_path, localtask_home, MINIMAL)
    clones = [clone_and_enqueue(task_id) for _ in range(3)]
    worker = Worker(home=localtask_home, slots=2, name="stepper", poll_interval=0.05)

    assert worker.work_once() == 2
    assert sorted(worker.running) == sorted(c.id for c in clones[:2])
    assert store.get_task(clones[2].id)["status"] == "queued"
    assert worker.work_once() == 0  # no free slot
    wait_for(lambda: not worker.running, 15, "the first two tasks to end")
    assert worker.work_once() == 1
    wait_for(lambda: not worker.running, 15, "the third task to end")
    assert worker.work_once() == 0
    assert [store.get_task(c.id)["status"] for c in clones] == ["completed"] * 3
    assert {store.get_task(c.id)["worker"] for c in clones} == {"stepper"}


def test_worker_queue_order_and_other_queues_untouched(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    task_id = record(tmp_path, localtask_home, MINIMAL)
    low = clone_and_enqueue(task_id, queue="low", name="low")
    high = clone_and_enqueue(task_id, queue="high", name="high")
    elsewhere = clone_and_enqueue(task_id, queue="elsewhere", name="elsewhere")
    run_burst_worker(localtask_home, queues=["high", "low"])
    assert store.get_task(high.id)["started"] < store.get_task(low.id)["started"]
    assert [store.get_task(t.id)["status"] for t in (high, low, elsewhere)] == ["completed", "completed", "queued"]


@pytest.mark.parametrize("kwargs, message", [
    ({"slots": 0}, "slots must be at least 1"),
    ({"env": "conda"}, "env must be 'current' or 'venv'"),
    ({"queues": ["bad name"]}, "Invalid queue name"),
])
def test_worker_rejects_bad_settings(localtask_home, kwargs, message):
    with pytest.raises(LocaltaskError, match=message):
        Worker(home=localtask_home, **kwargs)


# --------------------------------------------------------------------------- 4. failures
def test_diff_that_no_longer_applies_fails_with_gits_message(localtask_home, tmp_path):
    """Task A was recorded at commit C1 with a change to settings.py; its clone is given the
    (real) diff of task B, recorded against a later commit where settings.py had changed: git
    cannot apply it to C1."""
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {
        "settings.py": "A = 1\n",
        "main.py": "import settings\nfrom localtask import Task\n"
                   "print('TASK_ID=' + Task.init().id)\nprint('RESULT', settings.A)\n"})
    write(repo / "settings.py", "A = 2\n")
    task_a = recorded_id(run_script(repo / "main.py", home=localtask_home))
    write(repo / "settings.py", "A = 5\n")
    git("commit", "-qam", "A = 5", cwd=repo)
    write(repo / "settings.py", "A = 6\n")
    task_b = recorded_id(run_script(repo / "main.py", home=localtask_home))
    assert store.get_task(task_a)["script"]["commit"] != store.get_task(task_b)["script"]["commit"]

    clone = Task.clone(task_a)
    store.update_task(clone.id, code=store.get_code(task_b))
    Task.enqueue(clone)
    run_burst_worker(localtask_home)

    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    commit_a = store.get_task(task_a)["script"]["commit"]
    assert row["status_reason"].startswith(f"The recorded diff no longer applies to commit {commit_a[:12]}")
    assert "settings.py" in row["status_reason"] and "patch" in row["status_reason"]
    assert "no longer applies" in console(store, clone.id)
    assert "RESULT" not in console(store, clone.id)


@pytest.mark.parametrize("tail, expected_reason, expected_line", [
    ("raise ValueError('boom 42')", "exit code 1", "ValueError: boom 42"),
    ("sys.exit(3)", "exit code 3", None),
    ("print('bad input', file=sys.stderr); os._exit(7)", "exit code 7", "bad input"),
    ("import signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9", None),
])
def test_failing_script_fails_with_exit_code_and_stderr_tail(localtask_home, tmp_path, tail,
                                                            expected_reason, expected_line):
    store = Store.open(localtask_home)
    body = ("import os, sys\nfrom localtask import Task\ntask = Task.init()\nprint('TASK_ID=' + task.id)\n"
            "if os.environ.get('LOCALTASK_TASK_ID'):\n    print('about to fail')\n    " + tail + "\n")
    clone = clone_and_enqueue(record(tmp_path, localtask_home, body))
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    first, _, rest = row["status_reason"].partition("\n")
    assert first == expected_reason
    if expected_line:
        assert expected_line in rest.splitlines()
    assert "about to fail" in console(store, clone.id)
    assert f"task {clone.id} failed: {expected_reason}" in console(store, clone.id)


def test_console_keeps_the_order_of_stdout_and_stderr_as_a_terminal_shows(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    body = ("import os, sys\nfrom localtask import Task\ntask = Task.init()\nprint('TASK_ID=' + task.id)\n"
            "if os.environ.get('LOCALTASK_TASK_ID'):\n"
            "    for i in range(300):\n"
            "        print('out', i)\n"
            "        print('err', i, file=sys.stderr)\n"
            # a burst on stdout right before the traceback: two pipes read by two threads
            # let the traceback overtake it
            "    print('\\n'.join(f'burst {j}' for j in range(20000)))\n"
            "    print('last words before the error')\n"
            "    raise RuntimeError('the end')\n")
    clone = clone_and_enqueue(record(tmp_path, localtask_home, body))
    run_burst_worker(localtask_home)
    assert store.get_task(clone.id)["status"] == "failed"
    lines = console(store, clone.id).splitlines()
    mine = [line for line in lines if line.startswith(("out ", "err ", "burst ", "last words",
                                                        "Traceback", "RuntimeError"))]
    expected = [f"{kind} {i}" for i in range(300) for kind in ("out", "err")]
    expected += [f"burst {j}" for j in range(20000)]
    assert mine[:len(expected)] == expected
    assert mine[len(expected):] == ["last words before the error", "Traceback (most recent call last):",
                                    "RuntimeError: the end"]
    # the failure's reason quotes the end of the output, the error last
    assert store.get_task(clone.id)["status_reason"].splitlines()[-1] == "RuntimeError: the end"


def row_is_final(store: Store, task_id: str) -> bool:
    return store.get_task(task_id)["status"] in ("completed", "failed", "stopped")


SLEEPER = """
    import os, signal, subprocess, sys, time
    from localtask import Task

    task = Task.init(project_name="abort", task_name="sleeper")
    print("TASK_ID=" + task.id)
    if os.environ.get("LOCALTASK_TASK_ID"):
        if sys.argv[1] == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # a grandchild in the same process group, holding the task's output; with "stubborn-child"
        # the task dies at SIGTERM but its child does not
        ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if sys.argv[1] == "stubborn-child" else ""
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; " + ignore +
                                  "print('child ready', flush=True); time.sleep(120)"])
        print("sleeping, child", child.pid, flush=True)
        time.sleep(120)
    """


@pytest.mark.parametrize("how, behaviour", [
    ("api", "polite"), ("api", "stubborn"), ("api", "stubborn-child"), ("cli", "polite")])
def test_abort_running_task_kills_its_process_group(localtask_home, tmp_path, how, behaviour):
    store = Store.open(localtask_home)
    clone = clone_and_enqueue(record(tmp_path, localtask_home, SLEEPER, behaviour))
    grace = 1.5
    runner = WorkerThread(localtask_home, grace=grace).start()
    pid = None
    try:
        wait_for(lambda: "child ready" in console(store, clone.id), 15, "the task and its child to start")
        pid = store.get_task(clone.id)["pid"]
        assert pid and pid_alive(pid) and group_alive(pid)
        started = time.monotonic()
        if how == "api":
            assert Task.get_task(clone.id).abort() == "in_progress"  # its worker stops it
        else:
            out = cli("abort", clone.id[:10], home=localtask_home)
            assert out.returncode == 0, out.stderr
            assert "its worker will stop it" in out.stdout
        row = wait_status(store, clone.id, {"stopped", "failed", "completed"}, grace + 5)
        took = time.monotonic() - started
    finally:
        if pid and group_alive(pid) and not row_is_final(store, clone.id):
            os.killpg(pid, signal.SIGKILL)  # the test failed: leave no sleeper behind
        runner.join(grace + 10)
    assert row["status"] == "stopped"
    assert row["status_reason"] == "aborted by user"
    assert took < grace + 3
    if behaviour == "stubborn":
        assert took >= grace * 0.9  # it ignored SIGTERM: SIGKILL came after the grace period
    assert not pid_alive(pid)
    wait_for(lambda: not group_alive(pid), 5, "the task's process group to be gone")
    assert f"task {clone.id} stopped: aborted by user" in console(store, clone.id)


def test_processes_left_behind_do_not_keep_the_task_running(localtask_home, tmp_path, monkeypatch):
    """A task that exits while a child it started still holds its stdout open ends at once
    (completed), and that child is ended with it."""
    store = Store.open(localtask_home)
    body = """
        import os, subprocess
        from localtask import Task

        task = Task.init()
        print("TASK_ID=" + task.id)
        if os.environ.get("LOCALTASK_TASK_ID"):
            child = subprocess.Popen(["sleep", "120"])
            with open(os.path.join(os.environ["CHILD_PIDS"], str(child.pid)), "w"):
                pass
            print("main done", flush=True)
        """
    pids = tmp_path / "pids"
    pids.mkdir()
    clone = clone_and_enqueue(record(tmp_path, localtask_home, body))
    monkeypatch.setenv("CHILD_PIDS", str(pids))  # the worker's environment reaches its tasks
    began = time.monotonic()
    run_burst_worker(localtask_home, timeout=30)
    took = time.monotonic() - began
    row = store.get_task(clone.id)
    assert row["status"] == "completed", (row["status_reason"], console(store, clone.id))
    assert took < 10
    (child_pid,) = [int(p.name) for p in pids.iterdir()]
    wait_for(lambda: not pid_alive(child_pid), 5, "the left-behind child to be gone")
    assert "main done" in console(store, clone.id)


@pytest.mark.parametrize("kind", ["detached", "quiet"])
def test_processes_outside_the_output_do_not_keep_the_task_running(localtask_home, tmp_path, monkeypatch,
                                                                   kind):
    """detached: a child in a session of its own holds the task's stdout (it cannot be killed
    with the group): the task still ends at once. quiet: a child in the task's group that
    ignores SIGTERM and writes nowhere is ended when the task ends."""
    store = Store.open(localtask_home)
    body = """
        import os, signal, subprocess, sys
        from localtask import Task

        task = Task.init()
        print("TASK_ID=" + task.id)
        if os.environ.get("LOCALTASK_TASK_ID"):
            if sys.argv[1] == "detached":
                child = subprocess.Popen(["sleep", "30"], start_new_session=True)
            else:
                child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                          "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(os.environ["CHILD_PIDS"], str(child.pid)), "w"):
                pass
            print("main done", flush=True)
        """
    pids = tmp_path / "pids"
    pids.mkdir()
    clone = clone_and_enqueue(record(tmp_path, localtask_home, body, kind))
    monkeypatch.setenv("CHILD_PIDS", str(pids))
    began = time.monotonic()
    run_burst_worker(localtask_home, timeout=30)
    took = time.monotonic() - began
    row = store.get_task(clone.id)
    assert row["status"] == "completed", (row["status_reason"], console(store, clone.id))
    assert took < 10
    (child_pid,) = [int(p.name) for p in pids.iterdir()]
    try:
        if kind == "quiet":
            wait_for(lambda: not pid_alive(child_pid), 5, "the task's quiet child to be gone")
        else:
            assert "not waiting for it" in console(store, clone.id)
    finally:
        if pid_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


@pytest.mark.parametrize("keep, fails, kept", [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_workdirs_removed_unless_kept_on_failure(localtask_home, tmp_path, keep, fails, kept):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {
        "job.py": "import os, sys\nfrom localtask import Task\nprint('TASK_ID=' + Task.init().id)\n"
                  "import helper\nsys.exit(helper.CODE if os.environ.get('LOCALTASK_TASK_ID') else 0)\n"})
    write(repo / "helper.py", f"CODE = {1 if fails else 0}\n")  # untracked: reaches the run via the diff
    clone = clone_and_enqueue(recorded_id(run_script(repo / "job.py", home=localtask_home)))
    run_burst_worker(localtask_home, keep_workdirs=keep)
    assert store.get_task(clone.id)["status"] == ("failed" if fails else "completed")
    left = workdirs(store)
    if kept:
        assert len(left) == 1 and left[0].name.startswith(clone.id[:12])
        code = left[0] / "code"
        assert (code / "helper.py").read_text() == "CODE = 1\n"
        assert (code / "job.py").read_bytes() == (repo / "job.py").read_bytes()
        assert (left[0] / ".keep").exists()  # marked: 'localtask gc' leaves it unless --all
    else:
        assert left == []


def test_task_without_runnable_script_fails_with_reason(localtask_home, tmp_path):
    """A task created interactively (python -c) has no entry point to run."""
    store = Store.open(localtask_home)
    proc = subprocess.run([sys.executable, "-c", "from localtask import Task; print('TASK_ID=' + Task.init().id)"],
                          cwd=tmp_path, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    clone = clone_and_enqueue(recorded_id(proc))
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert "no runnable script" in row["status_reason"]


# --------------------------------------------------------------------------- code rebuilding
BINARY = bytes(range(256)) * 4


@pytest.mark.parametrize("cwd", [".", "src"])
def test_binary_changes_and_working_directory_reproduced(localtask_home, tmp_path, cwd):
    """A committed binary file modified, an untracked binary file, an entry point in a
    sub-folder and a run started from the repository root or that sub-folder."""
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"src/train.py": """
        import hashlib, os
        from pathlib import Path
        from localtask import Task

        task = Task.init(project_name="bin", task_name="bin")
        print("TASK_ID=" + task.id)
        data = Path(__file__).resolve().parent.parent / "data"
        digest = [hashlib.sha256((data / n).read_bytes()).hexdigest()[:16] for n in ("weights.bin", "new.bin")]
        print("RESULT", Path.cwd().name, *digest)
        """})
    (repo / "data").mkdir()
    (repo / "data" / "weights.bin").write_bytes(BINARY)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "weights", cwd=repo)
    (repo / "data" / "weights.bin").write_bytes(BINARY[::-1] + b"\0\xff")  # modified, unstaged
    (repo / "data" / "new.bin").write_bytes(b"\0\1\2\xfe" * 100)  # untracked
    direct = run_script(repo / "src" / "train.py", home=localtask_home, cwd=repo / cwd)
    task_id = recorded_id(direct)
    assert store.get_task(task_id)["script"]["working_dir"] == cwd
    assert store.get_task(task_id)["script"]["entry_point"] == "src/train.py"

    clone = clone_and_enqueue(task_id)
    row, log = run_to_completion(localtask_home, clone.id)
    direct_cwd, *direct_digests = results(direct.stdout)[0].split()
    run_cwd, *run_digests = results(log)[0].split()
    assert run_digests == direct_digests == [
        hashlib.sha256(BINARY[::-1] + b"\0\xff").hexdigest()[:16],
        hashlib.sha256(b"\0\1\2\xfe" * 100).hexdigest()[:16]]
    # the run starts in the recorded working directory (the working copy's root is "code")
    assert (direct_cwd, run_cwd) == (("repo", "code") if cwd == "." else ("src", "src"))


def test_module_entry_point_run_with_python_m(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {
        "pkg/__init__.py": "",
        "pkg/util.py": "def double(x):\n    return 2 * x\n",
        "pkg/train.py": """
            import sys
            from localtask import Task
            from .util import double

            task = Task.init(project_name="mod", task_name="mod")
            params = task.connect({"x": 4})
            print("TASK_ID=" + task.id)
            print("RESULT", __name__, double(params["x"]), sys.argv[1:])
            """})
    direct = subprocess.run([sys.executable, "-m", "pkg.train", "--flag", "v"], cwd=repo,
                            env=child_env(localtask_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    task_id = recorded_id(direct)
    assert store.get_task(task_id)["script"]["module"] == "pkg.train"
    clone = clone_and_enqueue(task_id, {"General/x": 21})
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == ["__main__ 42 ['--flag', 'v']"]


def test_cached_mirror_follows_new_commits_and_keeps_old_ones(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    body = ("from localtask import Task\nprint('TASK_ID=' + Task.init().id)\n"
            "import version\nprint('RESULT', version.V)\n")
    repo = make_repo(tmp_path / "repo", {"job.py": body, "version.py": "V = 1\n"})
    old = recorded_id(run_script(repo / "job.py", home=localtask_home))
    first = clone_and_enqueue(old)
    run_burst_worker(localtask_home)
    assert "caching repository" in console(store, first.id)

    write(repo / "version.py", "V = 2\n")
    git("commit", "-qam", "v2", cwd=repo)
    new = recorded_id(run_script(repo / "job.py", home=localtask_home))
    second, again = clone_and_enqueue(new), clone_and_enqueue(old)
    run_burst_worker(localtask_home)
    log = console(store, second.id)
    assert "caching repository" not in log
    assert f"fetching {store.get_task(new)['script']['commit'][:12]}" in log
    assert results(log) == ["2"]
    assert results(console(store, again.id)) == ["1"]  # the old commit is still in the mirror
    assert len(list((store.cache_dir / "repos").glob("*.git"))) == 1


@pytest.mark.parametrize("remote_gone", [False, True], ids=["remote", "remote-gone"])
def test_commit_not_pushed_is_taken_from_the_local_repository(localtask_home, tmp_path, remote_gone):
    store = Store.open(localtask_home)
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    repo = make_repo(tmp_path / "repo", {"job.py": "print('old')\n"})
    git("remote", "add", "origin", str(origin), cwd=repo)
    git("push", "-q", "-u", "origin", "main", cwd=repo)
    write(repo / "job.py", """
        from localtask import Task
        import helper
        print("TASK_ID=" + Task.init().id)
        print("RESULT", helper.X)
        """)
    git("commit", "-qam", "not pushed", cwd=repo)
    write(repo / "helper.py", "X = 'unpushed commit + untracked file'\n")
    task_id = recorded_id(run_script(repo / "job.py", home=localtask_home))
    script = store.get_task(task_id)["script"]
    assert (script["repository"], script["local_path"]) == (str(origin), str(repo))
    if remote_gone:
        import shutil
        shutil.rmtree(origin)

    clone = clone_and_enqueue(task_id)
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == ["unpushed commit + untracked file"]
    assert f"caching repository {origin if not remote_gone else repo}" in log


def test_commit_gone_from_every_source_fails_with_reason(localtask_home, tmp_path):
    """The recorded commit was amended away and garbage-collected before any worker cached it."""
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"job.py": MINIMAL})
    write(repo / "a.py", "A = 1\n")
    git("add", "a.py", cwd=repo)
    git("commit", "-qm", "to be rewritten", cwd=repo)
    task_id = recorded_id(run_script(repo / "job.py", home=localtask_home))
    commit = store.get_task(task_id)["script"]["commit"]
    git("commit", "-q", "--amend", "-m", "rewritten", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    assert git("cat-file", "-t", commit, cwd=repo, check=False) == ""

    clone = clone_and_enqueue(task_id)
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert row["status_reason"].startswith(f"Commit {commit} is in none of {repo}")
    assert "branch rewritten" in row["status_reason"]


# --------------------------------------------------------------------------- 5. outside git
def test_script_outside_git_rebuilt_from_stored_files(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    folder = tmp_path / "plain"
    write(folder / "run.py", """
        import os
        from localtask import Task
        from helpers import mathutil

        task = Task.init(project_name="plain", task_name="run")
        params = task.connect({"base": int(os.environ.get("BASE", "2")), "power": 3})
        print("TASK_ID=" + task.id)
        print("RESULT", mathutil.NAME, mathutil.power(params["base"], params["power"]))
        """)
    write(folder / "helpers" / "__init__.py", "")
    write(folder / "helpers" / "mathutil.py", "NAME = 'local helper'\n\ndef power(b, p):\n    return b ** p\n")
    originals = {p: p.read_bytes() for p in folder.rglob("*.py")}
    direct = run_script(folder / "run.py", home=localtask_home, GIT_CEILING_DIRECTORIES=str(tmp_path))
    task_id = recorded_id(direct)
    script = store.get_task(task_id)["script"]
    assert script["kind"] == "files"
    assert sorted(script["files"]) == ["helpers/__init__.py", "helpers/mathutil.py", "run.py"]

    clone = clone_and_enqueue(task_id, {"General/base": 5})
    row, log = run_to_completion(localtask_home, clone.id)
    reference = run_script(folder / "run.py", home=localtask_home, BASE="5",
                           GIT_CEILING_DIRECTORIES=str(tmp_path))
    assert results(log) == results(reference.stdout) == ["local helper 125"]
    assert "code from the 3 stored file(s)" in log
    assert {p: p.read_bytes() for p in folder.rglob("*.py")} == originals
    assert workdirs(store) == []


# --------------------------------------------------------------------------- lost workers
@pytest.mark.parametrize("requeue", [False, True], ids=["fail", "requeue"])
def test_sweep_at_start_handles_tasks_of_silent_workers(localtask_home, tmp_path, requeue):
    """A worker row that stopped beating (its process is gone: registered with a dead pid)
    still holds a running task; a new worker sweeps it when it starts."""
    store = Store.open(localtask_home)
    clone = clone_and_enqueue(record(tmp_path, localtask_home, MINIMAL + 'print("RESULT ran")\n'))
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.register_worker("ghost", socket.gethostname(), dead.pid, ["default"], 1)
    assert store.claim("ghost", ["default"])["id"] == clone.id
    time.sleep(0.6)
    run_burst_worker(localtask_home, lost_timeout=0.5, requeue_lost=requeue)
    row = store.get_task(clone.id)
    if requeue:
        assert row["status"] == "completed", (row["status_reason"], console(store, clone.id))
        assert row["worker"] == "test-worker"
        assert results(console(store, clone.id)) == ["ran"]
    else:
        assert row["status"] == "failed"
        assert row["status_reason"] == "worker ghost lost"
        assert console(store, clone.id) == ""
    assert [w["state"] for w in store.list_workers() if w["name"] == "ghost"] == ["lost"]


def test_worker_name_in_use_is_refused(localtask_home):
    store = Store.open(localtask_home)
    store.register_worker("busy", "elsewhere", 12345, ["default"], 1)
    worker = Worker(home=localtask_home, name="busy", burst=True)
    with pytest.raises(LocaltaskError, match="already running"):
        worker.register()


# --------------------------------------------------------------------------- 9. execute_remotely
def test_execute_remotely_then_worker_runs_it(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"remote.py": """
        from localtask import Task

        task = Task.init(project_name="remote", task_name="remote")
        params = task.connect({"n": 2})
        print("TASK_ID=" + task.id)
        task.execute_remotely(queue_name="default")
        print("remote-only", params["n"] * 21)
        """})
    local = run_script(repo / "remote.py", home=localtask_home)
    task_id = recorded_id(local)
    assert "remote-only" not in local.stdout + local.stderr
    assert store.get_task(task_id)["status"] == "queued"

    row, log = run_to_completion(localtask_home, task_id)
    assert "remote-only 42" in log
    assert len(store.find_tasks(project="remote")) == 1


def test_execute_remotely_clone_runs_the_clone(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "repo", {"remote.py": """
        from localtask import Task

        task = Task.init(project_name="remote", task_name="remote")
        print("TASK_ID=" + task.id)
        clone = task.execute_remotely(queue_name="default", clone=True)
        print("remote-only", task.id)
        """})
    local = run_script(repo / "remote.py", home=localtask_home)
    task_id = recorded_id(local)
    assert "remote-only" not in local.stdout + local.stderr
    (clone_row,) = [t for t in store.find_tasks(project="remote") if t["id"] != task_id]
    assert (clone_row["status"], store.get_task(task_id)["status"]) == ("queued", "stopped")

    run_burst_worker(localtask_home)
    row = store.get_task(clone_row["id"])
    log = console(store, clone_row["id"])
    assert row["status"] == "completed", (row["status_reason"], log)
    assert f"remote-only {clone_row['id']}" in log
    assert store.get_task(task_id)["status"] == "stopped"


def test_tasks_use_the_workers_store_not_the_environments(localtask_home, tmp_path, monkeypatch):
    store = Store.open(localtask_home)
    clone = clone_and_enqueue(record(tmp_path, localtask_home, GATED))
    other = tmp_path / "other-store"
    monkeypatch.setenv("LOCALTASK_HOME", str(other))
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "completed", (row["status_reason"], console(store, clone.id))
    assert "gate passed" in console(store, clone.id)
    assert not (other / "localtask.db").exists() or Store.open(other).count_tasks() == 0


# --------------------------------------------------------------------------- 11. env current
def test_env_current_warns_about_package_differences(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    clone = Task.clone(record(tmp_path, localtask_home, MINIMAL))
    click_version = metadata.version("click")
    filelock_version = metadata.version("filelock")
    store.update_task(clone.id, environment={
        "python": "2.7.18",
        "packages": [{"name": "click", "version": "0.0.1"},
                     {"name": "filelock", "version": filelock_version},
                     {"name": "surely-not-installed-pkg", "version": "1.2.3"}]})
    Task.enqueue(clone)
    run_burst_worker(localtask_home, env="current")
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert warnings == [
        f"localtask: WARNING: the task was recorded with Python 2.7.18; running with {platform.python_version()}",
        f"localtask: WARNING: package click was 0.0.1 when recorded; {click_version} here",
        "localtask: WARNING: package surely-not-installed-pkg was 1.2.3 when recorded; not installed here",
        # the script imports localtask, which this edited record does not list
        f"localtask: WARNING: package localtask {metadata.version('localtask')} is imported by the code but "
        "was not recorded",
    ]
    assert row["environment"]["drift"]["differs"] is True


# --------------------------------------------------------------------------- processes of a task
LAUNCHER = """
    import subprocess, sys
    from localtask import Task

    task = Task.init(project_name="launch", task_name="launcher")
    print("TASK_ID=" + task.id)
    if len(sys.argv) == 1:  # a launcher: its rank also calls Task.init, and attaches
        rank = subprocess.run([sys.executable, __file__, "rank"], capture_output=True, text=True)
        print("rank rc", rank.returncode, rank.stdout.split("TASK_ID=")[-1].strip() == task.id)
    """


def test_processes_a_task_starts_may_call_task_init_under_a_worker(localtask_home, tmp_path):
    """Only the process the worker started dies with the worker; a launcher's ranks that
    call Task.init attach to the same task and run normally."""
    repo = make_repo(tmp_path / "launch", {"launch.py": LAUNCHER})
    original = recorded_id(run_script(repo / "launch.py", home=localtask_home))
    clone = clone_and_enqueue(original)
    run_burst_worker(localtask_home)
    store = Store.open(localtask_home)
    assert store.get_task(clone.id)["status"] == "completed", console(store, clone.id)
    assert "rank rc 0 True" in console(store, clone.id)


# --------------------------------------------------------------------------- review fixes: paths
SYMLINKED = """
    from localtask import Task
    print("TASK_ID=" + Task.init(project_name="link", task_name="link").id)
    print("RESULT", "recorded version")
    """


def test_script_run_through_a_symlinked_folder_runs_the_rebuilt_checkout(localtask_home, tmp_path):
    """``cd link && python link/job.py`` where link -> the repository: the entry point is
    recorded relative to the repository, and the worker runs the rebuilt copy, not the file on
    disk edited since."""
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / "real", {"job.py": SYMLINKED})
    link = tmp_path / "link"
    link.symlink_to(repo, target_is_directory=True)
    task_id = recorded_id(run_script(link / "job.py", home=localtask_home, cwd=link))
    script = store.get_task(task_id)["script"]
    assert (script["entry_point"], script["working_dir"]) == ("job.py", ".")
    write(repo / "job.py", SYMLINKED.replace("recorded version", "edited after recording"))

    clone = clone_and_enqueue(task_id)
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == ["recorded version"]


def test_absolute_entry_point_of_a_git_task_is_refused(localtask_home, tmp_path):
    """A git task must run the file of its rebuilt working copy; an absolute entry point (a file
    on this machine's disk) is refused instead of run."""
    store = Store.open(localtask_home)
    outside = write(tmp_path / "outside.py", "print('RESULT outside file ran')\n")
    clone = Task.clone(record(tmp_path, localtask_home, MINIMAL))
    script = store.get_task(clone.id)["script"]
    store.update_task(clone.id, script={**script, "entry_point": str(outside)})
    Task.enqueue(clone)
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert "absolute entry point" in row["status_reason"]
    assert results(console(store, clone.id)) == []


def test_working_dir_outside_the_working_copy_is_refused(localtask_home, tmp_path):
    store = Store.open(localtask_home)
    clone = Task.clone(record(tmp_path, localtask_home, MINIMAL + "print('RESULT ran')\n"))
    escape = "../../../../escaped-run-dir"
    target = (store.cache_dir / "work" / "x" / "code" / escape).resolve()
    script = store.get_task(clone.id)["script"]
    store.update_task(clone.id, script={**script, "working_dir": escape})
    Task.enqueue(clone)
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert "outside the working copy" in row["status_reason"]
    assert not target.exists()
    assert results(console(store, clone.id)) == []


def traditional_patch(name: str, stamp: str = "") -> bytes:
    """A patch without a ``diff --git`` header (as ``diff -u`` writes), creating ``name``."""
    return (f"--- /dev/null{stamp}\n+++ {name}{stamp}\n@@ -0,0 +1 @@\n+pwned\n").encode()


@pytest.mark.parametrize("diff", [
    traditional_patch("b/../../evil x"),
    traditional_patch("b/../../evil", "\t2024-01-02 03:04:05.000000000 +0000"),
    traditional_patch("/tmp/evil x", "\t2024-01-02 03:04:05.000000000 +0000"),
    traditional_patch("b/../evil", " 2024-01-02 03:04:05.000000000 +0000"),
    b"diff --git a/ok b/ok\nsimilarity index 100%\nrename from ok\nrename to ../evil x\n",
], ids=["space", "tab-date", "absolute-tab-date", "space-date", "rename-space"])
def test_diff_names_with_spaces_or_dates_outside_the_working_copy_are_refused(localtask_home, tmp_path, diff):
    from localtask.exceptions import RunError
    from localtask.runner import check_diff_paths

    with pytest.raises(RunError, match="outside the working copy"):
        check_diff_paths(diff)
    store = Store.open(localtask_home)
    clone = Task.clone(record(tmp_path, localtask_home, MINIMAL))
    store.update_task(clone.id, code=diff, code_ref=None)
    Task.enqueue(clone)
    run_burst_worker(localtask_home)
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert "Refusing to write" in row["status_reason"]
    assert not list((store.cache_dir / "repos").glob("*.git"))  # refused before the mirror clone
    assert not list(tmp_path.rglob("evil*"))


@pytest.mark.parametrize("name", ["name with spaces.txt", "tab\tname.txt", "dated.txt"])
def test_diff_names_with_spaces_inside_the_working_copy_pass(name):
    from localtask.runner import check_diff_paths

    check_diff_paths(traditional_patch(f"b/{name}", "\t2024-01-02 03:04:05 +0000"))
    check_diff_paths(traditional_patch(f"b/{name}", " 2024-01-02 03:04:05 +0000"))
    check_diff_paths(traditional_patch(f"b/sub/{name}"))


def test_repository_path_with_config_special_characters(localtask_home, tmp_path):
    """A local repository at a path holding ``"``, ``\\``, ``#`` and ``;`` (git config syntax)."""
    store = Store.open(localtask_home)
    repo = make_repo(tmp_path / 'my x\\y "odd" #repo; z', {"job.py": MINIMAL + "print('RESULT ran')\n"})
    task_id = recorded_id(run_script(repo / "job.py", home=localtask_home))
    assert store.get_task(task_id)["script"]["repository"] == str(repo)
    clone = clone_and_enqueue(task_id)
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == ["ran"]


@pytest.mark.parametrize("user_env, expected", [
    ({}, "ssh -o BatchMode=yes -o ConnectTimeout=30"),
    ({"GIT_SSH_COMMAND": "ssh -i /my/key"}, "ssh -i /my/key"),
])
def test_mirror_git_never_prompts(monkeypatch, tmp_path, user_env, expected):
    from localtask.runner import network_env

    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    for key, value in user_env.items():
        monkeypatch.setenv(key, value)
    env = network_env(tmp_path)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_SSH_COMMAND"] == expected


def test_mirror_git_keeps_the_users_core_ssh_command(monkeypatch, tmp_path):
    from localtask.runner import network_env

    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    mirror = tmp_path / "mirror.git"
    git("init", "-q", "--bare", str(mirror), cwd=tmp_path)
    git("config", "core.sshCommand", "ssh -i /my/key", cwd=mirror)
    assert "GIT_SSH_COMMAND" not in network_env(mirror)
