"""Shared-mode scaling: workers x tasks/s on one shared store, with the store lock's waits.

A shared store (``LOCALTASK_SHARED=1``: rollback journal, the cross-host lock file around every
access, a connection per operation) is served by 1, 2, 4 and 8 worker processes:

1. real workers (``Worker(slots=1, burst=True)`` each) running trivial tasks, every process
   (workers and tasks) probed: each access to the lock is timed (wait, hold) by
   ``bench/lockprobe/sitecustomize.py``, which the children get on PYTHONPATH;
2. the store alone: processes doing what a worker does to the store for each task (claim, pid,
   heartbeat, end) in a loop, no task process: the ceiling of one store, in local mode, in
   shared mode, and in shared mode with the lock held 1 ms and 5 ms longer at each access (what
   a network disk's round trips add inside the lock; this machine has no NFS client).

No target: the figures say where one store stops scaling (docs/scaling.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

NAME = "shared_scale"
QUEUE = "bench"
PROBE_DIR = B.BENCH_DIR / "lockprobe"
WORKERS = (1, 2, 4, 8)
LOGGERS = (1, 4, 16)

#: a child of part 2: waits for the start file, then claims and ends tasks until none is left.
STORE_LOOP = """
import json, os, sys, time
from localtask import Store
from localtask.status import TaskStatus
start, out, name = sys.argv[1:4]
store = Store.open()
store.register_worker(name, "bench", os.getpid(), [{queue!r}], 1)
while not os.path.exists(start):
    time.sleep(0.001)
t0, done = time.time(), 0
while True:
    row = store.claim(name, [{queue!r}])
    if row is None:
        break
    store.set_task_pid(row["id"], os.getpid())
    store.heartbeat(name, [row["id"]])
    store.finish_task(row["id"], name, TaskStatus.completed, "")
    done += 1
with open(out, "w") as fh:
    json.dump({{"start": t0, "end": time.time(), "done": done}}, fh)
""".format(queue=QUEUE)


#: a task of part 3: Task.init, waits for the start file, reports a scalar every 10 ms.
LOGGER_SCRIPT = """
import json, os, sys, time
from localtask import Task
start, seconds = sys.argv[1], float(sys.argv[2])
task = Task.init(project_name="bench", task_name="logger")
logger = task.get_logger()
while not os.path.exists(start):
    time.sleep(0.005)
t0, i = time.time(), 0
while time.time() - t0 < seconds:
    logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
    i += 1
    time.sleep(0.01)
