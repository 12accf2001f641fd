"""joblib's model files logged as ClearML logs them: a dump is an output model of the task, a
load an input model; under a worker a load of a file named as one of the task's input models
gets that stored model. Real scripts, a real worker."""
from __future__ import annotations

import pytest

from localtask import Store, Task

from conftest import run_script
from helpers_worker import clone_and_enqueue, make_repo, recorded_id, results, run_to_completion

pytest.importorskip("joblib")

# as ClearML's sklearn_joblib_example: dump a model, load it back (a dict stands in for the
# estimator; the framework is then "Joblib")
SCRIPT = """\
import joblib
from localtask import Task

task = Task.init(project_name="joblib", task_name="fit and save")
params = task.connect({"weight": 2})
joblib.dump({"weight": params["weight"]}, "model.pkl", compress=True)
joblib.dump({"scaler": 1}, "scaler.pkl")
print("RESULT loaded", joblib.load("model.pkl"))
print("RESULT base", joblib.load("base.pkl"))
print("TASK_ID=" + task.id)
"""


def _models(task: Task) -> dict:
    return {role: sorted((m.name, m.framework, m.data["filename"]) for m in models)
            for role, models in task.models.items()}


def test_dumps_are_output_models_loads_input_models_and_a_draft_can_swap_the_input(localtask_home, tmp_path):
    import joblib

    repo = make_repo(tmp_path / "src", {"job.py": SCRIPT})
    joblib.dump({"base": "v1"}, repo / "base.pkl")  # untracked: recorded with the diff
    direct = run_script(repo / "job.py", home=localtask_home)
    source = Task.get_task(recorded_id(direct))
    assert results(direct.stdout) == ["loaded {'weight': 2}", "base {'base': 'v1'}"]
    # the file it dumped and loaded back is its output only; the other file it loaded, its input
    assert _models(source) == {
        "output": [("fit and save", "Joblib", "model.pkl"), ("fit and save (scaler.pkl)", "Joblib", "scaler.pkl")],
        "input": [("base.pkl", "Joblib", "base.pkl")]}
    weights = {m.name: m.get_local_copy() for m in source.models["output"]}
    assert joblib.load(weights["fit and save"]) == {"weight": 2}

    # a re-run dumps new output models of its own, and keeps the input model
    same = clone_and_enqueue(source.id)
    _, log = run_to_completion(localtask_home, same.id)
    assert results(log) == results(direct.stdout)
    rerun = Task.get_task(same.id)
    renamed = {role: [(n.replace("fit and save", rerun.name), f, file) for n, f, file in models]
               for role, models in _models(source).items() if role == "output"}
    assert _models(rerun) == {**renamed, "input": _models(source)["input"]}  # outputs named after their task
    assert {m.id for m in rerun.models["output"]}.isdisjoint(m.id for m in source.models["output"])

    # a draft given another input model of that name loads it, the script unchanged
    other = tmp_path / "other" / "base.pkl"
    other.parent.mkdir()
    joblib.dump({"base": "v2"}, other)
    from localtask import InputModel

    replacement = InputModel.import_model(weights_url=str(other), name="base v2")
    draft = Task.clone(source.id)
    Store.open(localtask_home).set_task_model(draft.id, "input", "base.pkl", replacement.id)
    Task.enqueue(draft, queue_name="default")
    _, log = run_to_completion(localtask_home, draft.id)
    assert "RESULT base {'base': 'v2'}" in log
    assert [m.id for m in Task.get_task(draft.id).models["input"]] == [replacement.id]


def test_switched_off_nothing_is_logged(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": """\
import joblib
from localtask import Task

task = Task.init(project_name="joblib", task_name="off", auto_connect_frameworks={"joblib": False})
joblib.dump([1, 2], "model.pkl")
print("RESULT", joblib.load("model.pkl"))
print("TASK_ID=" + task.id)
"""})
    proc = run_script(repo / "job.py", home=localtask_home)
    task = Task.get_task(recorded_id(proc))
    assert results(proc.stdout) == ["[1, 2]"]
    assert task.models == {"input": [], "output": []}
