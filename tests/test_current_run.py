"""localtask.current_run: the current task, the outcome noted for it and the process hooks."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from localtask import Task, current_run

from conftest import run_script, task_id_of, write_script


def test_get_set_clear_follow_task_init_and_close(localtask_home):
    assert current_run.get() is None
    task = Task.init(project_name="proj", task_name="current")
    assert current_run.get() is task
    assert Task.current_task() is task
    other = Task.clone(task)
    current_run.clear(other)  # not the current one: nothing changes
    assert current_run.get() is task
    assert current_run.outcome(task) == (None, None)
    assert current_run.outcome(other) == (None, None)
    task.close()
    assert current_run.get() is None
    assert Task.current_task() is None
    assert task.status == "completed"


def test_outcome_belongs_to_the_current_task(localtask_home):
    task = Task.init(project_name="proj", task_name="outcome")
    other = Task.clone(task)
    current_run.note_exit("a message")  # a non-int code is exit code 1, as Python's own
    assert current_run.outcome(task) == (None, 1)
    assert current_run.outcome(other) == (None, None)
    current_run.note_exit(None)
    assert current_run.outcome(task) == (None, 0)
    task.close()
    assert task.status == "completed"


def test_a_second_run_in_one_process_starts_with_no_outcome(localtask_home, tmp_path):
    script = write_script(tmp_path / "two_runs.py", """
        import sys
        from localtask import Task
        first = Task.init(project_name="proj", task_name="first")
        hooks = (sys.excepthook, sys.exit, type(exit))
        try:
            sys.exit(3)
        except SystemExit:
            pass
        first.close()
        second = Task.init(project_name="proj", task_name="second")
        assert second is not first
        assert (sys.excepthook, sys.exit, type(exit)) == hooks  # installed once per process
        print("FIRST=" + first.id)
        print("TASK_ID=" + second.id, flush=True)
    """)
    proc = run_script(script, home=localtask_home)
    second = Task.get_task(task_id_of(proc))
    first = Task.get_task(proc.stdout.split("FIRST=")[1].split()[0])
    assert (first.status, first.get_status_message()) == ("failed", "exit code 3")
    assert (second.status, second.get_status_message()) == ("completed", "")


@pytest.mark.parametrize("ending, rc, status, reason", [
    ("sys.exit(3)", 3, "failed", "exit code 3"),
    ("quit(7)", 7, "failed", "exit code 7"),
    ("raise RuntimeError('boom')", 1, "failed", "RuntimeError: boom"),
    ("pass", 0, "completed", ""),
], ids=["exit-3", "builtin-quit", "exception", "normal"])
def test_the_exit_hooks_end_the_task_with_the_script(localtask_home, tmp_path, ending, rc, status, reason):
    script = write_script(tmp_path / "end.py", f"""
        import sys
        from localtask import Task
        task = Task.init(project_name="proj", task_name="end")
        task.get_logger().report_text("before the end")
        print("TASK_ID=" + task.id, flush=True)
        {ending}
    """)
    proc = run_script(script, home=localtask_home)
    task = Task.get_task(task_id_of(proc, expect_rc=rc))
    assert task.status == status
    assert reason in task.get_status_message()
    assert bool(task.get_status_message()) == bool(reason)
    assert "before the end" in task.get_reported_console_output()[0]


def test_current_run_does_not_import_task_at_module_level():
    """task imports current_run: a module-level import the other way would be a cycle."""
    import localtask.current_run as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are skipped
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {".task", "localtask.task", ".", "localtask"} & imported, imported
