"""Reports in a training loop: the cost of ClearML's plot and debug-sample calls on the loop,
localtask against ClearML offline running the same script (only the import differs).

Each iteration reports 4 scalars; every 20th also a 50-bin histogram and a 10-row table,
every 100th a 64x64 image. The loop's time with the reports is set against the same loop
with its scalars only, in the same process kind: the difference, per report call, is what a
report costs the training loop (first-call imports such as Pillow's included). Target: at
most 1 ms per report call, and close (everything durable) at most 1 s longer than with
scalars only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import benchlib as B
import competitors as C

NAME = "reports"
TARGET_PER_CALL = 0.001
TARGET_CLOSE = 1.0

# {module} is localtask or clearml: the script is otherwise the same.
CHILD = """\
import json, sys, time
import numpy as np
from {module} import Task

n, with_reports = int(sys.argv[1]), sys.argv[2] == "1"
task = Task.init(project_name="bench", task_name="reports"{kwargs})
log = task.get_logger()
rng = np.random.default_rng(0)
values = rng.normal(size=1000)
image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
table = [["epoch", "loss", "acc"]] + [[i, 1.0 / (i + 1), i / 10] for i in range(10)]
plots = samples = 0
t0 = time.perf_counter()
for i in range(n):
    for s in ("a", "b", "c", "d"):
        log.report_scalar("loss", s, 1.0 / (i + 1), i)
    if with_reports and i % 20 == 0:
        log.report_histogram("weights", "w", values=np.histogram(values, bins=50)[0], iteration=i)
        log.report_table("metrics", "m", iteration=i, table_plot=table)
        plots += 2
    if with_reports and i % 100 == 0:
        log.report_image("input", "x", iteration=i, image=image)
        samples += 1
t_loop = time.perf_counter()
task.close()
t1 = time.perf_counter()
print(json.dumps({{"loop": t_loop - t0, "close": t1 - t_loop, "plots": plots, "samples": samples,
                   "id": str(task.id)}}))
"""

LT, LT_S = "localtask, scalars + reports", "localtask, scalars only"
CML, CML_S = "ClearML offline tuned, scalars + reports", "ClearML offline tuned, scalars only"


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 500 if args.quick else 5_000
    pairs = args.repeat or (2 if args.quick else 5)
    comp_rounds = 0 if args.no_competitors else min(pairs, args.competitor_runs or (1 if args.quick else 2))
    report = B.Report(NAME, f"Reports in a training loop: {n:,} iterations, localtask vs ClearML offline", args)
    py = sys.executable
    results: dict[str, list[dict]] = {}
    absent = ""
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        base_env = B.isolated_env(tmp)
        lt_script = tmp / "lt_child.py"
        lt_script.write_text(CHILD.format(module="localtask", kwargs=", auto_connect_streams=False"))
        sides = {}

        def localtask_side(flag: str):
            def run(i: int) -> dict:
                env = B.isolated_env(tmp, tmp / f"home-{flag}-{i}")
                proc = B.run_checked([py, lt_script.name, str(n), flag], cwd=tmp, env=env, timeout=600)
                data = json.loads(proc.stdout.strip().splitlines()[-1])
                check = B.run_checked([py, "-c", "import sys; from localtask import Task; t = Task.get_task(sys.argv[1]);"
                                       " print(len(t.get_reported_plots()), len(t.get_debug_samples()))", data["id"]],
                                      cwd=tmp, env=env, timeout=120)
                stored = [int(x) for x in check.stdout.split()]
                if stored != [data["plots"], data["samples"]]:
                    raise B.BenchError(f"localtask stored {stored} plots/samples, expected {data['plots']}, {data['samples']}")
                return data
            return run

        sides[LT], sides[LT_S] = localtask_side("1"), localtask_side("0")
        if comp_rounds and C.installed("clearml"):
            cml_script = tmp / "clearml_child.py"
            cml_script.write_text(CHILD.format(module="clearml", kwargs=", " + C.CLEARML_TUNED_KWARGS))
            env = C.clearml_env(base_env, tmp, tuned=True)

            def clearml_side(flag: str):
                def run(i: int) -> dict | None:
                    result = B.run_limited([py, cml_script.name, str(n), flag], cwd=tmp, env=env, timeout=120)
                    return None if result is None else json.loads(result[1].strip().splitlines()[-1])
                return run

            sides[CML], sides[CML_S] = clearml_side("1"), clearml_side("0")
            B.progress(f"{NAME}: warming up ClearML (bytecode)")
            sides[CML_S](-1)
        elif comp_rounds:
            absent = C.INSTALL_HINT
        else:
            absent = "not run: --no-competitors"
        results = {k: [] for k in sides}
        for i, _ in B.rotations([LT, LT_S], pairs):
            names = list(sides) if i < comp_rounds else [LT, LT_S]
            order = [names[(i + j) % len(names)] for j in range(len(names))]
            B.progress(f"{NAME}: round {i + 1}/{pairs}")
            for side in order:
                data = sides[side](i)
                if data is not None:
                    results[side].append(data)

    def loops(k):
        return [d["loop"] for d in results.get(k, [])]

    def closes(k):
        return [d["close"] for d in results.get(k, [])]

    def per_call(a, b):
        calls = [d["plots"] + d["samples"] for d in results.get(a, [])]
        return [(x - y) / c for x, y, c in zip(loops(a), loops(b), calls) if c]

    def extra_close(a, b):
        return [x - y for x, y in zip(closes(a), closes(b))]

    report.text(f"""
        {pairs} rounds, each run in a fresh process with a fresh store, in rotating order. The
        script logs {n:,} iterations of 4 scalars; with reports, every 20th iteration adds a
        50-bin `report_histogram` and a 10-row `report_table`, every 100th a 64x64
        `report_image` (numpy). The loop is timed from the first report to the last call;
        close from `task.close()` to its return (localtask: everything durable in the store;
        the plots and samples are counted afterwards from another process). ClearML offline
        runs the same script with `from clearml import Task` in the first {comp_rounds} rounds
        ({C.CLEARML_TUNING}).
    """)
    rows = []
    for k in results:
        if results[k]:
            rows.append((f"{k}: loop", B.summary(loops(k)), B.ms))
            rows.append((f"{k}: close", B.summary(closes(k)), B.ms))
    report.measurements(rows)
    lt_cost = per_call(LT, LT_S)
    lt_close = extra_close(LT, LT_S)
    lines = [
        B.Line("localtask: loop time per report call (per round)", B.summary(lt_cost), B.ms,
               f"≤ {TARGET_PER_CALL * 1000:.0f} ms", B.summary(lt_cost).median <= TARGET_PER_CALL),
        B.Line("localtask: close() longer with the reports (per round)", B.summary(lt_close), B.ms,
               f"≤ {TARGET_CLOSE:.0f} s", B.summary(lt_close).median <= TARGET_CLOSE),
        B.Line(f"{LT}: loop", B.summary(loops(LT)), B.ms),
    ]
    cml_cost = per_call(CML, CML_S)
    lines.append(B.Line("ClearML offline: loop time per report call", B.summary_or_none(cml_cost), B.ms,
                        note=absent))
    ratio = [c / lt for lt, c in zip(loops(LT), loops(CML))]
    lines.append(B.Line("localtask's loop with reports faster than ClearML's (per round)",
                        B.summary_or_none(ratio), B.times, note=absent))
    report.summary(lines)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
