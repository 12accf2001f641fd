"""compare_tasks on tasks recorded by real runs in a real store: each aspect's verdict and where
it says two tasks differ; console normalisation; tolerances."""
from __future__ import annotations

import json

import pytest

from helpers_worker import cli, make_repo, recorded_id, run_script
from localtask import Store
from localtask.compare import CLOSE, DIFFER, IDENTICAL, compare_tasks, normalise_console

SCRIPT = """\
import os, sys, time
from localtask import Task

task = Task.init(project_name="cmp", task_name="run")
params = task.connect({"lr": 0.1, "shift": float(os.environ.get("SHIFT", "0")), "noise": 0.0})
log = task.get_logger()
for i in range(5):
    bump = params["shift"] if i >= 3 else 0.0
    log.report_scalar("loss", "train", 1.0 / (i + 1) + bump + params["noise"] * i, i)
log.report_histogram("hist", "h", values=[1, 2, 3 + (params["shift"] > 0)], iteration=0)
task.upload_artifact("result", {"lr": params["lr"], "shift": params["shift"]})
print(f"{time.strftime('%H:%M:%S')} epoch done in {time.perf_counter():.3f} s at /tmp/x{os.getpid()}/y")
print("final", 1.0 + params["shift"])
print(f"TASK_ID={task.id}")
"""


@pytest.fixture
def runs(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"run.py": SCRIPT})

    def run(*args: str, **env: str) -> str:
        return recorded_id(run_script(repo / "run.py", *args, home=localtask_home, **env))

    return run


def verdicts(comparison) -> dict[str, str]:
    return {a.name: a.verdict for a in comparison.aspects}


def test_two_runs_of_the_same_code_are_identical_though_times_and_paths_differ(localtask_home, runs):
    a, b = runs(), runs()
    comparison = compare_tasks(Store.open(localtask_home), a, b)
    assert comparison.verdict == IDENTICAL, comparison.table()
    assert set(verdicts(comparison)) == {"status", "code", "parameters", "configuration", "environment",
                                         "console", "scalars", "plots", "debug samples", "single values",
                                         "artifacts", "models"}


def test_a_run_with_another_value_differs_where_it_should(localtask_home, runs):
    store = Store.open(localtask_home)
    a, b = runs(), runs(SHIFT="0.5")
    comparison = compare_tasks(store, a, b)
    got = verdicts(comparison)
    assert comparison.verdict == DIFFER
    assert {k for k, v in got.items() if v != IDENTICAL} == {"parameters", "scalars", "plots", "artifacts", "console"}
    assert comparison.aspect("parameters").details == ["General/shift: 0.0 -> 0.5"]
    assert comparison.aspect("scalars").details == ["loss/train: differs from iteration 3 (0.25 -> 0.75)"]
    assert comparison.aspect("plots").details[0].startswith("hist/h @0: content differs")
    assert comparison.aspect("console").details[0].startswith("line 2: final 1.0 -> final 1.5")
    argv = compare_tasks(store, a, runs("extra-arg"))
    assert argv.aspect("code").details == ['argv: [] -> ["extra-arg"]']


def test_scalars_within_a_tolerance_are_close_and_beyond_it_differ(localtask_home, tmp_path):
    from localtask import Task

    store = Store.open(localtask_home)
    ids = []
    for value in (1.0, 1.0 + 1e-7, 1.5):
        task = Task.init(project_name="tol", task_name=f"v{value}")
        for i in range(3):
            task.get_logger().report_scalar("m", "s", 0.5 if i < 2 else value, i)
        task.close()
        ids.append(task.id)
    strict = compare_tasks(store, ids[0], ids[1])
    assert strict.aspect("scalars").verdict == DIFFER
    assert strict.aspect("scalars").details == ["m/s: differs from iteration 2 (1 -> 1)"]
    loose = compare_tasks(store, ids[0], ids[1], rtol=1e-5)
    assert loose.aspect("scalars").verdict == CLOSE and loose.verdict == CLOSE
    far = compare_tasks(store, ids[0], ids[2], rtol=1e-5)
    assert far.aspect("scalars").details == ["m/s: differs from iteration 2 (1 -> 1.5)"]
    drifting = []
    for values in ((1.0, 2.0, 3.0), (1.001, 2.5, 3.0)):  # iteration 0 within 1%, iteration 1 beyond it
        task = Task.init(project_name="tol", task_name="drift")
        for i, v in enumerate(values):
            task.get_logger().report_scalar("m", "s", v, i)
        task.close()
        drifting.append(task.id)
    assert compare_tasks(store, *drifting, rtol=0.01).aspect("scalars").details == [
        "m/s: differs from iteration 1 (2 -> 2.5)"]
    with pytest.raises(ValueError, match="tolerances"):
        compare_tasks(store, ids[0], ids[1], rtol=-1)


