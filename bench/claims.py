"""Claims per second at the store: Store.claim, from 1 and 2 processes, against raw sqlite3
claiming from the same kind of table (the floor).

Floor: the store's own `tasks` DDL in a WAL database (synchronous=NORMAL, as the store), the
same number of queued rows; each claim is `BEGIN IMMEDIATE; UPDATE tasks SET status =
'in_progress' ... WHERE seq = (first queued) RETURNING id; COMMIT`, one statement.
Target: localtask reaches at least 50% of the floor's claims/s, with 1 and with 2 processes.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

NAME = "claims"
QUEUE = "bench"
TARGET_SHARE = 0.50

# Every claimer waits for the same start time (a barrier), claims until the queue is empty,
# and prints its first and last time and the ids it got.
LOCALTASK_CHILD = """\
import json, sys, time
from localtask import Store

store = Store.open(sys.argv[1])
start_at, name = float(sys.argv[2]), sys.argv[3]
store.pending([{queue!r}])  # the connection is open before the clock starts
while time.time() < start_at:
    time.sleep(0.0005)
t0 = time.time()
ids = []
while True:
    row = store.claim(name, [{queue!r}])
    if row is None:
        break
    ids.append(row["id"])
print(json.dumps({{"t0": t0, "t1": time.time(), "ids": ids}}))
"""

FLOOR_CHILD = """\
import json, sqlite3, sys, time

conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
start_at, name = float(sys.argv[2]), sys.argv[3]
while time.time() < start_at:
    time.sleep(0.0005)
t0 = time.time()
ids = []
while True:
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute(
        "UPDATE tasks SET status = 'in_progress', worker = ?, started = ?, last_update = ? "
        "WHERE seq = (SELECT seq FROM tasks WHERE status = 'queued' ORDER BY created LIMIT 1) "
        "RETURNING id", (name, time.time(), time.time())).fetchone()
    conn.execute("COMMIT")
    if row is None:
        break
    ids.append(row[0])
print(json.dumps({"t0": t0, "t1": time.time(), "ids": ids}))
"""

FLOOR_BUILD = """\
import sqlite3, sys, time, uuid

conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
for statement in {ddl!r}:
    conn.execute(statement)
now = time.time()
conn.execute("BEGIN")
conn.executemany("INSERT INTO tasks(id, project, name, status, created, last_update) "
                 "VALUES (?, 'bench', 'claim me', 'queued', ?, ?)",
                 [(uuid.uuid4().hex, now + i * 1e-6, now) for i in range(int(sys.argv[2]))])
conn.execute("COMMIT")
conn.close()
"""


def build_localtask(home: Path, n: int, env: dict[str, str], tmp: Path) -> None:
    """A store with ``n`` tasks queued on QUEUE, built in a child process so that its database
    is closed (checkpointed) when it exits and can be copied as a whole."""
    code = f"""\
import time, uuid
from localtask import Store

store = Store.open({str(home)!r})
now = time.time()
ids = [uuid.uuid4().hex for _ in range({n})]
store.insert_tasks({{"id": i, "project": "bench", "name": "claim me", "status": "created",
                    "created": now + k * 1e-6}} for k, i in enumerate(ids))
for i in ids:
    store.enqueue(i, {QUEUE!r})