c0 = time.time()
task.close()
end = time.time()
print(json.dumps({"start": t0, "end": end, "values": i, "close": end - c0}))
"""


def probe_env(env: dict[str, str], logdir: Path, delay: float, shared: bool = True) -> dict[str, str]:
    logdir.mkdir(parents=True, exist_ok=True)
    extra = {"LOCALTASK_SHARED": "1" if shared else "0", "PYTHONPATH": str(PROBE_DIR),
             "LOCALTASK_BENCH_LOCKLOG": str(logdir)}
    if delay:
        extra["LOCALTASK_BENCH_HOLD_DELAY"] = str(delay)
    return dict(env, **extra)


def lock_samples(logdir: Path, skip: dict[str, int] | None = None) -> tuple[list[float], list[float]]:
    """(waits, holds) in seconds from every probed process (past ``skip[file name]`` lines)."""
    waits, holds = [], []
    for path in logdir.glob("*.txt"):
        for line in path.read_text().splitlines()[(skip or {}).get(path.name, 0):]:
            wait, hold = line.split()
            waits.append(float(wait))
            holds.append(float(hold))
    return waits, holds


def fresh_store(tmp: Path, tag: str, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    home = tmp / f"home-{tag}"
    return home, dict(env, LOCALTASK_HOME=str(home))


def enqueue_clones(source: str, home: Path, n: int) -> list[str]:
    from localtask import Task

    ids = []
    for _ in range(n):
        clone = Task.clone(source, home=home)
        Task.enqueue(clone, QUEUE)
        ids.append(clone.id)
    return ids


def run_workers(workers: int, tasks: int, repo: Path, tmp: Path, env: dict[str, str], delay: float,
                tag: str) -> dict:
    """Part 1: ``workers`` burst worker processes on ``tasks`` trivial tasks in a fresh shared store."""
    from localtask import Store

    home, env = fresh_store(tmp, tag, env)
    shared_env = dict(env, LOCALTASK_SHARED="1")
    os.environ["LOCALTASK_SHARED"] = "1"  # this process enqueues into the same shared store
    try:
        source = B.record_trivial(repo, shared_env)
        ids = enqueue_clones(source, home, tasks)
        logdir = tmp / f"locks-{tag}"
        child_env = probe_env(env, logdir, delay)
        procs = [B.WorkerProcess(child_env, tmp, queue=QUEUE, slots=1, burst=True) for _ in range(workers)]
        for proc in procs:
            code = proc.wait(120 + 5 * tasks)
            if code != 0:
                raise B.BenchError(f"a worker exited with {code}:\n{proc.log_tail()}")
        store = Store.open(home)
        rows = [store.get_task(i) for i in ids]
    finally:
        del os.environ["LOCALTASK_SHARED"]
    statuses = [r["status"] for r in rows]
    if statuses.count("completed") != tasks:
        raise B.BenchError(f"not every task completed: { {s: statuses.count(s) for s in set(statuses)} }")
    span = max(r["completed"] for r in rows) - min(r["started"] for r in rows)
    waits, holds = lock_samples(logdir)
    return {"tps": tasks / span, "waits": waits, "holds": holds, "accesses": len(waits) / tasks,
            "busy": sum(holds) / span}


def run_store_loop(workers: int, tasks: int, tmp: Path, env: dict[str, str], delay: float, shared: bool,
                   tag: str) -> dict:
    """Part 2: ``workers`` processes claiming and ending ``tasks`` tasks, no task process."""
    import uuid

    from localtask import Store

    home, env = fresh_store(tmp, tag, env)
    os.environ["LOCALTASK_SHARED"] = "1" if shared else "0"
    try:
        store = Store.open(home)
        store.insert_tasks({"id": uuid.uuid4().hex, "project": "bench", "name": "t", "status": "created"}
                           for _ in range(tasks))
        for row in store.find_tasks(project="bench", limit=tasks + 1):
            store.enqueue(row["id"], QUEUE)
    finally:
        del os.environ["LOCALTASK_SHARED"]
    logdir = tmp / f"locks-{tag}"
    child_env = probe_env(env, logdir, delay, shared)
    start = tmp / f"start-{tag}"
    outs = [tmp / f"loop-{tag}-{i}.json" for i in range(workers)]
    procs = [subprocess.Popen([sys.executable, "-c", STORE_LOOP, str(start), str(out), f"loop-{i}"],
                              env=child_env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i, out in enumerate(outs)]
    time.sleep(0.5 + 0.1 * workers)  # let every process import and register before the start
    start.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise B.BenchError(f"a store loop exited with {proc.returncode}: {err.decode(errors='replace')}")
    results = [json.loads(out.read_text()) for out in outs]
    done = sum(r["done"] for r in results)
    if done != tasks:
        raise B.BenchError(f"{done} tasks claimed and ended instead of {tasks}")
    waits, holds = lock_samples(logdir)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"tps": tasks / span, "waits": waits, "holds": holds, "accesses": len(waits) / tasks,
            "busy": sum(holds) / span}


def run_loggers(count: int, seconds: float, tmp: Path, env: dict[str, str], tag: str) -> dict:
    """Part 3: ``count`` running tasks at once, each reporting a scalar every 10 ms for ``seconds``."""
    home, env = fresh_store(tmp, tag, env)
    logdir = tmp / f"locks-{tag}"
    child_env = probe_env(env, logdir, 0.0)
    script = tmp / "logger.py"
    script.write_text(LOGGER_SCRIPT)
    start = tmp / f"start-{tag}"
    procs = [subprocess.Popen([sys.executable, str(script), str(start), str(seconds)], cwd=tmp,
                              env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(count)]
    time.sleep(1.0 + 0.3 * count)  # imports and Task.init, before the start
    # Task.init's own accesses are not the steady state measured
    skip = {path.name: len(path.read_text().splitlines()) for path in logdir.glob("*.txt")}
    start.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300 + 10 * seconds)
        if proc.returncode != 0:
            raise B.BenchError(f"a logging task exited with {proc.returncode}: {err.decode(errors='replace')}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    waits, holds = lock_samples(logdir, skip)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"values": sum(r["values"] for r in results) / span, "close": [r["close"] for r in results],
            "waits": waits, "holds": holds, "busy": sum(holds) / span, "accesses": len(waits) / span}


def run_idle(count: int, seconds: float, tmp: Path, env: dict[str, str], tag: str) -> dict:
    """Part 4: ``count`` idle workers (empty queue, default poll interval) for ``seconds``."""
    home, env = fresh_store(tmp, tag, env)
    logdir = tmp / f"locks-{tag}"
    child_env = probe_env(env, logdir, 0.0)
    from localtask import Store

    os.environ["LOCALTASK_SHARED"] = "1"  # this process watches the same store: in the same mode
    Store.open(home)
    procs = [B.WorkerProcess(child_env, tmp, queue=QUEUE, slots=1) for _ in range(count)]
    try:
        for proc in procs:
            proc.wait_registered(60)
        skip = {path.name: len(path.read_text().splitlines()) for path in logdir.glob("*.txt")}
        time.sleep(seconds)
        waits, holds = lock_samples(logdir, skip)
    finally:
        for proc in procs:
            proc.stop()
        del os.environ["LOCALTASK_SHARED"]
    return {"accesses": len(waits) / seconds, "busy": sum(holds) / seconds, "waits": waits, "holds": holds}


def access_steps(tmp: Path, count: int) -> dict[str, list[float]]:
    """Part 0: one shared-mode access step by step, uncontended; a local-mode write; an fsync."""
    import uuid

    from localtask import Store

    steps: dict[str, list[float]] = {name: [] for name in (
        "take the lock file", "open the database (connection, pragmas)", "read a task row",
        "write a task row (BEGIN IMMEDIATE, UPDATE, COMMIT)", "close the connection", "release the lock file",
        "local mode: the same write (WAL, synchronous=NORMAL)", "fsync of a 4 KiB write, this disk")}
    names = list(steps)
    task_id = uuid.uuid4().hex
    for shared in (True, False):
        os.environ["LOCALTASK_SHARED"] = "1" if shared else "0"
        try:
            store = Store.open(tmp / f"home-steps-{int(shared)}")
        finally:
            del os.environ["LOCALTASK_SHARED"]
        store.insert_task({"id": task_id, "project": "bench", "name": "t", "status": "created"})
        access = store._access_strategy  # the bench times the strategy's own steps
        for _ in range(count):
            if not shared:
                conn = access.connection()
                t0 = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE tasks SET last_update = ? WHERE id = ?", (time.time(), task_id))
                conn.execute("COMMIT")
                steps[names[6]].append(time.perf_counter() - t0)
                continue
            marks = [time.perf_counter()]
            access.acquire()
            marks.append(time.perf_counter())
            conn = access.new_connection()
            marks.append(time.perf_counter())
            conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchall()
            marks.append(time.perf_counter())
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE tasks SET last_update = ? WHERE id = ?", (time.time(), task_id))
            conn.execute("COMMIT")
            marks.append(time.perf_counter())
            conn.close()
            marks.append(time.perf_counter())
            access.lock.release()
            marks.append(time.perf_counter())
            for i in range(6):
                steps[names[i]].append(marks[i + 1] - marks[i])
    with open(tmp / "fsync-probe", "wb") as fh:
        for _ in range(count):
            fh.write(b"x" * 4096)
            fh.flush()
            t0 = time.perf_counter()
            os.fsync(fh.fileno())
            steps[names[7]].append(time.perf_counter() - t0)
    return steps


def pctl(values: list[float], q: float) -> str:
    return B.ms(B.percentile(values, q)) if values else "—"


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    rounds = args.repeat or (1 if args.quick else 3)
    tasks = 8 if args.quick else 40
    loop_tasks = 40 if args.quick else 200
    slow_loop_tasks = 20 if args.quick else 80
    workers_list = (1, 2) if args.quick else WORKERS
    loggers_list = (1, 2) if args.quick else LOGGERS
    log_seconds = 2.0 if args.quick else 10.0
    idle_list = (1, 2) if args.quick else (1, 8)
    report = B.Report(NAME, "Shared-mode scaling: workers x tasks/s on one shared store, lock waits", args)
    real: dict[tuple[float, int], list[dict]] = {}
    loops: dict[tuple[str, int], list[dict]] = {}
    logs: dict[int, list[dict]] = {}
    idle: dict[int, list[dict]] = {}
    loop_kinds = [("local", False, 0.0), ("shared", True, 0.0), ("shared +1 ms", True, 0.001),
                  ("shared +5 ms", True, 0.005)]
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        env = B.isolated_env(tmp)
        repo, _ = B.trivial_repo(tmp, dict(env, LOCALTASK_HOME=str(tmp / "home-warmup")))
        B.progress(f"{NAME}: warm-up")
        run_workers(1, 2, repo, tmp, env, 0.0, "warmup")
        B.progress(f"{NAME}: one access, step by step")
        steps = access_steps(tmp, 20 if args.quick else 200)
        for r in range(rounds):
            for delay in (0.0, 0.002):
                for n in workers_list:
                    B.progress(f"{NAME}: round {r + 1}/{rounds}: {n} worker(s), {tasks} tasks, hold +{delay * 1000:g} ms")
                    real.setdefault((delay, n), []).append(
                        run_workers(n, tasks, repo, tmp, env, delay, f"w{n}-d{delay}-r{r}"))
            for label, shared, delay in loop_kinds:
                count = slow_loop_tasks if delay >= 0.005 else loop_tasks
                for n in workers_list:
                    B.progress(f"{NAME}: round {r + 1}/{rounds}: store only, {label}, {n} process(es)")
                    loops.setdefault((label, n), []).append(
                        run_store_loop(n, count, tmp, env, delay, shared, f"s{n}-{label.replace(' ', '')}-r{r}"))
            for k in loggers_list:
                B.progress(f"{NAME}: round {r + 1}/{rounds}: {k} running task(s) reporting scalars")
                logs.setdefault(k, []).append(run_loggers(k, log_seconds, tmp, env, f"l{k}-r{r}"))
            for k in idle_list:
                B.progress(f"{NAME}: round {r + 1}/{rounds}: {k} idle worker(s)")
                idle.setdefault(k, []).append(run_idle(k, log_seconds, tmp, env, f"i{k}-r{r}"))

    tasks_fmt = lambda x: B.rate(x, "tasks/s")  # noqa: E731

    def table(results: dict, keys: list, label) -> str:
        rows = []
        for key in keys:
            runs = results[key]
            tps = B.summary([x["tps"] for x in runs])
            waits = [w for x in runs for w in x["waits"]]
            holds = [h for x in runs for h in x["holds"]]
            base = B.summary([x["tps"] for x in results[(key[0], workers_list[0])]]).median
            rows.append([label(key), f"{tasks_fmt(tps.median)} [{tps.min:,.1f} – {tps.max:,.1f}]",
                         f"{tps.median / base:.2f}×",
                         f"{B.summary([x['accesses'] for x in runs]).median:.1f}",
                         pctl(waits, 50), pctl(waits, 95), pctl(waits, 99), pctl(holds, 50), pctl(holds, 95),
                         B.pct(B.summary([x["busy"] for x in runs]).median)])
        return B.md_table(["workers", "tasks/s median [min – max]", "vs 1", "lock accesses per task",
                           "wait p50", "wait p95", "wait p99", "hold p50", "hold p95", "lock busy"], rows)

    report.text(f"""
        **0. One access, step by step** ({len(steps[next(iter(steps))])} times, one process, no other
        process on the store): what a shared-mode access costs here, against a local-mode write
        and a bare fsync of this disk (SQLite's rollback journal with `synchronous=FULL` syncs the
        journal and the database at every commit).
    """)
    report.measurements([(name, B.summary(values), B.ms) for name, values in steps.items()])
    report.text(f"""
        {rounds} round(s); each run on a fresh store. **1. Real workers, trivial tasks**: {tasks}
        clones of a recorded trivial task, then N burst worker processes with 1 slot each; tasks/s =
        tasks / (last end - first start, from the store's rows). Every process (workers and the
        task processes) is probed: *wait* is the time to take the lock file, *hold* the time from
        taking it to its release (opening the database, the statement, commit, close). The task
        processes (Python start-up, imports, `Task.init`) need CPU: on {os.cpu_count()} CPUs they,
        not the store, bound this table past 2 workers.
    """)
    report.text("**Shared mode, real workers (no added latency)**\n\n"
                + table(real, [(0.0, n) for n in workers_list], lambda k: str(k[1])))
    report.text("**Shared mode, real workers, lock held 2 ms longer per access (a network disk's round trips)**\n\n"
                + table(real, [(0.002, n) for n in workers_list], lambda k: str(k[1])))
    report.text(f"""
        **2. The store alone**: N processes each claim a task, record its pid, heartbeat and end it
        (the worker's own store calls per task), until {loop_tasks} tasks ({slow_loop_tasks} with
        +5 ms) are done; no task process, so the CPUs are not the limit. In local mode (WAL, no
        lock file) there are no lock waits to probe.
    """)
    for label, _, _ in loop_kinds:
        report.text(f"**Store only, {label}**\n\n"
                    + table(loops, [(label, n) for n in workers_list], lambda k: str(k[1])))

    report.text(f"""
        **3. Running tasks reporting scalars**: K tasks (`Task.init` on the shared store) run at once,
        each reporting a scalar every 10 ms for {log_seconds:g} s (the reporter writes them in batches,
        about once a second, each batch one locked write); Task.init's own accesses are left out.
        *close* is `task.close()`, which writes the last batch and the end.
    """)
    log_rows = []
    for k in loggers_list:
        runs = logs[k]
        waits = [w for x in runs for w in x["waits"]]
        holds = [h for x in runs for h in x["holds"]]
        closes = [c for x in runs for c in x["close"]]
        log_rows.append([str(k), B.rate(B.summary([x["values"] for x in runs]).median, "values/s"),
                         f"{B.summary([x['accesses'] for x in runs]).median:.1f}",
                         pctl(waits, 50), pctl(waits, 95), pctl(waits, 99), pctl(holds, 50),
                         B.pct(B.summary([x["busy"] for x in runs]).median), pctl(closes, 50), pctl(closes, 100)])
    report.text("**Shared mode, running tasks reporting scalars**\n\n" + B.md_table(
        ["tasks", "values stored", "lock accesses/s", "wait p50", "wait p95", "wait p99", "hold p50",
         "lock busy", "close p50", "close max"], log_rows))

    report.text(f"""
        **4. Idle workers**: K workers watching an empty queue for {log_seconds:g} s with the default
        poll interval (0.5 s) and heartbeat (2 s): in shared mode each poll is a claim under the lock.
    """)
    idle_rows = []
    for k in idle_list:
        runs = idle[k]
        waits = [w for x in runs for w in x["waits"]]
        holds = [h for x in runs for h in x["holds"]]
        idle_rows.append([str(k), f"{B.summary([x['accesses'] for x in runs]).median:.1f}",
                          pctl(waits, 50), pctl(waits, 99), pctl(holds, 50),
                          B.pct(B.summary([x["busy"] for x in runs]).median)])
    report.text("**Shared mode, idle workers**\n\n" + B.md_table(
        ["workers", "lock accesses/s", "wait p50", "wait p99", "hold p50", "lock busy"], idle_rows))

    def tps_of(results, key):
        return B.summary([x["tps"] for x in results[key]])

    first, last = workers_list[0], workers_list[-1]
    measurements = []
    for n in workers_list:
        measurements.append((f"real workers, shared, {n} worker(s): tasks/s", tps_of(real, (0.0, n)), tasks_fmt))
    for label, _, _ in loop_kinds:
        for n in workers_list:
            measurements.append((f"store only, {label}, {n} process(es): tasks/s", tps_of(loops, (label, n)), tasks_fmt))
    report.measurements(measurements)
    all_waits = [w for x in real[(0.0, last)] for w in x["waits"]]
    summary_lines = [
        B.Line(f"real workers, shared mode, {first} worker: tasks/s", tps_of(real, (0.0, first)), tasks_fmt),
        B.Line(f"real workers, shared mode, {last} workers: tasks/s", tps_of(real, (0.0, last)), tasks_fmt),
        B.Line(f"store only, shared mode, {last} processes: tasks/s", tps_of(loops, ("shared", last)), tasks_fmt),
        B.Line(f"store only, shared +5 ms per access, {last} processes: tasks/s",
               tps_of(loops, ("shared +5 ms", last)), tasks_fmt),
    ]
    if all_waits:
        summary_lines.append(B.Line(f"lock wait p99, {last} real workers", B.summary([B.percentile(all_waits, 99)]), B.ms))
    report.summary(summary_lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
