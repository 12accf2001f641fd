"""ClearML's Logger reports kept by a real task: plots, debug samples, single values and
matplotlib figures; outputs as scalars are (clone copies none, reset deletes them), and a
clone re-run by a real worker reports the same."""
from __future__ import annotations

import hashlib

import pytest

from localtask import Store, Task
from localtask.report_writer import samples_dir

from conftest import run_script
from helpers_worker import clone_and_enqueue, make_repo, recorded_id, run_to_completion

pytest.importorskip("numpy")
pytest.importorskip("pandas")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

SCRIPT = """\
import io
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from localtask import Task, Logger

task = Task.init(project_name="reports", task_name="every kind")
params = task.connect({"scale": 1.0})
log = Logger.current_logger()
assert log is task.logger
s = params["scale"]
for it in range(2):
    log.report_histogram("hist", "h", values=[s * it, 2 * s, 3 * s], iteration=it, xaxis="bin")
log.report_scatter2d("curve", "c", scatter=[[0, 0], [1, s]], iteration=0, xaxis="x", yaxis="y")
log.report_confusion_matrix("confusion", "m", matrix=np.array([[5, 1], [2, 7]]) * int(s), iteration=0)
log.report_table("table", "t", iteration=0, table_plot=pd.DataFrame({"a": [1, 2], "b": [s, 2 * s]}))
log.report_image("image", "i", iteration=3, image=np.full((4, 6, 3), int(40 * s), dtype=np.uint8))
log.report_media("page", "p", iteration=0, stream=io.StringIO(f"<b>scale {s}</b>"), file_extension="html")
log.report_single_value("best", 0.5 * s)
plt.figure(); plt.plot([1, 2, 3 * s]); plt.title("drawn"); plt.show(); plt.close("all")
plt.figure(); plt.imshow(np.eye(3) * s); plt.title("picture"); plt.show()
print("TASK_ID=" + task.id)
"""


def reports(task: Task) -> dict:
    plots = {(p["title"], p["series"], p["iteration"]): p for p in task.get_reported_plots()}
    samples = {(s["title"], s["series"], s["iteration"]): (s["mime"], hashlib.sha256(s["path"].read_bytes())
                                                           .hexdigest()) for s in task.get_debug_samples()}
    return {"plots": plots, "samples": samples, "single": task.get_single_values()}


