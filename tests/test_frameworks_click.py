"""click and typer apps through record -> clone with an edit -> worker (issue 15 item 3): the
options and arguments of the command and subcommand that ran are ``Args/...`` with their
types; edits are what the re-run command gets, the same as a direct run given those values on
the command line; a prompt answered at the recording never fires on the re-run."""
from __future__ import annotations

import pytest

from localtask import Task

from conftest import run_python
from helpers_worker import clone_and_enqueue, make_repo, recorded_id, results, run_script, run_to_completion

CLICK_APP = """\
import click
from localtask import Task


@click.group()
@click.option("--verbose/--quiet", default=False)
def cli(verbose):
    print("RESULT verbose", verbose)


@cli.command()
@click.option("--lr", type=float, default=0.1, help="learning rate")
@click.option("--epochs", type=int, prompt=True)
@click.option("--tag", multiple=True)
@click.argument("data", type=click.Path())
def train(lr, epochs, tag, data):
    task = Task.init(project_name="cli", task_name="train")
    print("RESULT", repr(lr), repr(epochs), tag, repr(data))
    print("TASK_ID=" + task.id)


@cli.command()
def other():
    print("RESULT other")


if __name__ == "__main__":
    cli()
"""

TYPER_APP = """\
import typer
from localtask import Task

app = typer.Typer()


@app.callback()
def main(verbose: bool = False):
    print("RESULT verbose", verbose)


@app.command()
def train(data: str, lr: float = typer.Option(0.1, help="learning rate"),
          epochs: int = typer.Option(..., prompt=True), tag: list[str] = typer.Option([])):
    task = Task.init(project_name="cli", task_name="train")
    print("RESULT", repr(lr), repr(epochs), tuple(tag), repr(data))
    print("TASK_ID=" + task.id)


@app.command()
def other():
    print("RESULT other")


if __name__ == "__main__":
    app()
"""
APPS = {"click": CLICK_APP, "typer": TYPER_APP}
#: what each hands the callback for a repeated option: click a tuple, typer a list
TAGS = {"click": ("a", "b"), "typer": ["a", "b"]}


@pytest.fixture(params=sorted(APPS))
def app(request, tmp_path):
    pytest.importorskip(request.param)
    return make_repo(tmp_path / request.param / "src", {"app.py": APPS[request.param]}) / "app.py"


def test_the_command_and_subcommand_options_are_recorded_with_their_types(localtask_home, app):
    proc = run_script(app, "--verbose", "train", "--lr", "0.5", "--epochs", "3", "--tag", "a",
                      "--tag", "b", "data.csv", home=localtask_home)
    task = Task.get_task(recorded_id(proc))
    assert task.get_parameters() == {"Args/verbose": True, "Args/train.lr": 0.5, "Args/train.epochs": 3,
                                     "Args/train.tag": TAGS[app.parent.parent.name],
                                     "Args/train.data": "data.csv"}
    helps = {r["name"]: r["description"] for r in task._store.get_parameters(task.id)}
    assert helps["train.lr"].startswith("option --lr (") and helps["train.lr"].endswith("learning rate")


@pytest.mark.slow
def test_edited_options_are_what_the_rerun_command_gets(localtask_home, app):
    source = recorded_id(run_script(app, "train", "--lr", "0.5", "--epochs", "3", "data.csv",
                                    home=localtask_home))
    clone = clone_and_enqueue(source, {"Args/train.lr": "0.9", "Args/train.epochs": "7",
                                       "Args/train.data": "other.csv", "Args/verbose": "true"})
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(app, "--verbose", "train", "--lr", "0.9", "--epochs", "7", "other.csv",
                        home=localtask_home)
    assert results(log) == results(direct.stdout)
    assert results(log)[-1] == "0.9 7 () 'other.csv'"
    assert Task.get_task(clone.id).get_parameters()["Args/train.epochs"] == 7


@pytest.mark.slow
def test_a_prompt_answered_at_the_recording_never_fires_on_the_rerun(localtask_home, app):
    proc = run_python(str(app), "train", "data.csv", home=localtask_home, cwd=app.parent, input="4\n")
    source = recorded_id(proc)
    assert Task.get_task(source).get_parameters()["Args/train.epochs"] == 4
    clone = clone_and_enqueue(source, {"Args/train.lr": "0.2"})
    _, log = run_to_completion(localtask_home, clone.id)  # the worker gives no stdin: a prompt fails
    direct = run_script(app, "train", "--lr", "0.2", "--epochs", "4", "data.csv", home=localtask_home)
    assert "Epochs" not in log
    assert results(log) == results(direct.stdout) == ["verbose False", "0.2 4 () 'data.csv'"]
