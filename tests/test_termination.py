"""A local run (a script with Task.init, no worker) that is stopped by a signal ends its task:
SIGTERM and SIGHUP at once, in the script's process; SIGKILL afterwards, by ``localtask gc``,
the next Task.init or a worker's start. Real scripts, real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import run_python, write_script
from helpers_robust import child_env, kill9, read_line, read_rest
from localtask import Task
from localtask.store import Store
from localtask.store_base import pid_namespace

HOST = os.uname().nodename

#: a local run that says who it is, leaves a scalar in the logger's buffer and a console line
#: without its newline, then waits to be stopped.
WAITING = """
    import os, signal, sys, time
    from localtask import Task
    {before}
    task = Task.init(project_name="signals", task_name="waiting")
    print("TASK_ID=" + task.id)
    print("PID=" + str(os.getpid()))
    for name in ("SIGTERM", "SIGHUP"):
        handler = signal.getsignal(getattr(signal, name))
        print(name, "handler:", getattr(handler, "__qualname__", None) or signal.Handlers(handler).name)
    task.get_logger().report_scalar("loss", "train", 0.5, iteration=1)
    # one write: the last words are out before the test, seeing READY, sends its signal
    print("READY\\nthe last words, with no newline", end="", flush=True)
    {loop}
"""
#: the script waits for its signal in time.sleep, or in a busy loop of prints and reports (the
#: signal then lands while the console tee or the logger holds its lock).
LOOPS = {
    "sleeping": "while True: time.sleep(0.1)",
    "busy": "i = 0\n    while True: i += 1; print(i); task.get_logger().report_scalar('busy', 'i', i, iteration=i)",
}


def start(tmp_path, home, before: str = "", env: dict | None = None,
          loop: str = "sleeping") -> tuple[subprocess.Popen, dict]:
    """The WAITING script started (``before``: code run before Task.init), once it is READY;
    returns the process and the ``NAME=value`` / ``... handler:`` lines it printed."""
    script = write_script(tmp_path / f"waiting-{uuid.uuid4().hex[:6]}.py",
                          WAITING.format(before=before, loop=LOOPS[loop]))
    proc = subprocess.Popen([sys.executable, str(script)], env=child_env(home, **(env or {})),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    said = {}
    for key in ("TASK_ID=", "PID=", "SIGTERM handler:", "SIGHUP handler:"):
        said[key.rstrip("=:")] = read_line(proc, key)[len(key):].strip()
    read_line(proc, "READY")
    return proc, said


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_local_run_failed_and_the_process_dies_of_it(tmp_path, home, sig):
    proc, said = start(tmp_path, home)
    os.kill(proc.pid, sig)
    code = proc.wait(30)
    assert code == -sig, proc.stderr.read()  # died of the signal, as without localtask
    task = Task.get_task(said["TASK_ID"], home=home)
    assert (task.status, task.get_status_message()) == ("failed", f"terminated by signal {sig.name}")
    assert said["SIGTERM handler"] == said["SIGHUP handler"] == "_handle"
    console = task.get_reported_console_output()[0]
    assert console.endswith("READY\nthe last words, with no newline")
    assert task.get_reported_scalars()["loss"]["train"] == {"x": [1], "y": [0.5]}
    proc.stdout.close()
    proc.stderr.close()


def test_a_signal_in_a_busy_loop_of_prints_and_reports_ends_the_run_too(tmp_path, home):
    proc, said = start(tmp_path, home, loop="busy")
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)  # (read on: a full pipe would stop the loop's prints)
    assert proc.returncode == -signal.SIGTERM
    task = Task.get_task(said["TASK_ID"], home=home)
    assert (task.status, task.get_status_message()) == ("failed", "terminated by signal SIGTERM")
    printed = task.get_reported_console_output()[0].splitlines()[-1].split("words, with no newline")[-1]
    assert int(printed) > 0  # the console holds the loop's lines up to the end of the run
    assert task.get_reported_scalars()["busy"]["i"]["x"][:3] == [1, 2, 3]


def test_the_shell_sees_exit_code_143(tmp_path, home):
    script = write_script(tmp_path / "waiting.py", WAITING.format(before="", loop=LOOPS["sleeping"]))
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" "{script}"; echo "EXIT=$?"'],
                             env=child_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    task_id = read_line(shell, "TASK_ID=")[len("TASK_ID="):]
    pid = int(read_line(shell, "PID=")[len("PID="):])
    read_line(shell, "READY")
    os.kill(pid, signal.SIGTERM)
    shell.wait(30)
    rest = read_rest(shell)
    assert rest.endswith("the last words, with no newlineEXIT=143\n")  # flushed before dying
    assert shell.returncode == 0
    assert Task.get_task(task_id, home=home).status == "failed"


OWN_HANDLER = """
    def own(signum, frame):
        print("OWN HANDLER", flush=True)
        sys.exit(5)
    signal.signal(signal.SIGTERM, own)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
