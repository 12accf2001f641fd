"""The competitors: ClearML in offline mode, MLflow with a SQLite tracking URI, huey's
SqliteHuey. Each runs with its documented defaults, plus a second row with its best tuning
where one exists.

Only child processes import a competitor, so the benchmark process stays light and a
competitor that is not installed turns its rows into "not installed" instead of failing the
run (`pip install -e ".[bench]"` installs all three).
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

INSTALL_HINT = 'not installed: pip install -e ".[bench]"'

# --------------------------------------------------------------------------- ClearML
#: What "ClearML, tuned" changes. Task.init's documented switches turn off repository detection
#: (the background git + import analysis) and the resource monitor; the configuration key
#: sdk.development.report_use_subprocess (read by clearml, absent from its sample config)
#: makes it report from a thread instead of a forked reporting process.
CLEARML_TUNED_KWARGS = 'auto_connect_frameworks={"detect_repository": False}, auto_resource_monitoring=False'
CLEARML_TUNED_CONF = "sdk {\n  development {\n    report_use_subprocess: false\n  }\n}\n"
CLEARML_TUNING = ("`Task.init(..., auto_connect_frameworks={'detect_repository': False}, "
                  "auto_resource_monitoring=False)` + `sdk.development.report_use_subprocess: false` "
                  "in a `CLEARML_CONFIG_FILE`")
#: Why a ClearML run with its defaults can hang (seen here in most init runs): its repository
#: detection thread runs `git` while ClearML forks its reporting process; the fork inherits the
#: pipes of that `git` call, the thread waits for their end until the reporting process exits,
#: and close() waits for the thread, up to its 300 s limit.
CLEARML_HANG = ("hung: close() waits up to 300 s for ClearML's repository detection thread, "
                "stuck reading a pipe of its `git` call that ClearML's forked reporting process "
                "inherited")
_TASK_ID = re.compile(r"task id=(offline-[0-9a-f]+)")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def clearml_env(env: dict[str, str], tmp: Path, *, tuned: bool) -> dict[str, str]:
    """ClearML offline mode, with a HOME of its own (it writes ~/.clearml) and, tuned, the
    configuration file of CLEARML_TUNED_CONF."""
    home = tmp / ("clearml-home-tuned" if tuned else "clearml-home")
    home.mkdir(exist_ok=True)
    out = dict(env, HOME=str(home), CLEARML_OFFLINE_MODE="1")
    if tuned:
        conf = tmp / "clearml-tuned.conf"
        conf.write_text(CLEARML_TUNED_CONF)
        out["CLEARML_CONFIG_FILE"] = str(conf)
    return out


def clearml_session(env: dict[str, str], stdout: str) -> Path | None:
    """The offline session folder of the run that printed ``stdout``."""
    found = _TASK_ID.search(stdout)
    if not found:
        return None
    folder = Path(env["HOME"]) / ".clearml" / "cache" / "offline" / found.group(1)
    return folder if folder.is_dir() else None


def clearml_recorded(session: Path | None, changed: str, untracked: str) -> dict[str, str]:
    """What a ClearML offline session holds, read from its task.json."""
    if session is None:
        return {"where": "no session folder found"}
    data = json.loads((session / "task.json").read_text())
    script = data.get("script") or {}
    diff = script.get("diff") or ""
    pip = str((script.get("requirements") or {}).get("pip") or "")
    packages = [line.strip() for line in pip.splitlines() if line.strip() and not line.startswith("#")]
    params = (data.get("hyperparams") or {}).get("General") or {}
    zipped = session.with_name(session.name + ".zip")
    return {
        "where": f"~/.clearml/cache/offline/{session.name}/ (task.json, *.jsonl)"
                 + (" + .zip" if zipped.exists() else ""),
        "commit": (script.get("version_num") or "none")[:12],
        "diff": f"{len(diff)} bytes" if diff else "none",
        "changed": "yes" if f"a/{changed}" in diff else "NO",
        "untracked": "yes" if f"b/{untracked}" in diff else "NO",
        "packages": f"{len(packages)}: " + ", ".join(packages) if packages else "none",
        "parameters": ", ".join(f"{k}={v.get('value')}" for k, v in sorted(params.items())) or "none",
    }


# --------------------------------------------------------------------------- MLflow
def mlflow_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """MLflow's documented MLFLOW_TRACKING_URI pointing at a SQLite file (its default would be
    a ./mlruns folder), with a HOME of its own."""
    home = tmp / "mlflow-home"
    home.mkdir(exist_ok=True)
    return dict(env, HOME=str(home), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}")


#: Prints the tags and parameters of the newest run, as JSON.
MLFLOW_INSPECT = """\
import json
from mlflow import MlflowClient

run = MlflowClient().search_runs(["0"], order_by=["attributes.start_time DESC"], max_results=1)[0]
print(json.dumps({"tags": run.data.tags, "params": run.data.params}))
"""


def mlflow_recorded(data: dict | None) -> dict[str, str]:
    if data is None:
        return {"where": "no run found"}
    tags = data["tags"]
    return {
        "where": "the SQLite database (runs, tags, params tables)",
        "commit": (tags.get("mlflow.source.git.commit") or "none")[:12],
        "diff": "none (tags: " + ", ".join(sorted(k for k in tags if k.startswith("mlflow.source"))) + ")",
        "changed": "NO",
        "untracked": "NO",
        "packages": "none",
        "parameters": ", ".join(f"{k}={v}" for k, v in sorted(data["params"].items())) or "none",
    }


# --------------------------------------------------------------------------- huey
#: A module defining a SqliteHuey and the task the queue benchmark enqueues: its first
#: statement takes the time and writes it to <out>/<key>.t.
HUEY_MODULE = '''\
import os, time
from huey import SqliteHuey

huey = SqliteHuey(filename={db!r})


@huey.task()
def touch(key):
    t = time.time()
    path = os.path.join({out!r}, key + ".t")
    with open(path + ".tmp", "w") as fh:
        fh.write(repr(t))
    os.replace(path + ".tmp", path)
'''
#: huey_consumer's documented polling options, tuned: poll every 10 ms, never back off (the
#: defaults start at 100 ms and back off by 1.15x per empty poll up to 10 s).
HUEY_TUNED_ARGS = ["--delay", "0.01", "--backoff", "1", "--max-delay", "0.01"]