@pytest.fixture
def recorded(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": SCRIPT})
    return Task.get_task(recorded_id(run_script(repo / "job.py", home=localtask_home)))


def test_every_kind_is_kept_with_its_content(recorded):
    got = reports(recorded)
    plots = got["plots"]
    assert sorted(plots) == [("confusion", "m", 0), ("curve", "c", 0), ("drawn", "drawn", 0),
                             ("hist", "h", 0), ("hist", "h", 1), ("picture", "picture", 0), ("table", "t", 0)]
    assert plots[("hist", "h", 1)]["figure"]["data"][0]["y"] == [1.0, 2.0, 3.0]
    assert plots[("hist", "h", 1)]["kind"] == "histogram"
    assert plots[("confusion", "m", 0)]["figure"]["data"][0]["z"] == [[5, 1], [2, 7]]
    table = plots[("table", "t", 0)]["figure"]["layout"]["localtask_table"]
    assert table["rows"] == [[0, 1, 1.0], [1, 2, 2.0]]
    drawn = plots[("drawn", "drawn", 0)]  # a simple figure: an interactive plot, as ClearML
    assert drawn["kind"] == "matplotlib" and drawn["figure"]["data"][0]["y"] == [1.0, 2.0, 3.0]
    picture = plots[("picture", "picture", 0)]  # an imshow: kept as an image
    assert picture["kind"] == "image"
    image_file = samples_dir(recorded.store, recorded.id) / picture["figure"]["layout"]["localtask_image"]["sample"]
    assert image_file.read_bytes().startswith(b"\x89PNG")
    assert {k: v[0] for k, v in got["samples"].items()} == {("image", "i", 3): "image/png",
                                                            ("page", "p", 0): "text/html"}
    assert got["single"] == {"best": 0.5}


def test_show_counts_the_reports(recorded, localtask_home):
    from helpers_worker import cli

    out = cli("show", recorded.id, home=localtask_home).stdout.splitlines()
    assert "  Plots:       7" in out and "  Samples:     2 debug samples" in out
    assert out[out.index("  Single values:") + 1] == "    best:      0.5"


def test_reports_are_outputs_clone_copies_none_reset_deletes_them(recorded):
    clone = Task.clone(recorded)
    assert clone.get_reported_plots() == [] and clone.get_debug_samples() == []
    assert clone.get_single_values() == {}
    folder = samples_dir(recorded.store, recorded.id)
    recorded.reset()
    assert recorded.get_reported_plots() == [] and recorded.get_single_values() == {}
    assert len(recorded.get_debug_samples()) == 2 and folder.is_dir()  # debug samples go with artifacts
    recorded.reset(delete_artifacts=True)
    assert recorded.get_debug_samples() == [] and not folder.exists()


@pytest.mark.slow
def test_a_clone_rerun_by_the_worker_reports_the_same_and_an_edit_shows(recorded, localtask_home):
    same = clone_and_enqueue(recorded.id)
    run_to_completion(localtask_home, same.id)
    original, rerun = reports(recorded), reports(Task.get_task(same.id))
    assert {k: p["figure"] for k, p in rerun["plots"].items() if p["kind"] != "image"} == {
        k: p["figure"] for k, p in original["plots"].items() if p["kind"] != "image"}
    assert rerun["samples"] == original["samples"] and rerun["single"] == original["single"]

    edited = clone_and_enqueue(recorded.id, {"General/scale": 2.0})
    run_to_completion(localtask_home, edited.id)
    got = reports(Task.get_task(edited.id))
    assert got["single"] == {"best": 1.0}
    assert got["plots"][("hist", "h", 1)]["figure"]["data"][0]["y"] == [2.0, 4.0, 6.0]
    assert got["plots"][("drawn", "drawn", 0)]["figure"]["data"][0]["y"] == [1.0, 2.0, 6.0]


def test_matplotlib_capture_can_be_switched_off(localtask_home, tmp_path):
    body = SCRIPT.replace('task_name="every kind")', 'task_name="no mpl", auto_connect_frameworks={"matplotlib": False})')
    repo = make_repo(tmp_path / "src", {"job.py": body})
    task = Task.get_task(recorded_id(run_script(repo / "job.py", home=localtask_home)))
    assert not {"drawn", "picture"} & {p["title"] for p in task.get_reported_plots()}
    assert "hist" in {p["title"] for p in task.get_reported_plots()}


def test_a_schema_1_store_is_migrated_with_its_tasks(localtask_home, tmp_path):
    """A store written before plots existed (schema 1) opens: its tasks stay, the new tables come."""
    import sqlite3
    import subprocess
    import sys

    from localtask.store import DB_NAME, SCHEMA_VERSION

    task = Task.init(project_name="old", task_name="from schema 1")
    task.get_logger().report_scalar("loss", "train", 0.5, 0)
    task.close()
    Store.open(localtask_home).close()
    conn = sqlite3.connect(localtask_home / DB_NAME)
    for table in ("plots", "samples", "single_values", "models", "task_models", "verdicts"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute("ALTER TABLE tasks DROP COLUMN archived")
    conn.execute("ALTER TABLE tasks DROP COLUMN run_end")
    conn.execute("ALTER TABLE tasks DROP COLUMN pid_ns")
    conn.execute("ALTER TABLE tasks DROP COLUMN runtime")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    code = ("import sys; from localtask import Task; t = Task.get_task(sys.argv[1]); "
            "print(t.status, t.get_reported_scalars()['loss']['train']['y'], t.get_reported_plots(), t.get_archived())")
    proc = subprocess.run([sys.executable, "-c", code, task.id], env={**__import__("os").environ,
                          "LOCALTASK_HOME": str(localtask_home)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["completed", "[0.5]", "[]", "False"]
    conn = sqlite3.connect(localtask_home / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
