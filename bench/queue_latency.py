"""Queue latency: enqueue -> the task's process has started, with an idle worker waiting;
against huey's SqliteHuey consumer (enqueue -> the task function entered).

Target: p50 at most 50 ms for the worker's own share: enqueue -> the task's process spawned,
i.e. (enqueue -> first statement of the task script) minus (spawn -> first statement of a
script), the interpreter's own start-up, measured in the same iteration and shown apart.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B
import competitors as C

NAME = "queue_latency"
QUEUE = "bench"
TARGET_MS = 50.0
HUEY, HUEY_T = "huey SqliteHuey, defaults", "huey SqliteHuey, tuned"


class HueyConsumer:
    """A huey_consumer process serving its own SqliteHuey (a module written into ``folder``),
    and that module imported here to enqueue."""

    def __init__(self, folder: Path, out: Path, env: dict[str, str], name: str, extra_args: list[str]):
        folder.mkdir()
        (folder / f"{name}.py").write_text(C.HUEY_MODULE.format(db=str(folder / "huey.db"), out=str(out)))
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.out = out
        self.log_path = folder / "consumer.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "huey.bin.huey_consumer", f"{name}.huey", *extra_args],
            cwd=folder, env=dict(env, PYTHONPATH=str(folder)), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def latency(self, key: str, timeout: float = 60.0) -> float:
        """Enqueue one task; seconds from enqueue to the function's first statement."""
        t0 = time.time()
        self.module.touch(key)
        path = self.out / f"{key}.t"
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise B.BenchError(f"huey did not run task {key}:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.001)
        return float(path.read_text()) - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # huey's graceful shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = args.repeat or (5 if args.quick else 50)
    idle = 0.1 if args.quick else 0.5
    warmup = 2
    report = B.Report(NAME, "Queue latency: enqueue → task started, idle worker (1 slot) vs huey", args)
    py = sys.executable
    lat: dict[str, list[float]] = {k: [] for k in ("claim", "proc", "done", "startup", "pass")}
    huey_lat: dict[str, list[float]] = {}
    absent: dict[str, str] = {}
    if args.no_competitors:
        absent = dict.fromkeys((HUEY, HUEY_T), "not run: --no-competitors")
    elif not C.installed("huey"):
        absent = dict.fromkeys((HUEY, HUEY_T), C.INSTALL_HINT)
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
        consumers: dict[str, HueyConsumer] = {}
        worker = B.WorkerProcess(env, tmp, queue=QUEUE, slots=1)
        try:
            if not absent:
                consumers[HUEY] = HueyConsumer(tmp / "huey-defaults", out, env, "huey_defaults", [])
                consumers[HUEY_T] = HueyConsumer(tmp / "huey-tuned", out, env, "huey_tuned", C.HUEY_TUNED_ARGS)
                huey_lat = {k: [] for k in consumers}
            worker.wait_registered()
            sides = ["localtask", *consumers]
            for i, order in B.rotations(sides, warmup + n):
                timed = i >= warmup
                B.progress(f"{NAME}: {'task' if timed else 'warm-up'} "
                           f"{i - warmup + 1 if timed else i + 1}/{n if timed else warmup}")
                for side in order:
                    time.sleep(idle)  # every worker idle for the same time before its task
                    if side in consumers:
                        value = consumers[side].latency(f"{side[-6:]}-{i}")
                        if timed:
                            huey_lat[side].append(value)
                        continue
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
            for consumer in consumers.values():
                consumer.stop()
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
        An idle localtask worker (`Worker(queues=['{QUEUE}'], slots=1)` in its own process) waits;
        {n} times (after {warmup} warm-up runs that also fill the repository mirror): clone the
        recorded trivial task (not timed), t0, `Task.enqueue`, wait until it completes. The task
        script takes `time.time()` as its first statement, before importing anything, and writes
        it out. Each iteration also times the interpreter alone: spawn → first statement of a
        script (`python -u startup_probe.py`), and `python -c pass`.
        huey: a `huey_consumer` process per row, each serving its own `SqliteHuey` file; the task
        function's first statement takes `time.time()`; t0 is taken just before calling the task
        (which enqueues it). Defaults: 1 worker thread, polling the queue every 0.1 s, backing off
        ×1.15 per empty poll up to 10 s (so its latency grows with the time it has been idle);
        tuned: `{' '.join(C.HUEY_TUNED_ARGS)}` (poll every 10 ms, no back-off). huey runs the
        function in its already running consumer: it starts no process, so its figure compares
        with localtask's share (interpreter start-up excluded). Every side waits {idle} s idle
        before each of its tasks; the sides take turns, task by task, in rotating order.
    """)
    report.text(B.md_table(("latency", "p50", "p95", "min", "max", "runs"), [
        (labels[k], B.ms(B.percentile(v, 50)), B.ms(B.percentile(v, 95)), B.ms(min(v)), B.ms(max(v)), len(v))
        for k, v in lat.items()] + [
        ("**worker's share: first statement − interpreter start-up (per iteration)**",
         B.ms(B.percentile(share, 50)), B.ms(B.percentile(share, 95)), B.ms(min(share)),
         B.ms(max(share)), len(share))] + [
        (f"{k}: enqueue → task function entered", B.ms(B.percentile(v, 50)), B.ms(B.percentile(v, 95)),
         B.ms(min(v)), B.ms(max(v)), len(v)) for k, v in huey_lat.items()]))
    report.measurements([
        ("worker's share (enqueue → process spawned)", B.summary(share), B.ms),
        ("enqueue → claimed", B.summary(lat["claim"]), B.ms),
        ("claimed → first statement", B.summary(B.pairwise(lat["proc"], lat["claim"], lambda a, b: a - b)), B.ms),
    ])
    p50 = B.summary(share).median
    lines = [
        B.Line("localtask: enqueue → task process spawned (worker's share), p50", B.summary(share), B.ms,
               f"≤ {TARGET_MS:.0f} ms", p50 * 1000 <= TARGET_MS),
        B.Line("localtask: the same, p95", None, B.ms, text=B.ms(B.percentile(share, 95))),
        B.Line("localtask: enqueue → task script's first statement (interpreter start-up included)",
               B.summary(lat["proc"]), B.ms),
    ]
    for label in (HUEY, HUEY_T):
        values = huey_lat.get(label, [])
        lines.append(B.Line(f"{label}: enqueue → task function entered", B.summary_or_none(values), B.ms,
                            note=absent.get(label, "")))
        if values:
            lines.append(B.Line(f"{label}: the same, p95", None, B.ms, text=B.ms(B.percentile(values, 95))))
    for label in (HUEY, HUEY_T):
        ratio = B.pairwise(huey_lat[label], share, lambda a, b: a / b) if label in huey_lat else []
        lines.append(B.Line(f"{label} ÷ localtask's share (per task; above 1: localtask faster)",
                            B.summary_or_none(ratio), B.times, note=absent.get(label, "")))
    report.summary(lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
