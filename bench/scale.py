"""Scale: the common operations on a store of 1k, 10k and 100k tasks holding 1M scalars.

First page of the task list (`Store.find_tasks(limit=50)`, the CLI's `list` in-process and
as a process, the web page's `Store.task_page`), filter by status, clone, enqueue, and reset
of a task with 10k scalars. Target: each in-process operation at most 100 ms at 100k tasks,
and roughly flat from 1k to 100k (at most twice its 1k time, or within 5 ms of it).
The store grows in place (1k, then 10k, then 100k tasks); it is built through the public
Store API in batches (`Store.insert_tasks`, `Store.add_scalars`), never with SQL here.
"""
from __future__ import annotations

import contextlib
import io
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import benchlib as B

NAME = "scale"
QUEUE = "bench"
TARGET_MS = 100.0
FLAT_FACTOR, FLAT_SLACK = 2.0, 0.005
STATUSES = ["completed"] * 16 + ["failed"] * 2 + ["stopped", "created"]
PROJECTS = [f"project-{k}" for k in range(10)]
PACKAGES = [{"name": f"package{k}", "version": f"1.{k}.0"} for k in range(40)]


def filler(count: int, start: float, rng: random.Random) -> list[dict]:
    """``count`` ended tasks with a realistic script and environment (no code, no parameters)."""
    tasks = []
    for k in range(count):
        created = start + k * 0.01
        status = rng.choice(STATUSES)
        tasks.append({
            "id": uuid.uuid4().hex, "project": rng.choice(PROJECTS), "name": f"train model {k % 997}",
            "status": status, "created": created, "last_update": created + 60,
            "started": None if status == "created" else created + 1,
            "completed": None if status == "created" else created + 60,
            "tags": ["bench", f"tag{k % 7}"],
            "script": {"kind": "git", "repository": "https://example.invalid/repo.git", "branch": "main",
                       "commit": uuid.uuid4().hex + uuid.uuid4().hex[:8], "entry_point": "train.py",
                       "working_dir": ".", "argv": ["--lr", "0.1"], "diff_size": 0, "diff_files": []},
            "environment": {"python": "3.11.7", "implementation": "CPython", "platform": "Linux",
                            "packages": PACKAGES},
        })
    return tasks


def grow(store, count: int, start: float, rng: random.Random) -> None:
    for done in range(0, count, 10_000):
        store.insert_tasks(filler(min(10_000, count - done), start + done * 0.01, rng))


