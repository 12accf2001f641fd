"""Many enqueuers, many workers, one store: every task runs exactly once, none is lost.

4 enqueuing processes clone a recorded task LOCALTASK_STRESS_TASKS times in all (default
3,000, as the issue asks) onto two queues while 8 worker processes drain both; once with the
store in local mode (WAL) and once in forced shared mode (rollback journal + cross-host
lock), where every process also poses as its own host. Each run of a task creates a file
named after its task id with O_EXCL, so a second run of any task fails and is seen.

Marked slow. Each task is a Python process: with 2 cores a full run of both modes takes
several minutes; LOCALTASK_STRESS_TASKS=100 gives a quick check.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from helpers_robust import FAKE_HOST_PRELUDE, check_store_consistent, child_env, kill9
from helpers_worker import LOCALTASK_CLI
from localtask import Store

pytestmark = pytest.mark.slow

TASKS = int(os.environ.get("LOCALTASK_STRESS_TASKS", "3000"))
ENQUEUERS = 4
WORKERS = 8
QUEUES = ("alpha", "beta")

#: the task: recorded once (it calls Task.init), then each run only proves it ran, once.
TICK = """
import os, sys
task_id = os.environ.get("LOCALTASK_TASK_ID")
if not task_id:
    from localtask import Task
    print("TASK_ID=" + Task.init(project_name="stress", task_name="tick").id)
