"""export_task / Task.import_task / update_task in ClearML's dictionary shape, on a task
recorded by a real script in a real git repository, and re-run by a real worker."""
from __future__ import annotations

import json

import pytest

from helpers_worker import git, make_repo, recorded_id, results, run_script, run_to_completion, write
from localtask import InputModel, Store, Task
from localtask.exceptions import IllegalTransitionError, TaskDataError

SCRIPT = """
import argparse
from pathlib import Path
from localtask import Task, InputModel

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.5)
args = parser.parse_args()
task = Task.init(project_name="exp", task_name="rec", tags=["t1"])
params = task.connect({"n": 3, "name": "abc", "pair": (1, 2), "where": Path("/data"), "nothing": None,
                       "on": False, "ratio": 0.25})
config = task.connect_configuration({"layers": [64, 32]}, name="model")
print("RESULT", VERSION, args.lr, params["n"], config["layers"])
print("TASK_ID=" + task.id)
"""

#: what differs between a task and its import: identity, status and times
RUN_FIELDS = ("id", "status", "created", "started", "completed", "last_update", "execution")


def _recorded(tmp_path, home):
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT.replace("VERSION", "'v1'"), "data.bin": "x\n"})
    write(repo / "train.py", SCRIPT.replace("VERSION", "'edited'"))
    (repo / "data.bin").write_bytes(b"\xff\xfe not utf-8 \x00\n")  # a diff that is not UTF-8 text
    proc = run_script(repo / "train.py", "--lr", "0.2", home=home)
    return repo, Task.get_task(recorded_id(proc), home=home)