def test_missing_and_extra_outputs_are_named(localtask_home):
    from localtask import Task

    store = Store.open(localtask_home)
    a = Task.init(project_name="m", task_name="a")
    a.get_logger().report_scalar("only", "a", 1.0, 0)
    a.upload_artifact("blob", {"x": 1})
    a.close()
    b = Task.init(project_name="m", task_name="b")
    b.get_logger().report_scalar("only", "b", 1.0, 0)
    b.upload_artifact("blob", {"x": 2})
    b.close()
    comparison = compare_tasks(store, a.id, b.id)
    assert comparison.aspect("scalars").details == ["only/a: missing", "only/b: extra"]
    assert comparison.aspect("artifacts").details[0].startswith("blob: content differs (sha256 ")


def test_html_samples_are_compared_without_their_random_element_ids(localtask_home, tmp_path):
    """bokeh's and plotly's saved pages give each element a fresh UUID: a re-run's page is the
    same plot all the same; any other change still differs."""
    from localtask import Task

    store = Store.open(localtask_home)
    ids = []
    for name, uuid, text in (("a", "c4b9a968-f622-4f80-b379-2b8570182c01", "plot"),
                             ("b", "a8097313-aac7-4512-8ee3-9af6f3f243ad", "plot"),
                             ("c", "0d0c1b3a-0000-4f80-b379-2b8570182c01", "other plot")):
        page = tmp_path / f"{name}.html"
        page.write_text(f'<div id="{uuid}" data-root-id="p1061">{text}</div>')
        task = Task.init(project_name="m", task_name=name)
        task.get_logger().report_media("html", "graph", iteration=0, local_path=str(page))
        task.close()
        ids.append(task.id)
    assert compare_tasks(store, ids[0], ids[1]).aspect("debug samples").verdict == IDENTICAL
    assert compare_tasks(store, ids[0], ids[2]).aspect("debug samples").verdict == DIFFER


def test_console_normalisation_keeps_results_and_drops_noise():
    text = ("localtask: worker w1 runs task 0123456789abcdef0123456789abcdef\n"
            "12:01:02 epoch 1 took 0.53 s, loss 0.25 at /tmp/pytest-of-root/x/y.txt\n"
            "object at 0x7f00deadbeef\n"
            "PID=4912 pid 77, 3 pids\n")
    assert normalise_console(text) == ["<time> epoch 1 took <duration>, loss 0.25 at <path>",
                                       "object at <address>", "PID=<pid> pid <pid>, 3 pids"]


def test_a_workers_console_is_compared_from_task_init_to_close():
    worker = ("localtask: worker w1 runs task 0123456789abcdef0123456789abcdef\nloading data\n"
              "localtask: Task.init attached to task 0123456789abcdef0123456789abcdef\nepoch 1\n"
              "localtask: Task.close of task 0123456789abcdef0123456789abcdef\nsecond task's line\n")
    assert normalise_console(worker) == ["epoch 1"] == normalise_console("epoch 1\n")


def test_cli_compare_prints_the_table_and_exits_1_when_they_differ(localtask_home, runs):
    a, b = runs(), runs("extra-arg")
    same = cli("compare", a[:8], a[:8], home=localtask_home)
    assert same.returncode == 0 and ": identical" in same.stdout.splitlines()[0], same.stdout + same.stderr
    other = cli("compare", a, b, "--json", home=localtask_home)
    assert other.returncode == 1
    data = json.loads(other.stdout)
    assert data["verdict"] == DIFFER and data["a"] == a and data["b"] == b
    assert {x["aspect"]: x["verdict"] for x in data["aspects"]}["code"] == DIFFER
    bad = cli("compare", a, home=localtask_home)
    assert bad.returncode == 2 and "two task ids" in bad.stderr
    unknown = cli("compare", a, "f" * 12, home=localtask_home)
    assert unknown.returncode == 1 and "No task" in unknown.stderr