else:
    fd = os.open(os.path.join(sys.argv[1], task_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
"""

#: an enqueuer: waits for the start signal, then clones and enqueues its share, alternating
#: queues, retrying an operation that found the store locked past the busy timeout.
ENQUEUER = FAKE_HOST_PRELUDE + """
import sys, time
from pathlib import Path
from localtask import StoreLockedError, Task

template, count, index, go, ids_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
queues = ["alpha", "beta"]
retries = 0

def retried(call):
    global retries
    while True:
        try:
            return call()
        except StoreLockedError:
            retries += 1

while not go.exists():
    time.sleep(0.01)
with open(ids_file, "w") as out:
    for i in range(count):
        clone = retried(lambda: Task.clone(template, name=f"tick {index}-{i}", project="stress"))
        retried(lambda: Task.enqueue(clone, queues[(i + index) % 2]))
        out.write(clone.id + "\\n")
        out.flush()
print("RETRIES", retries, flush=True)
"""

#: a worker process posing as its own host (FAKE_HOSTNAME) in shared mode.
WORKER = FAKE_HOST_PRELUDE + """
import sys
from localtask.cli import main
sys.argv[0] = "localtask"
main()
"""


def status_counts(store: Store) -> dict[str, int]:
    counts = {}
    for status in ("created", "queued", "in_progress", "completed", "failed", "stopped"):
        counts[status] = store.task_page(project="stress", status=[status], limit=1)[1]
    return counts


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("mode", ["local", "shared"])
def test_enqueuers_and_workers_run_every_task_exactly_once(tmp_path, mode):
    home = tmp_path / "home"
    out = tmp_path / "ran"
    out.mkdir()
    extra = {"LOCALTASK_SHARED": "1" if mode == "shared" else "0"}
    env = child_env(home, **extra)
    folder = tmp_path / "tick"  # outside git: the code is stored whole, rebuilt by unzipping
    folder.mkdir()
    (folder / "tick.py").write_text(TICK)
    rec = subprocess.run([sys.executable, str(folder / "tick.py"), str(out)], cwd=folder, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert rec.returncode == 0, rec.stderr
    template = re.search(r"TASK_ID=(\w+)", rec.stdout).group(1)
    store = Store(home, shared=mode == "shared")
    store.update_task(template, project="template")  # its own run is not one of the counted tasks
    assert store.get_task(template)["status"] == "completed"

    go = tmp_path / "go"
    shares = [TASKS // ENQUEUERS + (1 if i < TASKS % ENQUEUERS else 0) for i in range(ENQUEUERS)]
    enqueuers, workers = [], []
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    try:
        for i, share in enumerate(shares):
            enqueuers.append(subprocess.Popen(
                [sys.executable, "-c", ENQUEUER, template, str(share), str(i), str(go),
                 str(tmp_path / f"ids-{i}.txt")],
                env={**env, "FAKE_HOSTNAME": f"enqueuer-{i}"} if mode == "shared" else env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for i in range(WORKERS):
            queues = QUEUES if i % 2 == 0 else QUEUES[::-1]
            args = ["--home", str(home), "worker", "--name", f"w{i}", "--poll-interval", "0.1",
                    "--lost-timeout", "120", *(a for q in queues for a in ("-q", q))]
            command = ([sys.executable, "-c", WORKER, *args] if mode == "shared" else [*LOCALTASK_CLI, *args])
            with open(logs[i], "wb") as log:
                workers.append(subprocess.Popen(
                    command, env={**env, "FAKE_HOSTNAME": f"node-{i}"} if mode == "shared" else env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        time.sleep(1.0)  # everyone started: the race begins at once for all of them
        began = time.monotonic()
        go.touch()

        enqueue_retries, enqueued_at = 0, None
        deadline = began + max(600, TASKS * 0.5)
        while True:
            if enqueued_at is None and all(p.poll() is not None for p in enqueuers):
                enqueued_at = time.monotonic() - began
                for p in enqueuers:
                    stdout, stderr = p.communicate()
                    assert p.returncode == 0, stderr
                    enqueue_retries += int(stdout.split()[-1])
            counts = status_counts(store)
            if enqueued_at is not None and counts["completed"] + counts["failed"] + counts["stopped"] >= TASKS:
                break
            assert all(w.poll() is None for w in workers), "a worker died"
            assert time.monotonic() < deadline, f"not done after {deadline - began:.0f} s: {counts}"
            time.sleep(0.5)
        ran_for = time.monotonic() - began
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(60) for w in workers]
    finally:
        for p in enqueuers + workers:
            kill9(p)

    worker_logs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0] * WORKERS, worker_logs
    locked_in_workers = sum(text.count("stayed locked") + text.count("was held by another") for text in worker_logs)
    ids = [line for i in range(ENQUEUERS) for line in (tmp_path / f"ids-{i}.txt").read_text().split()]
    assert len(ids) == len(set(ids)) == TASKS

    counts = status_counts(store)
    per_worker: dict[str, int] = {}
    per_queue: dict[str, int] = {}
    for row in store.find_tasks(project="stress"):
        per_worker[row["worker"]] = per_worker.get(row["worker"], 0) + 1
        per_queue[row["queue"]] = per_queue.get(row["queue"], 0) + 1
    print(f"\n[{mode}] {TASKS} tasks: {ENQUEUERS} enqueuers done in {enqueued_at:.1f} s; all ended after "
          f"{ran_for:.1f} s with {WORKERS} workers ({TASKS / ran_for:.1f} tasks/s); retries on a locked "
          f"store: {enqueue_retries} in enqueuers, {locked_in_workers} in workers")
    print(f"[{mode}] tasks per worker: {dict(sorted(per_worker.items()))}; per queue: {per_queue}")
    assert counts == {"created": 0, "queued": 0, "in_progress": 0, "completed": TASKS, "failed": 0,
                      "stopped": 0}, counts
    ran = sorted(p.name for p in out.iterdir())
    assert ran == sorted(ids)  # every task ran, and (O_EXCL) none twice
    for task_id in ids[:: max(1, TASKS // 50)]:
        log = store.console_path(task_id).read_text()
        assert log.count("runs task") == 1, log
    assert set(per_queue) == set(QUEUES) and sum(per_queue.values()) == TASKS
    assert len(per_worker) == WORKERS
    assert store.pending(list(QUEUES)) == 0
    assert store.integrity_check() == "ok"
    check_store_consistent(home)
    assert store.list_workers() == []
