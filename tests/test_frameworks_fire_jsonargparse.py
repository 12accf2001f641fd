"""fire and jsonargparse apps through record -> clone with an edit -> worker (issue 15 item 4):
the resolved call's arguments are ``Args/...``; an edit is what the re-run call gets, the same
as a direct run given that value on the command line; a jsonargparse config file is a
configuration object, and an edit of it is what the re-run parser reads."""
from __future__ import annotations

import pytest

from localtask import Task

from helpers_worker import clone_and_enqueue, make_repo, recorded_id, results, run_script, run_to_completion

FIRE_APP = """\
import fire
from localtask import Task


class Trainer:
    def __init__(self, lr=0.1, layers=(8, 8)):
        self.lr, self.layers = lr, layers

    def train(self, epochs=2, name="m"):
        task = Task.init(project_name="fire", task_name="train")
        print("RESULT", repr(self.lr), tuple(self.layers), repr(epochs), repr(name))
        print("TASK_ID=" + task.id)


if __name__ == "__main__":
    fire.Fire(Trainer)
"""

JSONARGPARSE_APP = """\
from jsonargparse import CLI
from localtask import Task


def train(lr: float = 0.1, epochs: int = 2, name: str = "m", layers: list[int] = [8]):
    task = Task.init(project_name="jap", task_name="train")
    print("RESULT", repr(lr), repr(epochs), repr(name), layers)
    print("TASK_ID=" + task.id)


if __name__ == "__main__":
    CLI(train)
"""


@pytest.fixture
def fire_app(tmp_path):
    pytest.importorskip("fire")
    return make_repo(tmp_path / "src", {"app.py": FIRE_APP}) / "app.py"


@pytest.fixture
def jsonargparse_app(tmp_path):
    pytest.importorskip("jsonargparse")
    return make_repo(tmp_path / "src", {"app.py": JSONARGPARSE_APP,
                                        "conf/train.yaml": "lr: 0.3\nepochs: 5\n"}) / "app.py"


def test_fire_records_the_resolved_call_and_not_its_own_flags(localtask_home, fire_app):
    proc = run_script(fire_app, "--lr=0.5", "train", "--epochs=3", "--", "--verbose", home=localtask_home)
    task = Task.get_task(recorded_id(proc))
    assert task.get_parameters() == {"Args/lr": 0.5, "Args/layers": (8, 8), "Args/train.epochs": 3,
                                     "Args/train.name": "m"}
    helps = {r["name"]: r["description"] for r in task._store.get_parameters(task.id)}
    assert helps["train.epochs"] == "argument epochs of Trainer.train" and helps["lr"] == "argument lr of Trainer"


@pytest.mark.slow
def test_fire_edits_are_the_arguments_of_the_rerun_call(localtask_home, fire_app):
    source = recorded_id(run_script(fire_app, "--lr=0.5", "train", "--epochs=3", home=localtask_home))
    clone = clone_and_enqueue(source, {"Args/lr": "0.25", "Args/train.name": "big",
                                       "Args/layers": "[16, 4]"})
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(fire_app, "--lr=0.25", "--layers=[16,4]", "train", "--epochs=3", "--name=big",
                        home=localtask_home)
    assert results(log) == results(direct.stdout) == ["0.25 (16, 4) 3 'big'"]


def test_jsonargparse_records_the_resolved_values_and_the_config_file(localtask_home, jsonargparse_app):
    proc = run_script(jsonargparse_app, "--config", "conf/train.yaml", "--name", "x", home=localtask_home)
    task = Task.get_task(recorded_id(proc))
    assert task.get_parameters() == {"Args/lr": 0.3, "Args/epochs": 5, "Args/name": "x", "Args/layers": [8]}
    assert task.get_configuration_objects() == {"config: conf/train.yaml": "lr: 0.3\nepochs: 5\n"}


