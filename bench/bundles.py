"""Bundles: `localtask.export_tasks` and `import_bundle` against copying the same bytes with `cp`.

1. Many tasks: 1,000 tasks with 10,000 scalars each (10M scalar rows), exported with their
   outputs into one bundle, then imported into an empty store.
2. One big artifact: one task with a 100 MB artifact, exported and imported the same way.
Floor: `cp` of the bundle file (the same bytes, moved once). Sizes scale down with
LOCALTASK_BENCH_BUNDLE_TASKS, LOCALTASK_BENCH_BUNDLE_SCALARS and LOCALTASK_BENCH_BUNDLE_MB
(`--quick`: 20 tasks of 1,000 scalars, 5 MB). No target: the figures say what a lab pays.
The stores are built through the public Store API (`insert_tasks`, `add_scalars`,
`artifacts.upload`), never with SQL here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import benchlib as B

NAME = "bundles"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def ended_task(k: int, project: str) -> dict:
    now = time.time()
    return {"id": uuid.uuid4().hex, "project": project, "name": f"train {k}", "status": "completed",
            "created": now + k * 0.001, "started": now, "completed": now + 60, "last_update": now + 60,
            "script": {"kind": "files", "entry_point": "train.py", "files": ["train.py"]},
            "environment": {"python": "3.11.7", "packages": []}}


def build_many(home: Path, tasks: int, scalars: int) -> None:
    from localtask import Store

    store = Store.open(home)
    rows = [ended_task(k, "many") for k in range(tasks)]
    store.insert_tasks(rows)
    now = time.time()
    for k, task in enumerate(rows):
        if k % 100 == 0:
            B.progress(f"{NAME}: scalars of task {k + 1}/{tasks}")
        seq = store.get_task(task["id"])["seq"]
        store.add_scalars(seq, [("loss", "train", i, 1.0 / (i + 1), now + i) for i in range(scalars)])


def build_big(home: Path, tmp: Path, megabytes: int) -> None:
    from localtask import Store, artifacts

    store = Store.open(home)
    task = ended_task(0, "big")
    store.insert_tasks([task])
    source = tmp / "weights.bin"
    with open(source, "wb") as fh:
        for _ in range(megabytes):
            fh.write(os.urandom(1 << 20))
    artifacts.upload(store, task["id"], "weights", str(source))
    source.unlink()


def measure(tmp: Path, home: Path, project: str, rounds: int) -> dict[str, list[float]]:
    from localtask import export_tasks, import_bundle

    times: dict[str, list[float]] = {"export": [], "import": [], "cp": [], "size": []}
    for i, order in B.rotations(["bundle", "cp"], rounds):
        bundle = tmp / f"{project}-{i}.ltb"
        for side in order:
            if side == "bundle":
                t0 = time.perf_counter()
                export_tasks(project=project, output=bundle, with_outputs=True, home=home, progress=False)
                times["export"].append(time.perf_counter() - t0)
                target = tmp / f"lab-{project}-{i}"
                t0 = time.perf_counter()
                report = import_bundle(bundle, home=target, progress=False)
                times["import"].append(time.perf_counter() - t0)
                if report.conflicts or not report.imported:
                    raise B.BenchError(f"the import did not add the tasks: {report}")
                shutil.rmtree(target)
            else:
                if not bundle.exists():  # cp first in this round: a bundle of the same tasks to copy
                    export_tasks(project=project, output=bundle, with_outputs=True, home=home, progress=False)
                t0 = time.perf_counter()
                subprocess.run(["cp", str(bundle), str(tmp / "copy.ltb")], check=True)
                times["cp"].append(time.perf_counter() - t0)
                (tmp / "copy.ltb").unlink()
        times["size"].append(bundle.stat().st_size)
        bundle.unlink()
    return times


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    tasks = _int("LOCALTASK_BENCH_BUNDLE_TASKS", 20 if args.quick else 1_000)
    scalars = _int("LOCALTASK_BENCH_BUNDLE_SCALARS", 1_000 if args.quick else 10_000)
    megabytes = _int("LOCALTASK_BENCH_BUNDLE_MB", 5 if args.quick else 100)
    rounds = args.repeat or (1 if args.quick else 3)
    report = B.Report(NAME, f"Bundles: export and import of {tasks:,} tasks × {scalars:,} scalars and of "
                            f"one {megabytes} MB artifact, against cp", args)
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        build_many(home, tasks, scalars)
        build_big(home, tmp, megabytes)
        B.progress(f"{NAME}: many tasks")
        many = measure(tmp, home, "many", rounds)
        B.progress(f"{NAME}: one big artifact")
        big = measure(tmp, home, "big", rounds)

    def mib(n: float) -> str:
        return f"{n / (1 << 20):.1f} MiB"

    report.text(f"""
        A store of {tasks:,} completed tasks with {scalars:,} scalars each ({tasks * scalars:,} rows),
        and one task with a {megabytes} MB artifact of random bytes. Each round: `export_tasks(project=...,
        with_outputs=True)` to a bundle, `import_bundle` of it into an empty store, and `cp` of the
        same bundle file, in alternating order; {rounds} round(s). Bundles: {mib(B.summary(many['size']).median)}
        (many tasks), {mib(B.summary(big['size']).median)} (the artifact).
    """)
    rows = []
    for label, t in ((f"{tasks:,} tasks × {scalars:,} scalars", many), (f"one {megabytes} MB artifact", big)):
        export_ratio = B.pairwise(t["export"], t["cp"], lambda a, b: a / b)
        import_ratio = B.pairwise(t["import"], t["cp"], lambda a, b: a / b)
        rows += [
            B.Line(f"export, {label}", B.summary(t["export"]), B.ms),
            B.Line(f"import, {label}", B.summary(t["import"]), B.ms),
            B.Line(f"floor: cp of the same bundle, {label}", B.summary(t["cp"]), B.ms),
            B.Line(f"export ÷ cp, {label}", B.summary(export_ratio), B.times),
            B.Line(f"import ÷ cp, {label}", B.summary(import_ratio), B.times),
        ]
    report.measurements([(line.label, line.values, line.fmt) for line in rows])
    report.summary(rows)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