def test_export_imports_back_to_the_same_configuration(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    repo, task = _recorded(tmp_path, home)
    weights = write(tmp_path / "w.bin", "weights")
    model = InputModel.import_model(str(weights), name="base", project="exp")
    task.store.set_task_model(task.id, "input", "base", model.id)

    exported = json.loads(json.dumps(task.export_task()))  # plain JSON: it can be saved and sent
    script = exported["script"]
    assert script["repository"] == str(repo) and script["branch"] == "main"
    assert script["version_num"] == git("rev-parse", "HEAD", cwd=repo).strip()
    assert (script["entry_point"], script["working_dir"]) == ("train.py", ".")
    assert "edited" in script["diff"] and "-e " in script["requirements"]["pip"]
    assert exported["hyperparams"]["General"]["n"] == {"section": "General", "name": "n", "value": "3",
                                                       "type": "int", "description": ""}
    assert exported["hyperparams"]["General"]["name"]["value"] == "abc"  # text, as ClearML shows it
    assert exported["hyperparams"]["Args"]["lr"]["value"] == "0.2"
    assert exported["configuration"]["model"]["type"] == "dictionary"
    assert exported["models"]["input"] == [{"name": "base", "model": model.id}]

    imported = Task.import_task(exported, home=home)
    assert imported.status == "created" and imported.id != task.id
    again = imported.export_task()
    assert {k: v for k, v in again.items() if k not in RUN_FIELDS} == \
        {k: v for k, v in exported.items() if k not in RUN_FIELDS}
    assert imported.get_parameters() == task.get_parameters()  # types too: tuple, Path, None, bool
    assert imported.get_diff() == task.get_diff()  # byte for byte, the non-UTF-8 file included
    assert imported.get_environment() == task.get_environment()
    assert [m.id for m in imported.models["input"]] == [model.id]


@pytest.mark.slow
def test_update_task_moves_a_draft_to_another_commit_and_values_then_a_worker_runs_it(tmp_path):
    home = tmp_path / "home"
    repo, task = _recorded(tmp_path, home)
    git("checkout", "-q", "-b", "feature", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "feature", cwd=repo)
    feature = git("rev-parse", "HEAD", cwd=repo).strip()
    draft = Task.clone(task, name="moved", home=home)
    assert draft.update_task({"script": {"branch": "feature", "version_num": feature, "diff": ""},
                              "hyperparams": {"General": {"n": {"value": "7"}}, "Args": {"lr": {"value": "0.9"}}},
                              "configuration": {"model": {"value": '{"layers": [8]}'}}})
    assert draft.get_parameters()["General/n"] == 7 and draft.get_diff() == b""
    assert draft.get_parameters()["General/pair"] == (1, 2)  # merged: the rest is kept
    Task.enqueue(draft, home=home)
    row, log = run_to_completion(home, draft.id)
    assert results(log) == ["edited 0.9 7 [8]"]


def test_a_clearml_export_imports(tmp_path):
    home = tmp_path / "home"
    repo = make_repo(tmp_path / "repo", {"src/train.py": "print('RESULT ok')\n"})
    commit = git("rev-parse", "HEAD", cwd=repo).strip()
    clearml_dict = {  # as ClearML's export_task gives it (no "localtask" key)
        "name": "from clearml", "project": "0fb1c2", "project_name": "imported", "type": "training",
        "tags": ["x"], "comment": "", "status": "completed", "id": "a" * 32,
        "script": {"binary": "python3", "repository": str(repo), "branch": "main", "version_num": commit,
                   "entry_point": "train.py", "working_dir": "src", "diff": "",
                   "requirements": {"pip": "numpy==1.26.4\ntqdm>=4\n"}},
        "hyperparams": {"Args": {"epochs": {"section": "Args", "name": "epochs", "value": "5", "type": "int"},
                                 "opt": {"section": "Args", "name": "opt", "value": "adam"}}},
        "configuration": {"cfg": {"name": "cfg", "value": "a { b = 1 }", "type": "dictionary"}},
        "container": {"image": "nvidia/cuda:12.2", "arguments": "--ipc=host"},
        "models": {"input": [{"name": "pretrained", "model": "not-in-this-store"}]},
    }
    task = Task.import_task(clearml_dict, home=home)
    script = task.get_script()
    assert (script["entry_point"], script["working_dir"], script["commit"]) == ("src/train.py", "src", commit)
    assert task.project == "imported" and task.status == "created" and task.get_tags() == ["x"]
    assert task.get_parameters() == {"Args/epochs": 5, "Args/opt": "adam"}
    assert task.get_requirements() == ["numpy==1.26.4", "tqdm>=4"]
    assert task.get_environment()["image_arguments"] == "--ipc=host"
    assert task.get_environment()["image"] == "nvidia/cuda:12.2"
    [conf] = Store.open(home).get_configurations(task.id)
    assert (conf["kind"], conf["value"]) == ("text", "a { b = 1 }")  # HOCON, kept as its text
    assert task.models["input"] == []  # the model is not in this store: left out, with a warning


@pytest.mark.parametrize("data, message", [
    ("not a dict", "must be a dict"),
    ({"hyperparams": []}, "'hyperparams' must be a dict"),
    ({"hyperparams": {"General": {"n": {"value": "x", "type": "int"}}}}, "General/n = 'x' is not a int"),
    ({"script": {"repository": "/r", "version_num": "abc", "diff": "--- a/../x\n+++ b/../x\n"}},
     "outside the working copy"),
    ({"script": {"repository": "/r", "version_num": ""}}, "version_num"),
    ({"tags": "a,b"}, "tags must be a list"),
    ({"name": "", "script": {"repository": "/r", "version_num": "abc"}, "project_name": "p", "type": "nope"},
     "Unknown task type"),
])
def test_bad_task_data_is_refused_and_nothing_is_written(tmp_path, data, message):
    home = tmp_path / "home"
    with pytest.raises(TaskDataError, match=message):
        Task.import_task(data, home=home)
    assert Store.open(home).find_tasks() == []


def test_update_task_refuses_a_task_that_is_not_a_draft(tmp_path):
    home = tmp_path / "home"
    _, task = _recorded(tmp_path, home)
    before = task.export_task()
    with pytest.raises(IllegalTransitionError, match="Cannot edit task"):
        task.update_task({"hyperparams": {"General": {"n": {"value": "9"}}}})
    assert task.export_task() == before


def test_any_malformed_dict_gets_a_localtask_error_and_leaves_no_task(tmp_path):
    from hypothesis import HealthCheck, given, settings, strategies as st

    from localtask import LocaltaskError

    store_home = tmp_path / "home"
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["value", "type", "name", "pip", "diff", "model", "argv", "environment", "kind",
                         "diff_base64", "code_base64", "files", "entry_point", "working_dir", "repository",
                         "version_num", "requirements", "input", "image", "packages", "module", "General"]), inner, max_size=3), max_leaves=8)
    keys = st.sampled_from(["script", "comment", "id", "status", "project", "hyperparams", "configuration", "models", "container", "tags", "name",
                            "type", "parent", "localtask", "project_name"])

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.dictionaries(keys, value, max_size=4))
    def check(data):
        store = Store.open(store_home)
        before = {r["id"] for r in store.find_tasks()}
        try:
            task = Task.import_task(data, home=store_home)
        except LocaltaskError:
            assert {r["id"] for r in store.find_tasks()} == before
        else:
            assert task.status == "created"

    check()