"""
    B.run_checked([sys.executable, "-c", code], cwd=tmp, env=env, timeout=600)


def run_claimers(code: str, target: Path, procs: int, n: int, tmp: Path, env: dict[str, str]) -> float:
    """Claims/s of ``procs`` processes emptying the queue at ``target``; checks every task was
    claimed exactly once."""
    start_at = time.time() + 1.0 + 0.5 * procs  # after every claimer has started and imported
    children = [subprocess.Popen([sys.executable, "-c", code, str(target), repr(start_at), f"claimer-{k}"],
                                 cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k in range(procs)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            raise B.BenchError(f"a claimer exited with {child.returncode}:\n{err}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    ids = [i for r in results for i in r["ids"]]
    if len(ids) != n or len(set(ids)) != n:
        raise B.BenchError(f"{len(ids)} claims of {len(set(ids))} distinct tasks; expected {n} of {n}")
    if min(r["t0"] for r in results) < start_at - 0.01:
        raise B.BenchError("a claimer started before the barrier")
    return n / (max(r["t1"] for r in results) - min(r["t0"] for r in results))


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 200 if args.quick else 2_000
    pairs = args.repeat or (2 if args.quick else 5)
    report = B.Report(NAME, f"Claims per second: Store.claim vs raw sqlite3 UPDATE … RETURNING, "
                            f"{n:,} queued tasks", args)
    lt_code = LOCALTASK_CHILD.format(queue=QUEUE)
    rates: dict[tuple[str, int], list[float]] = {}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        env = B.isolated_env(tmp)
        B.progress(f"{NAME}: building a store with {n:,} queued tasks and the floor's database")
        template = tmp / "template-home"
        build_localtask(template, n, env, tmp)
        floor_template = tmp / "template-floor.db"
        B.run_checked([sys.executable, "-c", FLOOR_BUILD.format(ddl=B.store_ddl("tasks")), str(floor_template), str(n)],
                      cwd=tmp, env=env)
        run = 0
        for procs in (1, 2):
            for i, order in B.rotations(["localtask", "floor"], pairs):
                B.progress(f"{NAME}: {procs} process(es), pair {i + 1}/{pairs}")
                for side in order:
                    run += 1
                    if side == "localtask":
                        home = tmp / f"home-{run}"
                        shutil.copytree(template, home)
                        rate = run_claimers(lt_code, home, procs, n, tmp, env)
                        shutil.rmtree(home)
                    else:
                        db = tmp / f"floor-{run}.db"
                        shutil.copyfile(floor_template, db)
                        rate = run_claimers(FLOOR_CHILD, db, procs, n, tmp, env)
                        for path in tmp.glob(f"floor-{run}.db*"):
                            path.unlink()
                    rates.setdefault((side, procs), []).append(rate)

    claims = lambda x: B.rate(x, "claims/s")  # noqa: E731
    share = {p: B.pairwise(rates[("localtask", p)], rates[("floor", p)], lambda a, b: a / b) for p in (1, 2)}
    report.text(f"""
        {pairs} pairs per number of processes, alternating which side goes first. Each run starts
        from a copy of the same queue of {n:,} tasks and its processes claim, from one start time
        (a barrier after their imports), until the queue is empty; every task must be claimed
        exactly once. Rate: {n:,} ÷ (last claimer's end − first claimer's start).
        localtask: `Store.claim(worker, ['{QUEUE}'])` (one `BEGIN IMMEDIATE` transaction: select the
        queue row by queue order, priority and age, delete it, set the task in progress, read
        the task's row back). Floor: the store's own `tasks` DDL in a WAL database,
        synchronous=NORMAL, one `UPDATE … WHERE seq = (first queued) RETURNING id` per
        `BEGIN IMMEDIATE` transaction.
    """)
    report.measurements([(f"{side}, {p} process{'es' if p > 1 else ''}", B.summary(v), claims)
                         for (side, p), v in rates.items()]
                        + [(f"localtask as % of floor, {p} process{'es' if p > 1 else ''} (per pair)",
                            B.summary(share[p]), B.pct) for p in (1, 2)])
    lines = []
    for p in (1, 2):
        plural = "es" if p > 1 else ""
        med = B.summary(share[p]).median
        lines += [
            B.Line(f"localtask claims/s as a share of the floor's, {p} process{plural} (per pair)",
                   B.summary(share[p]), B.pct, f"≥ {TARGET_SHARE:.0%}", med >= TARGET_SHARE),
            B.Line(f"localtask Store.claim, {p} process{plural}", B.summary(rates[("localtask", p)]), claims),
            B.Line(f"floor: sqlite3 UPDATE … RETURNING, {p} process{plural}", B.summary(rates[("floor", p)]), claims),
        ]
    report.summary(lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