@pytest.mark.slow
def test_jsonargparse_edits_of_values_and_of_the_config_file_reach_the_rerun(localtask_home, jsonargparse_app):
    source = recorded_id(run_script(jsonargparse_app, "--config", "conf/train.yaml", "--name", "x",
                                    home=localtask_home))
    clone = clone_and_enqueue(source, {"Args/epochs": "9", "Args/layers": "[1, 2]"})
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(jsonargparse_app, "--config", "conf/train.yaml", "--name", "x", "--epochs", "9",
                        "--layers", "[1, 2]", home=localtask_home)
    assert results(log) == results(direct.stdout) == ["0.3 9 'x' [1, 2]"]

    edited = Task.clone(source)
    edited.set_configuration_object("config: conf/train.yaml", config_text="lr: 0.7\nepochs: 5\n")
    edited.set_parameter("Args/name", "y")
    Task.enqueue(edited, queue_name="default")
    _, log = run_to_completion(localtask_home, edited.id)
    direct = run_script(jsonargparse_app, "--config", "conf/train.yaml", "--name", "y", "--lr", "0.7",
                        home=localtask_home)
    assert results(log) == results(direct.stdout) == ["0.7 5 'y' [8]"]
    assert Task.get_task(edited.id).get_parameters()["Args/lr"] == 0.7
    assert Task.get_task(edited.id).get_configuration_objects() == {"config: conf/train.yaml":
                                                                    "lr: 0.7\nepochs: 5\n"}


def test_fire_without_a_component_and_a_second_chain_in_one_process(localtask_home, tmp_path):
    """``fire.Fire()`` reads its caller's names; a second Fire call starts a new chain, and only
    the chain that ran before Task.init is recorded."""
    pytest.importorskip("fire")
    app = make_repo(tmp_path / "src", {"app.py": """\
import fire
from localtask import Task


def warmup(steps=1):
    return steps


def train(lr=0.1, epochs=2):
    task = Task.init(project_name="fire", task_name="bare")
    print("RESULT", lr, epochs)
    print("TASK_ID=" + task.id)


if __name__ == "__main__":
    fire.Fire(warmup, command=["--steps=5"])
    fire.Fire(command=["train", "--lr=0.5"])
"""}) / "app.py"
    task = Task.get_task(recorded_id(run_script(app, home=localtask_home)))
    assert task.get_parameters() == {"Args/lr": 0.5, "Args/epochs": 2}


CLASS_APP = """\
from jsonargparse import CLI
from localtask import Task


class Trainer:
    def __init__(self, lr: float = 0.1):
        self.lr = lr

    def fit(self, epochs: int = 2):
        task = Task.init(project_name="jap", task_name="class")
        print("RESULT", self.lr, epochs)
        print("TASK_ID=" + task.id)


if __name__ == "__main__":
    CLI(Trainer)
"""


@pytest.mark.slow
@pytest.mark.parametrize("in_git", [True, False], ids=["git", "no-git"])
def test_jsonargparse_subcommand_config_file_recorded_and_its_edit_replayed(localtask_home, tmp_path, in_git):
    """A subcommand's own --config; outside git the file is not in the stored code: its text is."""
    pytest.importorskip("jsonargparse")
    files = {"app.py": CLASS_APP, "fit.yaml": "epochs: 6\n"}
    if in_git:
        app = make_repo(tmp_path / "src", files) / "app.py"
    else:
        for name, body in files.items():
            (tmp_path / name).write_text(body)
        app = tmp_path / "app.py"
    source = Task.get_task(recorded_id(run_script(app, "--lr", "0.3", "fit", "--config", "fit.yaml",
                                                  home=localtask_home)))
    assert source.get_parameters() == {"Args/lr": 0.3, "Args/fit.epochs": 6, "Args/subcommand": "fit"}
    assert source.get_configuration_objects() == {"fit.config: fit.yaml": "epochs: 6\n"}

    same = clone_and_enqueue(source.id, {"Args/lr": "0.5"})
    _, log = run_to_completion(localtask_home, same.id)
    assert results(log) == ["0.5 6"]
    edited = Task.clone(source.id)
    edited.set_configuration_object("fit.config: fit.yaml", config_text="epochs: 11\n")
    Task.enqueue(edited, queue_name="default")
    _, log = run_to_completion(localtask_home, edited.id)
    direct = run_script(app, "--lr", "0.3", "fit", "--config", "fit.yaml", "--epochs", "11", home=localtask_home)
    assert results(log) == results(direct.stdout) == ["0.3 11"]
