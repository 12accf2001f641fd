"""Queue latency: enqueue -> the task's process has started, with an idle worker waiting.

Target: p50 at most 50 ms for the worker's own share: enqueue -> the task's process spawned,
i.e. (enqueue -> first statement of the task script) minus (spawn -> first statement of a
script), the interpreter's own start-up, measured in the same iteration and shown apart.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import benchlib as B

NAME = "queue_latency"
QUEUE = "bench"
TARGET_MS = 50.0


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = args.repeat or (5 if args.quick else 50)
    warmup = 2
    report = B.Report(NAME, "Queue latency: enqueue → task process started (idle worker, 1 slot)", args)
    py = sys.executable
    lat: dict[str, list[float]] = {k: [] for k in ("claim", "proc", "done", "startup", "pass")}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        env = B.isolated_env(tmp, home)
        repo, out = B.trivial_repo(tmp, env)
        probe = tmp / "startup_probe.py"
        probe.write_text(B.STARTUP_PROBE)
        source = B.record_trivial(repo, env)
        from localtask import Store, Task

        store = Store.open(home)
        worker = B.WorkerProcess(env, tmp, queue=QUEUE, slots=1)
        try:
            worker.wait_registered()
            for i in range(warmup + n):
                timed = i >= warmup
                B.progress(f"{NAME}: {'task' if timed else 'warm-up'} "
                           f"{i - warmup + 1 if timed else i + 1}/{n if timed else warmup}")
                clone = Task.clone(source, home=home)
                t0 = time.time()
                Task.enqueue(clone, QUEUE)
                row = B.wait_status(store, clone.id)
                if row["status"] != "completed":
                    raise B.BenchError(f"task {clone.id} ended {row['status']}: {row['status_reason']}\n"
                                       f"{worker.log_tail()}")
                started_at = float((out / f"{clone.id}.t").read_text())
                before = time.time()
                proc = B.run_checked([py, "-u", str(probe)], cwd=repo, env=env)
                startup = float(proc.stdout.strip()) - before
                p0 = time.perf_counter()
                B.run_checked([py, "-c", "pass"], cwd=repo, env=env)
                wall_pass = time.perf_counter() - p0
                if timed:
                    lat["claim"].append(row["started"] - t0)
                    lat["proc"].append(started_at - t0)
                    lat["done"].append(row["completed"] - t0)
                    lat["startup"].append(startup)
                    lat["pass"].append(wall_pass)
        finally:
            code = worker.stop()
        if code != 0:
            raise B.BenchError(f"the worker exited with {code} after SIGTERM:\n{worker.log_tail()}")

    share = B.pairwise(lat["proc"], lat["startup"], lambda a, b: a - b)
    labels = {
        "claim": "enqueue → claimed (task row `started`)",
        "proc": "enqueue → task script's first statement",
        "done": "enqueue → task completed (row `completed`)",
        "startup": "interpreter alone: spawn → first statement",
        "pass": "`python -c pass` wall time",
    }
    report.text(f"""
        An idle worker (`Worker(queues=['{QUEUE}'], slots=1)` in its own process) waits; {n} times
        (after {warmup} warm-up runs that also fill the repository mirror): clone the recorded
        trivial task (not timed), t0, `Task.enqueue`, wait until it completes. The task script
        takes `time.time()` as its first statement, before importing anything, and writes it
        out. Each iteration also times the interpreter alone: spawn → first statement of a
        script (`python -u startup_probe.py`), and `python -c pass`.
    """)
    report.text(B.md_table(("latency", "p50", "p95", "min", "max", "runs"), [
        (labels[k], B.ms(B.percentile(v, 50)), B.ms(B.percentile(v, 95)), B.ms(min(v)), B.ms(max(v)), len(v))
        for k, v in lat.items()] + [
        ("**worker's share: first statement − interpreter start-up (per iteration)**",
         B.ms(B.percentile(share, 50)), B.ms(B.percentile(share, 95)), B.ms(min(share)),
         B.ms(max(share)), len(share))]))
    report.measurements([
        ("worker's share (enqueue → process spawned)", B.summary(share), B.ms),
        ("enqueue → claimed", B.summary(lat["claim"]), B.ms),
        ("claimed → first statement", B.summary(B.pairwise(lat["proc"], lat["claim"], lambda a, b: a - b)), B.ms),
    ])
    p50 = B.percentile(share, 50)
    report.targets([
        ("enqueue → task process spawned (worker's share, interpreter start-up excluded), p50",
         f"≤ {TARGET_MS:.0f} ms", B.ms(p50), p50 * 1000 <= TARGET_MS),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
