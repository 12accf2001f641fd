"""Scalar logging: 100k report_scalar calls, first call to after task.close(), durable.

Floor: raw sqlite3 executemany of the same rows (built beforehand) into a table of the same
shape (the store's own DDL) in a WAL database, one transaction.
Target: at least 200k values/s for localtask.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import benchlib as B

NAME = "scalars"
TARGET_RATE = 200_000
SERIES = (("loss", "train"), ("loss", "validation"), ("accuracy", "train"), ("accuracy", "validation"))

# Each side runs in a fresh process; the time is taken inside it, so neither start-up counts.
LOCALTASK_CHILD = """\
import json, sys, time
from localtask import Store, Task

n = int(sys.argv[1])
series = {series!r}
task = Task.init(project_name="bench", task_name="scalars", auto_connect_streams=False)
report = task.get_logger().report_scalar
t0 = time.perf_counter()
for i in range(n):
    title, name = series[i % 4]
    report(title, name, 1.0 / (i + 1), i // 4)
task.close()
t1 = time.perf_counter()
print(json.dumps({{"seconds": t1 - t0, "count": Store.open().count_scalars(task.id)}}))
"""

FLOOR_CHILD = """\
import json, sqlite3, sys, time

n, path = int(sys.argv[1]), sys.argv[2]
ddl = {ddl!r}
series = {series!r}
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
for statement in ddl:
    conn.execute(statement)
now = time.time()
rows = []
for i in range(n):
    title, name = series[i % 4]
    rows.append((1, title, name, i // 4, 1.0 / (i + 1), now))
t0 = time.perf_counter()
conn.execute("BEGIN IMMEDIATE")
conn.executemany("INSERT INTO scalars(task_seq, title, series, iteration, value, ts) "
                 "VALUES (?, ?, ?, ?, ?, ?)", rows)
conn.execute("COMMIT")
t1 = time.perf_counter()
count = conn.execute("SELECT count(*) FROM scalars").fetchone()[0]
print(json.dumps({{"seconds": t1 - t0, "count": count}}))
"""


def scalars_ddl() -> list[str]:
    """The store's own statements that shape the scalars table (table and indexes)."""
    from localtask.store import MIGRATIONS

    statements = [s.strip() for m in MIGRATIONS for s in m.split(";\n")
                  if s.strip() and "scalars" in s and not s.strip().upper().startswith("INSERT")]
    if not any(s.upper().startswith("CREATE TABLE") for s in statements):
        raise B.BenchError("no CREATE TABLE scalars in localtask.store.MIGRATIONS")
    return statements


def run_child(code: str, argv: list[str], cwd: Path, env: dict[str, str], n: int) -> float:
    proc = B.run_checked([sys.executable, "-c", code, *argv], cwd=cwd, env=env, timeout=600)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if data["count"] != n:
        raise B.BenchError(f"{data['count']} rows durable after the run, expected {n}")
    return data["seconds"]


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 5_000 if args.quick else 100_000
    pairs = args.repeat or (3 if args.quick else 7)
    report = B.Report(NAME, f"Scalars: {n:,} report_scalar values vs raw sqlite3 executemany", args)
    lt_code = LOCALTASK_CHILD.format(series=SERIES)
    floor_code = FLOOR_CHILD.format(ddl=scalars_ddl(), series=SERIES)
    times: dict[str, list[float]] = {"localtask": [], "floor": []}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        for i, order in B.rotations(["localtask", "floor"], pairs):
            B.progress(f"{NAME}: pair {i + 1}/{pairs}")
            for side in order:
                if side == "localtask":
                    env = B.isolated_env(tmp, tmp / f"home-{i}")
                    times[side].append(run_child(lt_code, [str(n)], tmp, env, n))
                else:
                    env = B.isolated_env(tmp)
                    times[side].append(run_child(floor_code, [str(n), str(tmp / f"floor-{i}.db")], tmp, env, n))

    rates = {k: [n / s for s in v] for k, v in times.items()}
    share = B.pairwise(rates["localtask"], rates["floor"], lambda a, b: a / b)
    values = lambda x: B.rate(x, "values/s")  # noqa: E731
    report.text(f"""
        {n:,} values over 4 series, {pairs} pairs (each side in a fresh process, alternating which
        goes first; a fresh store / database per run). localtask: from the first `report_scalar`
        to after `task.close()`, then the rows are counted with `Store.count_scalars`. Floor: the
        same rows, built before the clock starts, inserted with one `executemany` in one
        transaction into the store's own `scalars` DDL, WAL, synchronous=NORMAL.
    """)
    report.measurements([
        ("localtask report_scalar → close", B.summary(rates["localtask"]), values),
        ("floor: sqlite3 executemany", B.summary(rates["floor"]), values),
        ("localtask elapsed", B.summary(times["localtask"]), B.ms),
        ("floor elapsed", B.summary(times["floor"]), B.ms),
        ("localtask as % of floor (per pair)", B.summary(share), B.pct),
    ])
    med = B.summary(rates["localtask"]).median
    report.targets([
        (f"localtask values/s ({n:,} values, durable after close)", f"≥ {TARGET_RATE // 1000}k values/s",
         values(med), med >= TARGET_RATE),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
