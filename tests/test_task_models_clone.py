"""Input models are configuration: a clone keeps them, a worker's run uses the clone's (possibly
changed) input model, and ``show`` / ``show --json`` list a task's models. Real store, real
git repository, real worker."""
from __future__ import annotations

import json

import pytest

from helpers_worker import cli, make_repo, recorded_id, results, run_script, run_to_completion, write
from localtask import InputModel, LocaltaskError, OutputModel, Store, Task
from localtask.exceptions import IllegalTransitionError

USE = """
from localtask import Task, InputModel

task = Task.init(project_name="zoo", task_name="evaluate")
model = InputModel(name="base", project="zoo")
task.connect(model)
with open(model.get_local_copy(), encoding="utf-8") as fh:
    print("RESULT", fh.read())
print("TASK_ID=" + task.id)
"""


def _models(tmp_path):
    first = InputModel.import_model(str(write(tmp_path / "w1.txt", "weights one")), name="base", project="zoo",
                                    framework="pytorch")
    second = InputModel.import_model(str(write(tmp_path / "w2.txt", "weights two")), name="other",
                                     project="zoo", framework="sklearn", tags=["v2"], create_as_published=True)
    return first, second


@pytest.mark.slow
def test_clone_keeps_the_input_model_and_a_changed_one_is_used_by_the_rerun(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    first, second = _models(tmp_path)
    repo = make_repo(tmp_path / "repo", {"use.py": USE})
    proc = run_script(repo / "use.py", home=home)
    source = Task.get_task(recorded_id(proc), home=home)
    assert results(proc.stdout) == ["weights one"]

    same = Task.clone(source, name="same model", home=home)
    changed = Task.clone(source, name="other model", home=home)
    assert [m.id for m in same.models["input"]] == [first.id]  # copied by clone, as ClearML
    assert same.models["output"] == []
    changed.set_input_model(model_id=second.id)
    assert [m.id for m in changed.models["input"]] == [second.id]
    assert [m.id for m in source.models["input"]] == [first.id]  # the original is untouched
    for task in (same, changed):
        Task.enqueue(task, home=home)
    assert results(run_to_completion(home, same.id)[1]) == ["weights one"]
    assert results(run_to_completion(home, changed.id)[1]) == ["weights two"]
    assert [m.id for m in Task.get_task(changed.id, home=home).models["input"]] == [second.id]


def test_set_input_model_refuses_unknown_models_and_non_drafts(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    first, _ = _models(tmp_path)
    repo = make_repo(tmp_path / "repo", {"use.py": USE})
    recorded = Task.get_task(recorded_id(run_script(repo / "use.py", home=home)), home=home)
    with pytest.raises(IllegalTransitionError, match="Cannot edit task"):
        recorded.set_input_model(model_id=first.id)
    draft = Task.clone(recorded, home=home)
    with pytest.raises(LocaltaskError, match="No model 'nope'"):
        draft.set_input_model(model_name="nope")
    draft.set_input_model(model_name="other", name="second input")
    assert sorted(r["name"] for r in Store.open(home).get_task_models(draft.id)) == ["base", "second input"]


def test_show_lists_input_and_output_models(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    first, second = _models(tmp_path)
    store = Store.open(home)
    task = Task.create(project_name="zoo", repo=str(make_repo(tmp_path / "repo", {"use.py": USE})),
                       script="use.py", home=home)
    store.set_task_model(task.id, "input", "base", first.id)
    store.set_task_model(task.id, "output", "trained", second.id)

    text = cli("show", task.id, home=home)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[lines.index("Input models (1):") + 1] == \
        f"  base {first.id[:8]} (pytorch, w1.txt, {first.data['size']} B)"
    assert lines[lines.index("Output models (1):") + 1] == \
        f"  trained = other {second.id[:8]} (sklearn, w2.txt, {second.data['size']} B, tags v2, published)"
    data = json.loads(cli("show", task.id, "--json", home=home).stdout)
    [made] = data["models"]["output"]
    assert {k: made[k] for k in ("name", "id", "model_name", "framework", "file", "tags", "published")} == \
        {"name": "trained", "id": second.id, "model_name": "other", "framework": "sklearn", "file": "w2.txt",
         "tags": ["v2"], "published": True}
    assert [m["id"] for m in data["models"]["input"]] == [first.id]


def test_output_models_are_not_cloned(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    task = Task.create(project_name="zoo", repo=str(make_repo(tmp_path / "repo", {"use.py": USE})),
                       script="use.py", home=home)
    OutputModel(task=task, name="made", framework="keras")
    assert [m.name for m in task.models["output"]] == ["made"]
    assert Task.clone(task, home=home).models == {"input": [], "output": []}