def scalar_rows(count: int) -> list[tuple]:
    now = time.time()
    series = (("loss", "train"), ("loss", "validation"), ("accuracy", "train"), ("accuracy", "validation"))
    return [(*series[i % 4], i // 4, 1.0 / (i + 1), now) for i in range(count)]


def timed(fn: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    if setup is not None:
        setup()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    sizes = [100, 1_000] if args.quick else [1_000, 10_000, 100_000]
    n_scalars, per_task = (20_000, 2_000) if args.quick else (1_000_000, 10_000)
    reps = args.repeat or (3 if args.quick else 7)
    report = B.Report(NAME, f"Scale: stores of {', '.join(f'{s:,}' for s in sizes)} tasks and "
                            f"{n_scalars:,} scalars", args)
    py = sys.executable
    rng = random.Random(6)
    results: dict[str, dict[int, list[float]]] = {}
    build: dict[int, float] = {}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        env = B.isolated_env(tmp, home)
        from localtask import Store, Task
        from localtask.cli import cli

        store = Store.open(home)
        start = time.time() - 10 * 86400
        t0 = time.perf_counter()
        subject = uuid.uuid4().hex  # cloned and enqueued: parameters and a configuration to copy
        store.insert_task({"id": subject, "project": "bench", "name": "subject", "status": "completed",
                           "created": start - 1, "script": filler(1, 0, rng)[0]["script"],
                           "environment": {"packages": PACKAGES}, "code": b"x" * 5000},
                          parameters=[("General", f"p{k}", str(k), "int", "") for k in range(10)],
                          configurations=[("config", "dict", '{"a": 1}', "")])
        resettable = uuid.uuid4().hex
        store.insert_task({"id": resettable, "project": "bench", "name": "reset me", "status": "completed",
                           "created": start - 1})
        resettable_seq = store.get_task(resettable)["seq"]
        carriers = filler(n_scalars // per_task, start - 100, rng)
        store.insert_tasks(carriers)
        rows = scalar_rows(per_task)
        B.progress(f"{NAME}: {n_scalars:,} scalars over {len(carriers)} tasks")
        for task in carriers:
            store.add_scalars(store.get_task(task["id"])["seq"], rows)
        build["scalars"] = time.perf_counter() - t0
        have = 2 + len(carriers)

        def cli_list(*extra: str) -> None:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                cli.main(args=["--home", str(home), "list", *extra], prog_name="localtask", standalone_mode=False)

        def fresh_clone() -> None:
            holder["clone"] = Task.clone(subject, home=home).id

        def refill() -> None:
            store.add_scalars(resettable_seq, scalar_rows(per_task))

        holder: dict[str, str] = {}
        ops: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
            "first page: Store.find_tasks(limit=50)": (lambda: store.find_tasks(limit=50), None),
            "first page: CLI `list` (in-process: click, query, table)": (cli_list, None),
            "first page: web page's Store.task_page (with the total count)": (lambda: store.task_page(limit=50), None),
            "filter by status: Store.find_tasks(status=['failed'], limit=50)":
                (lambda: store.find_tasks(status=["failed"], limit=50), None),
            "filter by status: CLI `list --status failed`": (lambda: cli_list("--status", "failed"), None),
            "clone: Task.clone": (lambda: Task.clone(subject, home=home), None),
            "enqueue: Task.enqueue (of a fresh clone)": (lambda: Task.enqueue(holder["clone"], QUEUE, home=home),
                                                         fresh_clone),
            f"reset: Task.reset of a task with {per_task:,} scalars":
                (lambda: Task.get_task(resettable, home=home).reset(), refill),
        }
        process_label = "first page: `localtask list` as a process − `python -c pass` (per pair)"
        for size in sizes:
            B.progress(f"{NAME}: growing the store to {size:,} tasks")
            t0 = time.perf_counter()
            grow(store, size - have, start, rng)
            build[size] = time.perf_counter() - t0
            have = size
            if store.count_scalars(resettable) != 0:
                raise B.BenchError("the task to reset already holds scalars")
            for label, (fn, setup) in ops.items():
                fn() if setup is None else (setup(), fn())  # warm: first query plans, page cache
                results.setdefault(label, {})[size] = [timed(fn, setup) for _ in range(reps)]
            if store.count_scalars(resettable) != 0:
                raise B.BenchError("reset left scalars behind")
            diffs = []
            for i in range(-1, reps):  # -1: a warm-up pair (bytecode of click and the CLI)
                pair = {}
                for side in (["list", "pass"] if i % 2 == 0 else ["pass", "list"]):
                    cmd = [py, "-c", "pass"] if side == "pass" else [
                        py, "-c", "from localtask.cli import main; main()", "--home", str(home), "list"]
                    p0 = time.perf_counter()
                    proc = B.run_checked(cmd, cwd=tmp, env=env)
                    pair[side] = time.perf_counter() - p0
                    if side == "list" and len(proc.stdout.splitlines()) != 51:
                        raise B.BenchError(f"`localtask list` printed no page of 50 tasks:\n{proc.stdout[:2000]}")
                if i >= 0:
                    diffs.append(pair["list"] - pair["pass"])
            results.setdefault(process_label, {})[size] = diffs
        total_scalars = sum(store.count_scalars(t["id"]) for t in carriers)
        if total_scalars != n_scalars:
            raise B.BenchError(f"{total_scalars} scalars in the store, expected {n_scalars}")

    report.text(f"""
        One store grown in place: {len(carriers)} tasks holding {n_scalars:,} scalars ({per_task:,}
        each) plus filler tasks (10 projects, mostly completed, 10% failed, a 40-package
        environment each) up to {', '.join(f'{s:,}' for s in sizes)} tasks; at each size every
        operation runs once to warm up, then {reps} times. Build times (public API, batched):
        scalars {build['scalars']:.1f} s, then {', '.join(f'{build[s]:.1f} s to reach {s:,}' for s in sizes)}.
        The task to clone holds 10 parameters, a configuration object and a 5 KB diff; each
        enqueue takes a clone made just before (not timed); each reset is preceded by adding
        {per_task:,} scalars to the task (not timed). The CLI's `list` runs in-process through
        click (output discarded) and as a process (the console script's `main()`), whose time includes
        the interpreter and imports: shown as its difference to `python -c pass`, no target.
    """)
    report.measurements([(f"{label}, {size:,} tasks", B.summary(v), B.ms)
                         for label, per_size in results.items() for size, v in per_size.items()])
    small, big = sizes[0], sizes[-1]
    lines = []
    for label, per_size in results.items():
        at_big = B.summary(per_size[big])
        ratio = at_big.median / max(B.summary(per_size[small]).median, 1e-9)
        flat = at_big.median <= FLAT_FACTOR * B.summary(per_size[small]).median or \
            at_big.median - B.summary(per_size[small]).median <= FLAT_SLACK
        in_process = label != process_label
        lines.append(B.Line(f"{label}, {big:,} tasks", at_big, B.ms,
                            f"≤ {TARGET_MS:.0f} ms" if in_process else "",
                            at_big.median * 1000 <= TARGET_MS if in_process else None))
        lines.append(B.Line(f"{label}: median at {big:,} ÷ at {small:,}", None, B.times,
                            f"≤ {FLAT_FACTOR:.0f}× or +{FLAT_SLACK * 1000:.0f} ms" if in_process else "",
                            flat if in_process else None, text=B.times(ratio)))
    report.summary(lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
