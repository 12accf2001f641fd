"""Scalar logging: 100k report_scalar calls, first call to after task.close(), durable;
against ClearML offline (report_scalar), MLflow (log_metric, and log_batch) and the floor.

Floor: raw sqlite3 executemany of the same rows (built beforehand) into a table of the same
shape (the store's own DDL) in a WAL database, one transaction.
Target: at least 200k values/s for localtask.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import benchlib as B
import competitors as C

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


# The competitors, each run as a script file in a fresh process; the time is taken as for
# localtask, from the first value to after the run is closed (everything flushed).
CLEARML_CHILD = """\
import json, sys, time
from clearml import Task

n = int(sys.argv[1])
series = {series!r}
task = Task.init(project_name="bench", task_name="scalars"{kwargs})
report = task.get_logger().report_scalar
t0 = time.perf_counter()
for i in range(n):
    title, name = series[i % 4]
    report(title, name, 1.0 / (i + 1), i // 4)
t_loop = time.perf_counter()
task.close()
t1 = time.perf_counter()
print(json.dumps({{"seconds": t1 - t0, "loop": t_loop - t0}}))
"""

MLFLOW_CHILD = """\
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

n, batch = int(sys.argv[1]), sys.argv[2] == "batch"
keys = ["/".join(s) for s in {series!r}]
run = mlflow.start_run(run_name="scalars")
client = MlflowClient()
t0 = time.perf_counter()
if batch:
    pending = []
    for i in range(n):
        pending.append(Metric(keys[i % 4], 1.0 / (i + 1), int(time.time() * 1000), i // 4))
        if len(pending) == 1000:  # MLflow's limit of metrics per log_batch call
            client.log_batch(run.info.run_id, metrics=pending)
            pending = []
    if pending:
        client.log_batch(run.info.run_id, metrics=pending)
else:
    for i in range(n):
        mlflow.log_metric(keys[i % 4], 1.0 / (i + 1), step=i // 4)
mlflow.end_run()
t1 = time.perf_counter()
count = sum(len(client.get_metric_history(run.info.run_id, k)) for k in keys)
print(json.dumps({{"seconds": t1 - t0, "count": count}}))
"""


def clearml_count(env: dict[str, str], stdout: str) -> int:
    """Scalar events in a ClearML offline session (its metrics*.jsonl files)."""
    session = C.clearml_session(env, stdout)
    if session is None:
        raise B.BenchError(f"no ClearML offline session found for the run that printed:\n{stdout}")
    count = 0
    for path in session.glob("metrics*.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                count += sum(1 for ev in json.loads(line) if ev.get("type") == "training_stats_scalar")
    return count


def run_child(code: str, argv: list[str], cwd: Path, env: dict[str, str], n: int) -> float:
    proc = B.run_checked([sys.executable, "-c", code, *argv], cwd=cwd, env=env, timeout=600)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if data["count"] != n:
        raise B.BenchError(f"{data['count']} rows durable after the run, expected {n}")
    return data["seconds"]


LT, FLOOR = "localtask", "floor"
CML, CML_T = "ClearML offline, defaults", "ClearML offline, tuned"
MLF, MLF_B = "MLflow log_metric", "MLflow log_batch"
CLEARML_TIMEOUT = 60.0  # 10k values with defaults take about 25 s here when the run does not hang


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 5_000 if args.quick else 100_000
    # the slow competitors log fewer values; their rate is extrapolated (and the table says so)
    sizes = {LT: n, FLOOR: n, CML: 1_000 if args.quick else 10_000, CML_T: 1_000 if args.quick else 10_000,
             MLF: 200 if args.quick else 2_000, MLF_B: n}
    pairs = args.repeat or (3 if args.quick else 7)
    comp_rounds = 0 if args.no_competitors else min(pairs, args.competitor_runs or (1 if args.quick else 2))
    report = B.Report(NAME, f"Scalars: {n:,} values, localtask vs ClearML offline vs MLflow vs raw sqlite3", args)
    py = sys.executable
    lt_code = LOCALTASK_CHILD.format(series=SERIES)
    floor_code = FLOOR_CHILD.format(ddl=B.store_ddl("scalars"), series=SERIES)
    times: dict[str, list[float | None]] = {}
    hung: dict[str, int] = {}
    absent: dict[str, str] = {}
    loops: dict[str, list[float]] = {}  # ClearML: seconds of the report_scalar calls alone
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        base_env = B.isolated_env(tmp)
        # label -> a function of the round running one measurement: seconds, or None if it hung
        sides: dict = {}

        def localtask_run(i: int) -> float:
            return run_child(lt_code, [str(n)], tmp, B.isolated_env(tmp, tmp / f"home-{i}"), n)

        def floor_run(i: int) -> float:
            return run_child(floor_code, [str(n), str(tmp / f"floor-{i}.db")], tmp, base_env, n)

        sides[LT], sides[FLOOR] = localtask_run, floor_run
        if not comp_rounds:
            absent.update(dict.fromkeys((CML, CML_T, MLF, MLF_B), "not run: --no-competitors"))
        if comp_rounds and C.installed("clearml"):
            for label, tuned in ((CML, False), (CML_T, True)):
                script = tmp / ("clearml_tuned.py" if tuned else "clearml_defaults.py")
                script.write_text(CLEARML_CHILD.format(series=SERIES, kwargs=", " + C.CLEARML_TUNED_KWARGS if tuned else ""))
                env = C.clearml_env(base_env, tmp, tuned=tuned)

                def clearml_run(i: int, script=script, env=env, label=label) -> float | None:
                    result = B.run_limited([py, script.name, str(sizes[label])], cwd=tmp, env=env,
                                           timeout=CLEARML_TIMEOUT)
                    if result is None:
                        return None
                    out = result[1]
                    count = clearml_count(env, out)
                    if count != sizes[label]:
                        raise B.BenchError(f"{label}: {count} values in its offline session, expected {sizes[label]}")
                    data = json.loads(out.strip().splitlines()[-1])
                    loops.setdefault(label, []).append(data["loop"])
                    return data["seconds"]

                sides[label] = clearml_run
        elif comp_rounds:
            absent[CML] = absent[CML_T] = C.INSTALL_HINT
        if comp_rounds and C.installed("mlflow"):
            script = tmp / "mlflow_child.py"
            script.write_text(MLFLOW_CHILD.format(series=SERIES))
            env = C.mlflow_env(base_env, tmp)
            for label, mode in ((MLF, "metric"), (MLF_B, "batch")):
                def mlflow_run(i: int, label=label, mode=mode) -> float:
                    proc = B.run_checked([py, script.name, str(sizes[label]), mode], cwd=tmp, env=env, timeout=600)
                    data = json.loads(proc.stdout.strip().splitlines()[-1])
                    if data["count"] != sizes[label]:
                        raise B.BenchError(f"{label}: {data['count']} values durable, expected {sizes[label]}")
                    return data["seconds"]

                sides[label] = mlflow_run
            B.progress(f"{NAME}: warming up MLflow (bytecode, database)")
            B.run_checked([py, script.name, "10", "batch"], cwd=tmp, env=env, timeout=600)
        elif comp_rounds:
            absent[MLF] = absent[MLF_B] = C.INSTALL_HINT
        if CML_T in sides:
            B.progress(f"{NAME}: warming up ClearML (bytecode)")
            sides[CML_T](-1)
            loops.clear()

        times = {k: [None] * pairs for k in sides}
        hung = dict.fromkeys(sides, 0)
        for i, _ in B.rotations([LT, FLOOR], pairs):
            names = list(sides) if i < comp_rounds else [LT, FLOOR]
            order = [names[(i + j) % len(names)] for j in range(len(names))]
            B.progress(f"{NAME}: round {i + 1}/{pairs}" + (" (with competitors)" if i < comp_rounds else ""))
            for side in order:
                seconds = sides[side](i)
                if seconds is None:  # counted at the limit: its rate is at most that
                    B.progress(f"{NAME}: {side} still running after {CLEARML_TIMEOUT:.0f} s: killed")
                    hung[side] += 1
                    seconds = CLEARML_TIMEOUT
                times[side][i] = seconds

    rates = {k: [sizes[k] / s for s in v if s is not None] for k, v in times.items()}
    values = lambda x: B.rate(x, "values/s")  # noqa: E731

    def per_round(a: str, b: str) -> list[float]:
        return [(sizes[a] / x) / (sizes[b] / y) for x, y in zip(times.get(a, []), times.get(b, []))
                if x is not None and y is not None]

    share = per_round(LT, FLOOR)
    report.text(f"""
        {pairs} rounds, each side in a fresh process, in rotating order; a fresh store / database
        per localtask and floor run. localtask logs {n:,} values over 4 series: from the first
        `report_scalar` to after `task.close()`, then the rows are counted with
        `Store.count_scalars`. Floor: the same rows, built before the clock starts, inserted with
        one `executemany` in one transaction into the store's own `scalars` DDL, WAL,
        synchronous=NORMAL. The competitors run in the first {comp_rounds} rounds, timed the same
        way (first value to after the run is closed) and their values counted afterwards in
        what they wrote: ClearML offline ({sizes[CML]:,} values, `report_scalar`, then `close()`;
        tuned: {C.CLEARML_TUNING}; the values counted in the session's metrics jsonl), MLflow with
        a SQLite tracking URI (`log_metric` one value at a time: only {sizes[MLF]:,} values, it
        manages about a hundred a second; `log_batch` of 1,000 metrics per call, MLflow's limit:
        {sizes[MLF_B]:,} values; counted with `get_metric_history`). A rate is the values logged
        divided by the time, fixed costs included: ClearML's `close()` with its defaults takes
        about 10 s whatever the count, so its rate over {sizes[CML]:,} values is lower than over
        {n:,}; the rate of its `report_scalar` calls alone (close excluded) is shown too.
    """)
    rows = [(f"{k} ({sizes[k]:,} values)", B.summary(v), values) for k, v in rates.items() if v]
    rows += [(f"{k} elapsed ({sizes[k]:,} values)", B.summary([s for s in v if s is not None]), B.ms)
             for k, v in times.items() if any(s is not None for s in v)]
    rows += [(f"{k}: report_scalar calls alone, close excluded ({sizes[k]:,} values)",
              B.summary([sizes[k] / t for t in v]), values) for k, v in loops.items() if v]
    rows.append(("localtask as % of floor (per round)", B.summary(share), B.pct))
    report.measurements(rows)
    if any(hung.values()):
        report.text("Hung runs: " + "; ".join(f"{k}: {v} of {comp_rounds}" for k, v in hung.items() if v)
                    + f". {C.CLEARML_HANG}.")
    med = B.summary(rates[LT]).median
    lines = [
        B.Line(f"localtask report_scalar → close, durable ({n:,} values)", B.summary(rates[LT]), values,
               f"≥ {TARGET_RATE // 1000}k values/s", med >= TARGET_RATE),
        B.Line(f"floor: sqlite3 executemany ({n:,} values)", B.summary(rates[FLOOR]), values),
        B.Line("localtask as % of the floor (per round)", B.summary(share), B.pct),
    ]
    for label in (CML, CML_T, MLF, MLF_B):
        capped = f"{sizes[label]:,} values" + (f", capped: not {n:,}" if sizes[label] < n else "")
        note = absent.get(label) or capped + (
            f"; {hung[label]} of {comp_rounds} runs hung, counted at their {CLEARML_TIMEOUT:.0f} s limit: "
            "an upper bound of the rate" if hung.get(label) else "")
        lines.append(B.Line(label, B.summary_or_none(rates.get(label, [])), values, note=note))
        if loops.get(label):
            lines.append(B.Line(f"{label}: the report_scalar calls alone, close() excluded",
                                B.summary([sizes[label] / t for t in loops[label]]), values))
    for label in (CML, CML_T, MLF, MLF_B):
        ratio = per_round(LT, label)
        note = absent.get(label) or ("hung runs at their limit: a lower bound" if hung.get(label) else "")
        lines.append(B.Line(f"localtask faster than {label} (per round)", B.summary_or_none(ratio), B.times,
                            note=note))
    report.summary(lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
