"""localtask's pytest plugin, as a user's test suite sees it (run through pytester)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from localtask.store import DB_NAME

USER_TESTS = """
import os
from pathlib import Path

import localtask
from localtask import Store, Task


def train(lr):
    task = Task.init(project_name="unit", task_name="train")
    task.connect({"lr": lr})
    task.get_logger().report_scalar("accuracy", "val", 0.95, 1)
    return task


def test_records_into_a_throwaway_store(localtask_home, tmp_path):
    assert Store.open().count_tasks() == 0
    task = train(0.1)
    assert task.store_home == localtask_home
    assert localtask_home.is_relative_to(tmp_path)
    assert os.environ["LOCALTASK_HOME"] == str(localtask_home)
    assert (localtask_home / "localtask.db").is_file()
    assert task.get_parameters() == {"General/lr": 0.1}
    assert task.get_reported_scalars()["accuracy"]["val"]["y"] == [0.95]
    Path(os.environ["MARKER_FILE"]).write_text(str(localtask_home))


def test_each_test_gets_an_empty_store(localtask_home, localtask_store):
    assert localtask_store.home == localtask_home
    assert localtask_store.count_tasks() == 0
    assert Task.current_task() is None
    task = train(0.2)
    assert [t.id for t in Task.get_tasks()] == [task.id]
"""


def test_plugin_gives_each_test_its_own_store(pytester, monkeypatch, tmp_path):
    user_data = tmp_path / "user-data"
    monkeypatch.delenv("LOCALTASK_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(user_data))  # where the default store would go
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("MARKER_FILE", str(marker))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)

    first_home = Path(marker.read_text()).resolve()
    assert first_home.is_relative_to(pytester.path.resolve())
    databases = sorted(pytester.path.rglob(DB_NAME))
    assert len(databases) == 2  # one store per test, both below pytester's tmp folder
    assert first_home / DB_NAME in [d.resolve() for d in databases]
    assert not user_data.exists()
    conn = sqlite3.connect(str(first_home / DB_NAME))
    rows = conn.execute("SELECT project, name, status FROM tasks").fetchall()
    params = conn.execute("SELECT section, name FROM parameters").fetchall()
    conn.close()
    # The fixture closed the task at the end of the test, and pytest's own command-line
    # options were not recorded as the task's arguments.
    assert rows == [("unit", "train", "completed")]
    assert params == [("General", "lr")]


def test_plugin_fixtures_are_documented(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    result.stdout.fnmatch_lines([
        "localtask_home*", "*fresh, empty store folder*",
        "localtask_store*", "*opened on*",
    ])
