"""ClearML Task calls beyond the life cycle, on a real store: user properties, registered
artifacts, last metrics, requirements, queries."""
from __future__ import annotations

import pytest

from localtask import IllegalTransitionError, Task


def test_user_properties_set_read_delete_in_any_status_but_published(localtask_home):
    task = Task.init(project_name="p", task_name="props")
    task.set_user_properties({"name": "stage", "value": 2, "description": "pipeline stage"},
                             owner="me", batch={"value": 32, "description": "batch size"})
    task.close()
    assert task.status == "completed"
    task.set_user_properties(done="yes")  # a completed task still takes properties (ClearML too)
    props = Task.get_task(task.id).get_user_properties()
    assert props["stage"] == {"name": "stage", "value": "2", "description": "pipeline stage", "type": "str"}
    assert Task.get_task(task.id).get_user_properties(value_only=True) == {
        "batch": "32", "done": "yes", "owner": "me", "stage": "2"}
    task.delete_user_properties(["owner", "stage"])
    assert sorted(task.get_user_properties()) == ["batch", "done"]
    task.publish()
    with pytest.raises(IllegalTransitionError):
        task.set_user_properties(late="no")


def test_registered_artifact_is_stored_with_its_latest_content_at_close(localtask_home):
    pd = pytest.importorskip("pandas")
    task = Task.init(project_name="p", task_name="registered")
    frame = pd.DataFrame({"a": [1]})
    task.register_artifact("train", frame, metadata={"split": "train"})
    assert task.get_registered_artifacts()["train"] is frame
    frame.loc[1] = [2]
    task.register_artifact("gone", pd.DataFrame({"b": [0]}))
    task.unregister_artifact("gone")
    task.close()
    again = Task.get_task(task.id)
    assert list(again.artifacts["train"].get()["a"]) == [1, 2]
    assert "gone" not in again.artifacts


def test_last_metrics_iteration_requirements_and_query(localtask_home):
    task = Task.init(project_name="metrics", task_name="run one", tags=["t1"])
    log = task.get_logger()
    for i, value in enumerate([0.9, 0.4, 0.6]):
        log.report_scalar("loss", "val", value, i * 10)
    assert task.running_locally() is True
    task.close()
    assert task.get_last_scalar_metrics() == {"loss": {"val": {"last": 0.6, "min": 0.4, "max": 0.9}}}
    assert task.get_last_iteration() == 20
    assert any(line.startswith("localtask") for line in task.get_requirements())
    other = Task.clone(task, name="another")
    assert Task.query_tasks(project_name="metrics", task_name="run") == [task.id]
    assert set(Task.query_tasks(project_name="metrics")) == {task.id, other.id}
    assert Task.query_tasks(project_name="metrics", task_filter={"status": ["created"]},
                            additional_return_fields=["name"]) == [{"id": other.id, "name": "another"}]
    assert task.get_output_log_web_page().endswith(f"#/task/{task.id}/console")


def test_archived_tasks_are_hidden_from_lists_unless_asked(localtask_home):
    from helpers_worker import cli

    kept = Task.init(project_name="arch", task_name="kept")
    kept.close()
    old = Task.clone(kept, name="old one")
    assert old.get_archived() is False
    old.set_archived(True)
    assert Task.get_task(old.id).get_archived() is True
    assert Task.query_tasks(project_name="arch") == [kept.id]
    assert set(Task.query_tasks(project_name="arch", task_filter={"archived": True})) == {kept.id, old.id}
    listed = cli("list", "--json", home=localtask_home).stdout
    assert kept.id in listed and old.id not in listed
    assert old.id in cli("list", "--archived", "--json", home=localtask_home).stdout
    clone = Task.clone(old)  # a clone of an archived task is not archived
    assert clone.get_archived() is False
    old.set_archived(False)
    assert old.id in cli("list", "--json", home=localtask_home).stdout
