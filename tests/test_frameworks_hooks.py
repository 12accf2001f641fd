"""The framework hooks themselves (issue 15): nothing is imported unless the script imported
it, a framework imported before or after localtask is hooked, the switches turn recording off,
and a hook that fails is a warning, never a failed run."""
from __future__ import annotations

import pytest

from localtask import Task

from conftest import run_python, task_id_of

FRAMEWORKS = ("hydra", "omegaconf", "click", "typer", "fire", "jsonargparse")

CLICK_SCRIPT = """\
{first}
import sys
{second}

@click.command()
@click.option("--lr", type=float, default=0.1)
def main(lr):
    task = Task.init(project_name="hooks", task_name="click"{init_kwargs})
    print("TASK_ID=" + task.id)


main()
"""


def test_importing_localtask_imports_no_framework(tmp_path):
    proc = run_python("-c", "import sys\nfrom localtask import Task\n"
                      f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))",
                      home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("order", ["framework-first", "localtask-first"])
def test_a_framework_imported_before_or_after_localtask_is_recorded(tmp_path, order):
    first, second = "import click", "from localtask import Task"
    if order == "localtask-first":
        first, second = second, first
    script = tmp_path / "app.py"
    script.write_text(CLICK_SCRIPT.format(first=first, second=second, init_kwargs=""))
    proc = run_python(str(script), "--lr", "0.5", home=tmp_path / "home", cwd=tmp_path)
    task = Task.get_task(task_id_of(proc), home=tmp_path / "home")
    assert task.get_parameters() == {"Args/lr": 0.5}


@pytest.mark.parametrize("switch", [{"env": {"LOCALTASK_NO_FRAMEWORKS": "1"}},
                                    {"init_kwargs": ', auto_connect_frameworks={"click": False}'}],
                         ids=["env", "auto_connect_frameworks"])
def test_the_switches_turn_a_framework_off(tmp_path, switch):
    script = tmp_path / "app.py"
    script.write_text(CLICK_SCRIPT.format(first="import click", second="from localtask import Task",
                                          init_kwargs=switch.get("init_kwargs", "")))
    proc = run_python(str(script), "--lr", "0.5", home=tmp_path / "home", cwd=tmp_path, env=switch.get("env"))
    task = Task.get_task(task_id_of(proc), home=tmp_path / "home")
    assert task.get_parameters() == {}


def test_a_value_with_no_text_is_recorded_as_its_type_name(tmp_path):
    """A click parameter whose value has no text (its str() raises): the run records the rest."""
    script = tmp_path / "app.py"
    script.write_text("""\
import click
from localtask import Task


class NoText:
    def __str__(self):
        raise RuntimeError("no text")


class Odd(click.ParamType):
    name = "odd"

    def convert(self, value, param, ctx):
        return NoText()


@click.command()
@click.option("--thing", type=Odd(), default="x")
@click.option("--lr", type=float, default=0.1)
def main(thing, lr):
    task = Task.init(project_name="hooks", task_name="odd")
    print("TASK_ID=" + task.id)


main()
""")
    proc = run_python(str(script), home=tmp_path / "home", cwd=tmp_path)
    task = Task.get_task(task_id_of(proc), home=tmp_path / "home")
    assert task.get_parameters() == {"Args/thing": "<NoText>", "Args/lr": 0.1}
    assert task.get_status() == "completed"


def test_a_recording_that_fails_is_a_warning_and_the_task_goes_on(localtask_home, capsys):
    from localtask import frameworks

    def broken(task):
        raise RuntimeError("the framework changed")

    frameworks.record("someframework", broken)
    task = Task.init(project_name="hooks", task_name="broken", auto_connect_streams=False)
    try:
        err = capsys.readouterr().err
        assert ("localtask: could not record the someframework configuration (RuntimeError: the "
                "framework changed); the run goes on without it") in err
        assert task.get_status() == "in_progress" and frameworks.pending == []
    finally:
        task.close()
    assert task.get_status() == "completed"
