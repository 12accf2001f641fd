"""What recording a run costs a short script: whole-process wall time of localtask, ClearML
(offline mode) and MLflow (SQLite tracking URI) against `python -c pass`.

Targets: a process that runs Task.init + connect({'lr': 0.1, 'epochs': 3}) + close, in a git
repository of ~300 files with one uncommitted change and one untracked file, takes at most
60 ms more than `python -c pass` (median of the per-round differences), and is at least 10x
faster than ClearML offline doing the same (median of the per-round ratios). The hooks of the
configuration frameworks (Hydra, click, typer, fire, jsonargparse) cost a script that imports
none of them nothing measurable: their install and the finder's look at 1,000 later imports,
timed inside the process, take at most 3 ms (the same script with them off,
``LOCALTASK_NO_FRAMEWORKS=1``, is timed too, whole process: its difference is a process's noise).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import benchlib as B
import competitors as C

NAME = "init_overhead"
TARGET_MS = 60.0
TARGET_RATIO = 10.0
TARGET_HOOKS_MS = 3.0
CLEARML_TIMEOUT = 40.0  # a run with defaults takes 3-20 s here when it does not hang

CLEARML_SCRIPT = """\
from clearml import Task

task = Task.init(project_name="bench", task_name="init overhead"{kwargs})
task.connect({{"lr": 0.1, "epochs": 3}})
task.close()
"""

MLFLOW_SCRIPT = """\
import mlflow

mlflow.start_run(run_name="init overhead")
mlflow.log_params({"lr": 0.1, "epochs": 3})
mlflow.end_run()
"""

INIT_SCRIPT = """\
from localtask import Task

task = Task.init(project_name="bench", task_name="init overhead")
task.connect({"lr": 0.1, "epochs": 3})
task.close()
print("TASK_ID=" + task.id)
"""

# The same work, with the time of each phase taken inside the process.
PHASES_SCRIPT = """\
import time
T0 = time.time()
t0 = time.perf_counter()
from localtask import Task
t1 = time.perf_counter()
task = Task.init(project_name="bench", task_name="init phases")
t2 = time.perf_counter()
task.connect({"lr": 0.1, "epochs": 3})
t3 = time.perf_counter()
task.close()
t4 = time.perf_counter()
import json
print(json.dumps({"T0": T0, "import": t1 - t0, "init": t2 - t1, "connect": t3 - t2,
                  "close": t4 - t3, "body": t4 - t0}))
"""

# The framework hooks alone, timed inside the process: their install at the import of localtask
# (with none of the frameworks imported) and the finder's look at each import made after it.
HOOKS_SCRIPT = """\
import json, os, time
import localtask
from localtask import frameworks, import_hooks
os.environ.pop("LOCALTASK_NO_FRAMEWORKS")
t0 = time.perf_counter()
frameworks.install()
t1 = time.perf_counter()
n = 20000
for _ in range(n):
    import_hooks._finder.find_spec("numpy.core.multiarray")