"""


def test_a_script_that_handles_the_signals_keeps_its_handlers(tmp_path, home):
    proc, said = start(tmp_path, home, before=OWN_HANDLER)
    assert (said["SIGTERM handler"], said["SIGHUP handler"]) == ("own", "SIG_IGN")
    os.kill(proc.pid, signal.SIGHUP)  # still ignored
    time.sleep(0.3)
    assert proc.poll() is None
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 5
    assert "OWN HANDLER" in read_rest(proc)
    task = Task.get_task(said["TASK_ID"], home=home)
    assert (task.status, task.get_status_message()) == ("failed", "exit code 5")
    proc.stdout.close()
    proc.stderr.close()


def test_a_run_under_a_worker_gets_no_handler_and_its_row_is_left_to_the_worker(tmp_path, home):
    store = Store(home)
    task_id = uuid.uuid4().hex
    store.insert_task({"id": task_id, "project": "signals", "name": "worker's", "status": "in_progress",
                       "worker": "w1", "host": HOST})
    proc, said = start(tmp_path, home, env={"LOCALTASK_TASK_ID": task_id, "LOCALTASK_WORKER": "w1"})
    assert said["TASK_ID"] == task_id
    assert said["SIGTERM handler"] == said["SIGHUP handler"] == "SIG_DFL"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM
    row = store.get_task(task_id)
    assert (row["status"], row["status_reason"], row["run_end"]) == ("in_progress", "", None)
    proc.stdout.close()
    proc.stderr.close()


# --------------------------------------------------------------------------- SIGKILL
def killed_run(tmp_path, home) -> tuple[str, int]:
    """The id and pid of a local run killed by SIGKILL, its task left in progress."""
    proc, said = start(tmp_path, home)
    kill9(proc)
    assert Task.get_task(said["TASK_ID"], home=home).status == "in_progress"
    return said["TASK_ID"], int(said["PID"])


def dead_reason(pid: int) -> str:
    return f"its process (pid {pid} on {HOST}) died without ending the task"


def test_gc_fails_a_killed_run_and_leaves_live_and_other_hosts_runs_alone(tmp_path, home):
    live, live_said = start(tmp_path, home)
    killed, pid = killed_run(tmp_path, home)  # (after the live one: a Task.init fails a killed run)
    store = Store(home)
    elsewhere = uuid.uuid4().hex  # a dead pid here, but the run is another host's
    store.insert_task({"id": elsewhere, "project": "signals", "name": "elsewhere",
                       "status": "in_progress", "host": "another-host", "pid": pid, "pid_ns": pid_namespace()})
    # a dead pid of this host's name, in another pid namespace: a container named as its host
    contained = uuid.uuid4().hex
    store.insert_task({"id": contained, "project": "signals", "name": "in a container",
                       "status": "in_progress", "host": HOST, "pid": pid, "pid_ns": "pid:[1]"})
    try:
        dry = run_python("-m", "localtask", "gc", "--dry-run", home=home)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines()[0] == f"would fail task {killed}: {dead_reason(pid)}"
        assert store.get_task(killed)["status"] == "in_progress"

        before_gc = time.time()
        swept = run_python("-m", "localtask", "gc", home=home)
        assert swept.returncode == 0, swept.stderr
        assert swept.stdout.splitlines()[0] == f"failed task {killed}: {dead_reason(pid)}"
        row = store.get_task(killed)
        assert (row["status"], row["status_reason"]) == ("failed", dead_reason(pid))
        # it ended at its last sign of life (its console's last line, or its row's last change
        # if later), not when gc saw it
        console_end = store.console_path(killed).stat().st_mtime
        assert console_end - 1e-3 <= row["completed"] < before_gc
        assert store.get_task(live_said["TASK_ID"])["status"] == "in_progress"
        assert store.get_task(elsewhere)["status"] == "in_progress"
        assert store.get_task(contained)["status"] == "in_progress"
        again = run_python("-m", "localtask", "gc", home=home)
        assert f"task {killed}" not in again.stdout
    finally:
        live.send_signal(signal.SIGTERM)
        live.wait(30)
        live.stdout.close()
        live.stderr.close()
    assert store.get_task(live_said["TASK_ID"])["status_reason"] == "terminated by signal SIGTERM"


def test_the_next_task_init_fails_a_killed_run(tmp_path, home):
    killed, pid = killed_run(tmp_path, home)
    script = write_script(tmp_path / "next.py", """
        from localtask import Task
        print("TASK_ID=" + Task.init(project_name="signals", task_name="next").id)
    """)
    proc = run_python(str(script), home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    task = Task.get_task(killed, home=home)
    assert (task.status, task.get_status_message()) == ("failed", dead_reason(pid))


def test_a_starting_worker_fails_a_killed_run(tmp_path, home):
    killed, pid = killed_run(tmp_path, home)
    worker = run_python("-m", "localtask", "worker", "--burst", "--queue", "nothing-here", home=home)
    assert worker.returncode == 0, worker.stderr
    assert f"task {killed}: failed: {dead_reason(pid)}" in worker.stderr
    assert Task.get_task(killed, home=home).status == "failed"


def test_a_run_marked_started_by_another_process_is_never_judged_dead_by_that_process(tmp_path, home):
    """ClearML's ``Task.get_task(id).mark_started(force=True)`` from a short-lived process (a
    CLI call, a notebook): its pid says nothing of the run, so no sweep fails the run by it."""
    killed, _ = killed_run(tmp_path, home)
    Task.get_task(killed, home=home).mark_failed(force=True)
    marker = run_python("-c", "import sys; from localtask import Task; "
                        "Task.get_task(sys.argv[1]).mark_started(force=True)", killed, home=home)
    assert marker.returncode == 0, marker.stderr
    row = Store(home).get_task(killed)
    assert (row["status"], row["pid"], row["pid_ns"]) == ("in_progress", None, None)
    swept = run_python("-m", "localtask", "gc", home=home)
    assert f"task {killed}" not in swept.stdout
    assert Store(home).get_task(killed)["status"] == "in_progress"
