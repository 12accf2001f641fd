"""Throughput: trivial tasks through one worker with 2 slots vs starting the same processes
two at a time.

The floor runs each task's own process exactly as the worker does (same interpreter, same
script, LOCALTASK_TASK_ID and LOCALTASK_HOME set so that Task.init attaches) from a 2-thread
pool, with nothing around it: the gap is what the worker adds (claim, working copy, status).
Target: localtask reaches at least 70% of the floor's tasks/s.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib as B

NAME = "throughput"
QUEUE = "bench"
SLOTS = 2
TARGET_SHARE = 0.70


def children_cpu() -> float:
    """User + system CPU seconds of every ended child process and the processes they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_floor(n: int, repo: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, CPU seconds) for n processes, SLOTS at a time."""
    cmd = [sys.executable, "-u", "trivial.py"]

    def one(_):
        proc = subprocess.run(cmd, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
        if proc.returncode != 0:
            raise B.BenchError(f"trivial.py exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}")

    cpu0, t0 = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=SLOTS) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - t0, children_cpu() - cpu0


def run_localtask(n: int, source: str, home: Path, env: dict[str, str],
                  tmp: Path) -> tuple[float, float, float]:
    """(seconds for n tasks, their CPU seconds, seconds of an empty burst run), each with a
    burst worker process."""
    from localtask import Store, Task

    store = Store.open(home)
    t0 = time.perf_counter()
    code = B.WorkerProcess(env, tmp, queue=QUEUE, slots=SLOTS, burst=True).wait(120)
    empty = time.perf_counter() - t0
    if code != 0:
        raise B.BenchError(f"an empty burst worker run exited with {code}")
    ids = []
    for _ in range(n):
        clone = Task.clone(source, home=home)
        Task.enqueue(clone, QUEUE)
        ids.append(clone.id)
    cpu0, t0 = children_cpu(), time.perf_counter()
    worker = B.WorkerProcess(env, tmp, queue=QUEUE, slots=SLOTS, burst=True)
    code = worker.wait(60 + 10 * n)
    elapsed, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if code != 0:
        raise B.BenchError(f"the burst worker exited with {code}:\n{worker.log_tail()}")
    statuses = [store.get_task(i)["status"] for i in ids]
    if statuses.count("completed") != n:
        counts = {s: statuses.count(s) for s in set(statuses)}
        raise B.BenchError(f"not every task completed: {counts}\n{worker.log_tail()}")
    return elapsed, cpu, empty


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 10 if args.quick else 200
    pairs = args.repeat or (2 if args.quick else 3)
    report = B.Report(NAME, f"Throughput: {n} trivial tasks, worker with {SLOTS} slots vs "
                            f"{SLOTS} processes at a time", args)
    times: dict[str, list[float]] = {"localtask": [], "floor": [], "empty": []}
    cpu: dict[str, list[float]] = {"localtask": [], "floor": []}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        env = B.isolated_env(tmp, home)
        repo, _ = B.trivial_repo(tmp, env)
        source = B.record_trivial(repo, env)
        floor_env = dict(env, LOCALTASK_TASK_ID=source, PYTHONUNBUFFERED="1")
        B.progress(f"{NAME}: warm-up (repository mirror, bytecode)")
        run_localtask(2, source, home, env, tmp)
        run_floor(2, repo, floor_env)
        for i, order in B.rotations(["localtask", "floor"], pairs):
            B.progress(f"{NAME}: pair {i + 1}/{pairs}")
            for side in order:
                if side == "localtask":
                    elapsed, used, empty = run_localtask(n, source, home, env, tmp)
                    times["localtask"].append(elapsed)
                    times["empty"].append(empty)
                else:
                    elapsed, used = run_floor(n, repo, floor_env)
                    times["floor"].append(elapsed)
                cpu[side].append(used / n)

    tps = {k: [n / s for s in times[k]] for k in ("localtask", "floor")}
    steady = B.pairwise(times["localtask"], times["empty"], lambda a, b: n / (a - b))
    share = B.pairwise(tps["localtask"], tps["floor"], lambda a, b: a / b)
    # What the worker adds to each task, per slot, once its own start-up and shutdown are removed.
    per_task = [(lt - empty - fl) * SLOTS / n
                for lt, empty, fl in zip(times["localtask"], times["empty"], times["floor"])]
    tasks = lambda x: B.rate(x, "tasks/s")  # noqa: E731
    report.text(f"""
        {pairs} pairs, alternating which side goes first, after a warm-up of each. localtask: {n}
        clones of one recorded trivial task enqueued (not timed), then a burst worker process
        (`Worker(queues=['{QUEUE}'], slots={SLOTS}, burst=True)`) is started and timed until it
        exits, every task checked completed; this includes one worker start-up and shutdown,
        measured alone as an empty burst run. Floor: the same `python -u trivial.py` processes
        run {SLOTS} at a time from a thread pool, attached to the recorded task. CPU per task is
        user + system time of all child processes (`RUSAGE_CHILDREN`); with {SLOTS} slots on
        {os.cpu_count()} CPUs it is what bounds the rate once the CPUs are busy.
    """)
    report.measurements([
        ("localtask (burst worker, end to end)", B.summary(tps["localtask"]), tasks),
        ("floor (2 processes at a time)", B.summary(tps["floor"]), tasks),
        ("localtask, worker start-up/shutdown excluded", B.summary(steady), tasks),
        ("empty burst worker run (start-up + shutdown)", B.summary(times["empty"]), B.ms),
        ("worker's added time per task and slot, start-up excluded (per pair)", B.summary(per_task), B.ms),
        ("CPU per task, localtask (user+sys, worker and its children)", B.summary(cpu["localtask"]), B.ms),
        ("CPU per task, floor (user+sys of the processes)", B.summary(cpu["floor"]), B.ms),
        ("localtask as % of floor (per pair)", B.summary(share), B.pct),
    ])
    med = B.summary(share).median
    report.summary([
        B.Line(f"localtask tasks/s as a share of the floor's ({n} tasks, {SLOTS} slots, per pair)",
               B.summary(share), B.pct, f"≥ {TARGET_SHARE:.0%}", med >= TARGET_SHARE),
        B.Line("localtask: burst worker, end to end", B.summary(tps["localtask"]), tasks),
        B.Line(f"floor: the same processes, {SLOTS} at a time", B.summary(tps["floor"]), tasks),
        B.Line("localtask, worker start-up/shutdown excluded", B.summary(steady), tasks),
        B.Line("worker's added time per task and slot, start-up excluded (per pair)", B.summary(per_task), B.ms),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