t2 = time.perf_counter()
print(json.dumps({"install": t1 - t0, "per_import": (t2 - t1) / n}))
"""

UNTRACKED = "notes/untracked.txt"
CHANGED = "pkg00/mod00.py"


def repo_files() -> dict[str, str]:
    """~300 small files: 10 packages of 20 modules, 100 text files, the two scripts."""
    files: dict[str, str] = {".gitignore": "__pycache__/\n*.log\nmlruns/\n"}
    for p in range(10):
        files[f"pkg{p:02d}/__init__.py"] = ""
        for m in range(19):
            files[f"pkg{p:02d}/mod{m:02d}.py"] = (
                f'"""Module {m} of package {p}."""\n\n\ndef f{m}(x):\n    return x * {m} + {p}\n')
    for t in range(100):
        files[f"data/notes{t:03d}.txt"] = f"note {t}\n" + "lorem ipsum dolor sit amet\n" * 5
    files["train.py"] = INIT_SCRIPT
    files["phases.py"] = PHASES_SCRIPT
    files["hooks.py"] = HOOKS_SCRIPT
    files["clearml_train.py"] = CLEARML_SCRIPT.format(kwargs="")
    files["clearml_tuned.py"] = CLEARML_SCRIPT.format(kwargs=", " + C.CLEARML_TUNED_KWARGS)
    files["mlflow_train.py"] = MLFLOW_SCRIPT
    return files


def index_fingerprint(repo: Path) -> tuple[str, int]:
    index = repo / ".git" / "index"
    return hashlib.sha256(index.read_bytes()).hexdigest(), index.stat().st_mtime_ns


def timed(cmd: list[str], repo: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = B.run_checked(cmd, cwd=repo, env=env)
    return time.perf_counter() - t0, proc.stdout


PASS = "python -c pass"
IMPORT = "python -c 'import localtask'"
LT = "localtask: Task.init + connect + close"
LT_NOFW = "localtask, framework hooks off (LOCALTASK_NO_FRAMEWORKS=1)"
CML = "ClearML offline, defaults"
CML_T = "ClearML offline, tuned"
MLF = "MLflow, SQLite tracking URI"


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    rounds = args.repeat or (3 if args.quick else 15)
    comp_rounds = 0 if args.no_competitors else min(rounds, args.competitor_runs or (1 if args.quick else 3))
    phase_runs = 2 if args.quick else 5
    report = B.Report(NAME, "Recording a run: whole process, localtask vs ClearML offline vs MLflow vs "
                            "`python -c pass`", args)
    py = sys.executable
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        env = B.isolated_env(tmp, home)
        # label -> (command, environment, time limit or None)
        runs: dict[str, tuple[list[str], dict[str, str], float | None]] = {
            PASS: ([py, "-c", "pass"], env, None),
            IMPORT: ([py, "-c", "import localtask"], env, None),
            LT: ([py, "train.py"], env, None),
            LT_NOFW: ([py, "train.py"], dict(env, LOCALTASK_NO_FRAMEWORKS="1"), None),
        }
        absent: dict[str, str] = {}
        if comp_rounds and C.installed("clearml"):
            runs[CML] = ([py, "clearml_train.py"], C.clearml_env(env, tmp, tuned=False), CLEARML_TIMEOUT)
            runs[CML_T] = ([py, "clearml_tuned.py"], C.clearml_env(env, tmp, tuned=True), CLEARML_TIMEOUT)
        else:
            absent[CML] = absent[CML_T] = C.INSTALL_HINT if comp_rounds else "not run: --no-competitors"
        if comp_rounds and C.installed("mlflow"):
            runs[MLF] = ([py, "mlflow_train.py"], C.mlflow_env(env, tmp), 120.0)
        else:
            absent[MLF] = C.INSTALL_HINT if comp_rounds else "not run: --no-competitors"
        cheap = [PASS, IMPORT, LT, LT_NOFW]
        files = repo_files()
        repo = B.make_repo(tmp / "repo", files, env)
        (repo / CHANGED).write_text(files[CHANGED] + "\nCHANGED = True\n")
        (repo / UNTRACKED).parent.mkdir()
        (repo / UNTRACKED).write_text("an untracked, not ignored file\n")
        index_kept = True

        B.progress(f"{NAME}: warming up (store, package index cache, bytecode, MLflow's database)")
        for label in cheap:
            timed(runs[label][0], repo, runs[label][1])
        for label, module in ((CML_T, "clearml"), (MLF, "mlflow")):
            if label in runs:  # compile the competitor's bytecode; MLflow: create its database
                B.run_checked([py, "-c", f"import {module}"], cwd=repo, env=runs[label][1])
                B.run_limited(runs[label][0], cwd=repo, env=runs[label][1], timeout=300)

        times: dict[str, list[float | None]] = {k: [None] * rounds for k in runs}
        hung: dict[str, int] = dict.fromkeys(runs, 0)
        last_out: dict[str, str] = {}
        for i, _ in B.rotations(cheap, rounds):
            names = list(runs) if i < comp_rounds else cheap
            order = [names[(i + j) % len(names)] for j in range(len(names))]
            B.progress(f"{NAME}: round {i + 1}/{rounds}" + (" (with competitors)" if i < comp_rounds else ""))
            for label in order:
                cmd, run_env, limit = runs[label]
                if label == LT:  # competitors' `git status` refreshes the index: check only ours
                    before = index_fingerprint(repo)
                    elapsed, out = timed(cmd, repo, run_env)
                    index_kept = index_kept and index_fingerprint(repo) == before
                elif limit is None:
                    elapsed, out = timed(cmd, repo, run_env)
                else:
                    result = B.run_limited(cmd, cwd=repo, env=run_env, timeout=limit)
                    if result is None:  # counted at the limit: a lower bound of its time
                        B.progress(f"{NAME}: {label} still running after {limit:.0f} s: killed")
                        hung[label] += 1
                        times[label][i] = limit
                        continue
                    elapsed, out = result
                times[label][i] = elapsed
                last_out[label] = out

        B.progress(f"{NAME}: phases inside the process ({phase_runs} runs)")
        phases: dict[str, list[float]] = {k: [] for k in
                                          ("startup", "import", "init", "connect", "close", "exit")}
        for _ in range(phase_runs):
            before = time.time()
            wall, out = timed([py, "phases.py"], repo, env)
            data = json.loads(out.strip().splitlines()[-1])
            phases["startup"].append(data["T0"] - before)
            for key in ("import", "init", "connect", "close"):
                phases[key].append(data[key])
            phases["exit"].append(wall - (data["T0"] - before) - data["body"])

        B.progress(f"{NAME}: the framework hooks inside the process ({phase_runs} runs)")
        hook_install, hook_per_import = [], []
        for _ in range(phase_runs):
            _, out = timed([py, "hooks.py"], repo, dict(env, LOCALTASK_NO_FRAMEWORKS="1"))
            data = json.loads(out.strip().splitlines()[-1])
            hook_install.append(data["install"])
            hook_per_import.append(data["per_import"])

        recorded = {LT: localtask_recorded(home, last_out[LT])}
        for label in (CML, CML_T):
            if label in runs:
                recorded[label] = C.clearml_recorded(
                    C.clearml_session(runs[label][1], last_out.get(label, "")), CHANGED, UNTRACKED)
        if MLF in runs:
            out = B.run_checked([py, "-c", C.MLFLOW_INSPECT], cwd=repo, env=runs[MLF][1]).stdout
            recorded[MLF] = C.mlflow_recorded(json.loads(out.strip().splitlines()[-1]))

    def done(label: str) -> list[float]:
        return [t for t in times.get(label, []) if t is not None]

    def per_round(a: str, b: str, op) -> list[float]:
        return [op(x, y) for x, y in zip(times.get(a, []), times.get(b, [])) if x is not None and y is not None]

    overhead = per_round(LT, PASS, lambda a, b: a - b)
    hooks = per_round(LT, LT_NOFW, lambda a, b: a - b)
    import_overhead = per_round(IMPORT, PASS, lambda a, b: a - b)
    rows = [(label, B.summary(done(label)), B.ms) for label in runs if done(label)]
    rows += [("import localtask − pass (per round)", B.summary(import_overhead), B.ms),
             ("**localtask init script − pass (per round)**", B.summary(overhead), B.ms),
             ("framework hooks on − off, no framework imported (per round)", B.summary(hooks), B.ms)]
    for label in (CML, CML_T, MLF):
        if done(label):
            rows.append((f"{label} − pass (per round)", B.summary(per_round(label, PASS, lambda a, b: a - b)), B.ms))
    report.text(f"""
        Whole-process wall time (`subprocess.run` of `{Path(py).name}`), {rounds} rounds; each round
        runs every command once in rotating order, and differences and ratios are taken within a
        round. The competitors run in the first {comp_rounds} rounds only (they take seconds each).
        Repository: {len(files)} committed files, one of them changed (`{CHANGED}`), one untracked
        file (`{UNTRACKED}`). Fresh localtask store, warmed by one run of each command first; the
        competitors' bytecode is compiled and MLflow's database created (warm) before timing.
        ClearML runs in offline mode (`CLEARML_OFFLINE_MODE=1`, a fresh HOME); "tuned" is
        {C.CLEARML_TUNING}. MLflow: `MLFLOW_TRACKING_URI=sqlite:///…`, `start_run` + `log_params`
        + `end_run`. A competitor's run still going after its time limit ({CLEARML_TIMEOUT:.0f} s for
        ClearML) is killed and counted as hung, at its time limit: a lower bound of its time.
    """)
    report.measurements(rows)
    if any(hung.values()):
        report.text("Hung runs: " + "; ".join(f"{label}: {n} of {comp_rounds}" for label, n in hung.items() if n)
                    + f". {C.CLEARML_HANG}.")
    report.text("Inside the localtask process (the same work, timed with perf_counter; startup = spawn "
                "to the script's first statement, exit = what is left of the wall time: interpreter "
                "shutdown, atexit):")
    report.measurements([(f"{k}", B.summary(v), B.ms) for k, v in phases.items()])
    report.text("The framework hooks inside the process (no framework imported): their install at the "
                "import of localtask, and the finder's look at each module imported after it:")
    report.measurements([("install", B.summary(hook_install), micro),
                         ("per later import", B.summary(hook_per_import), micro)])
    report.text("What each recorded (last run), read back from what it wrote:")
    items = (("where", "where it is"), ("commit", "commit"), ("diff", "uncommitted diff"),
             ("changed", f"the change to `{CHANGED}`"), ("untracked", f"the untracked `{UNTRACKED}`"),
             ("packages", "packages"), ("parameters", "parameters"))
    labels = list(recorded)
    report.text(B.md_table(("item", *labels), [
        (title, *(str(recorded[label].get(key, "—")) for label in labels)) for key, title in items]
        + [("user's git index untouched (localtask)", "yes" if index_kept else "NO (changed)",
            *("" for _ in labels[1:]))]))

    lt = recorded[LT]
    recorded_ok = lt["changed"] == "yes" and lt["untracked"] == "yes" and lt["status"] == "completed"
    med = B.summary(overhead).median
    lines = [
        B.Line("localtask init script − `python -c pass` (per round)", B.summary(overhead), B.ms,
               f"≤ {TARGET_MS:.0f} ms", med * 1000 <= TARGET_MS),
        B.Line("localtask: whole process", B.summary(done(LT)), B.ms),
        B.Line("framework hooks on − off, no framework imported (per round)", B.summary(hooks), B.ms),
        B.Line("framework hooks: install + 1,000 later imports, inside the process",
               B.summary([i + 1000 * f for i, f in zip(hook_install, hook_per_import)]), B.ms,
               f"≤ {TARGET_HOOKS_MS:.0f} ms",
               B.summary([i + 1000 * f for i, f in zip(hook_install, hook_per_import)]).median * 1000
               <= TARGET_HOOKS_MS),
        B.Line("`python -c pass`", B.summary(done(PASS)), B.ms),
    ]
    for label in (CML, CML_T, MLF):
        note = absent.get(label) or (f"{hung[label]} of {comp_rounds} runs hung, counted at their "
                                     f"{runs[label][2]:.0f} s limit: a lower bound" if hung.get(label) else "")
        lines.append(B.Line(f"{label}: whole process", B.summary_or_none(done(label)), B.ms, note=note))
    for label in (CML, CML_T, MLF):
        ratio = per_round(label, LT, lambda a, b: a / b)
        target = f"≥ {TARGET_RATIO:.0f}×" if label != MLF else ""
        note = absent.get(label) or ("hung runs at their limit: a lower bound" if hung.get(label) else "")
        lines.append(B.Line(f"localtask faster than {label} (per round)", B.summary_or_none(ratio), B.times,
                            target, (B.summary(ratio).median >= TARGET_RATIO) if ratio and target else None,
                            note=note))
    lines.append(B.Line("localtask's diff holds the change and the untracked file; task completed", None, str,
                        "yes", recorded_ok, text="yes" if recorded_ok else "no"))
    report.summary(lines)
    report.finish()
    return 0


def micro(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


def localtask_recorded(home: Path, stdout: str) -> dict[str, str]:
    from localtask import Store

    store = Store.open(home)
    task_id = stdout.strip().split("TASK_ID=")[-1]
    row = store.get_task(task_id)
    script, environment = row["script"], row["environment"]
    diff_files = script.get("diff_files") or []
    params = {f"{p['section']}/{p['name']}": p["value"] for p in store.get_parameters(task_id)}
    packages = environment.get("packages") or []
    return {
        "status": row["status"],
        "where": f"<home>/localtask.db ({store.count_tasks()} tasks in the store)",
        "commit": (script.get("commit") or "none")[:12],
        "diff": f"{script.get('diff_size')} bytes, files: {', '.join(diff_files)}",
        "changed": "yes" if CHANGED in diff_files else "NO",
        "untracked": "yes" if UNTRACKED in diff_files else "NO",
        "packages": f"{len(packages)}: " + ", ".join(f"{p['name']}=={p['version']}" for p in packages),
        "parameters": ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
    }


if __name__ == "__main__":
    sys.exit(main())
