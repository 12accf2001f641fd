"""The Task API: lookup, clone, reset, queues, outputs, life cycle, end of process."""
from __future__ import annotations

import math
import os
import sqlite3
import time
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import pytest

from localtask import (
    LocaltaskError,
    ArtifactError,
    IllegalTransitionError,
    QueueError,
    Task,
    TaskNotFoundError,
    TaskStatus,
)
from localtask.store import DB_NAME, Store

from conftest import INIT_SCRIPT, run_script, task_id_of, tree_bytes, write_files, write_script

STATUSES = [s.value for s in TaskStatus]


def recorded(name: str = "run", project: str = "proj", tags=None, home=None) -> Task:
    """A run recorded by this process and closed: status completed."""
    task = Task.init(project_name=project, task_name=name, tags=tags, home=home)
    task.close()
    return task


def queue_ids(task: Task) -> list[str]:
    return [e["task_id"] for e in task._store.queue_entries()]


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# ------------------------------------------------------------------ a task in every status
@pytest.fixture(scope="module")
def module_source(tmp_path_factory):
    """One recorded task in a module-wide store; tests clone it to get cheap drafts."""
    home = tmp_path_factory.mktemp("module-store")
    task = Task.init(project_name="proj", task_name="source", home=home)
    task.connect({"lr": 0.1})
    task.close()
    return task


def in_status(source: Task, status: str) -> Task:
    task = Task.clone(source)
    if status == "created":
        return task
    if status == "queued":
        return Task.enqueue(task)
    task.mark_started()
    if status == "in_progress":
        return task
    if status in ("completed", "published"):
        task.mark_completed()
        if status == "published":
            task.publish()
    elif status == "failed":
        task.mark_failed(status_reason="it broke")
    elif status == "stopped":
        task.mark_stopped()
    assert task.status == status
    return task


# operation -> (how to do it, statuses it is allowed from, resulting status)
OPERATIONS = {
    "start": (lambda t: t.mark_started(), {"created", "queued"}, "in_progress"),
    "complete": (lambda t: t.mark_completed(), {"in_progress"}, "completed"),
    "fail": (lambda t: t.mark_failed(status_reason="x"), {"created", "queued", "in_progress"}, "failed"),
    "stop": (lambda t: t.mark_stopped(), {"queued", "in_progress"}, "stopped"),
    "publish": (lambda t: t.publish(), {"completed", "stopped"}, "published"),
    "reset": (lambda t: t.reset(), {"created", "stopped", "failed", "completed"}, "created"),
    "enqueue": (lambda t: Task.enqueue(t), {"created", "stopped", "failed"}, "queued"),
    "dequeue": (lambda t: Task.dequeue(t), {"queued"}, "created"),
    "delete": (lambda t: t.delete(), {"created", "stopped", "failed", "completed", "queued"}, None),
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_transition_rules(module_source, operation, status):
    do, allowed, result = OPERATIONS[operation]
    task = in_status(module_source, status)
    if status in allowed:
        do(task)
        if result is None:
            with pytest.raises(TaskNotFoundError):
                Task.get_task(task.id, home=task.store_home)
            assert task.id not in queue_ids(task)
            return
        assert task.status == result
    else:
        with pytest.raises(IllegalTransitionError) as info:
            do(task)
        message = str(info.value)
        assert message.startswith(f"Cannot {operation} task {task.id}: it is {status} (allowed from: ")
        for name in allowed:
            assert name in message.split("allowed from:")[1]
        assert task.status == status
    # The queue and the status always agree.
    assert (task.id in queue_ids(task)) == (task.status == "queued")


@pytest.mark.parametrize("status", ["in_progress", "queued"])
def test_force_reset_and_delete_of_active_tasks(module_source, status):
    task = in_status(module_source, status)
    with pytest.raises(IllegalTransitionError, match="pass force=True"):
        task.reset()
    task.reset(force=True)
    assert task.status == "created"
    assert task.id not in queue_ids(task)
    again = in_status(module_source, status)
    again.delete(force=True)
    with pytest.raises(TaskNotFoundError):
        Task.get_task(again.id, home=again.store_home)


@pytest.mark.parametrize("operation", ["reset", "delete", "fail", "enqueue"])
def test_published_is_final_even_with_force(module_source, operation):
    task = in_status(module_source, "published")
    calls = {
        "reset": lambda: task.reset(force=True),
        "delete": lambda: task.delete(force=True),
        "fail": lambda: task.mark_failed(force=True),
        "enqueue": lambda: Task.enqueue(task, force=True),
    }
    with pytest.raises(IllegalTransitionError, match="it is published"):
        calls[operation]()
    assert task.status == "published"
    assert Task.clone(task).status == "created"  # clone stays allowed


# ------------------------------------------------------------------ lookup
def test_get_task_by_id_prefix_and_name(localtask_home):
    first = recorded("train")
    second = recorded("train")
    other = recorded("train", project="other")
    assert Task.get_task(first.id).id == first.id
    assert Task.get_task(task_id=first.id[:10]).id == first.id
    assert Task.get_task(first.id.upper()).id == first.id
    assert Task.get_task(project_name="proj", task_name="train").id == second.id
    assert Task.get_task(project_name="other", task_name="train").id == other.id
    assert Task.get_task(task_name="train").id == other.id  # newest, any project
    with pytest.raises(TaskNotFoundError, match="No task named 'nope' in project 'proj'"):
        Task.get_task(project_name="proj", task_name="nope")
    with pytest.raises(TaskNotFoundError):
        Task.get_task()
    with pytest.raises(TaskNotFoundError):
        Task.get_task("0" * 32)


def test_get_tasks_filters(localtask_home):
    a = recorded("train-small", project="p1", tags=["exp", "small"])
    b = recorded("train-big", project="p1", tags=["exp"])
    c = recorded("evaluate", project="p2", tags=["small"])
    failed = Task.clone(c, name="eval-failed")
    failed.mark_failed(status_reason="bad")
    draft = Task.clone(a, name="draft-train")

    def ids(**filters):
        return [t.id for t in Task.get_tasks(**filters)]

    assert ids() == [draft.id, failed.id, c.id, b.id, a.id]  # newest first
    assert ids(project_name="p1") == [draft.id, b.id, a.id]  # a clone keeps the project
    assert ids(task_name="train") == [draft.id, b.id, a.id]
    assert ids(task_name="TRAIN-S") == [a.id]
    assert ids(tags=["small"]) == [draft.id, failed.id, c.id, a.id]  # clones keep their tags
    assert ids(tags=["exp", "small"]) == [draft.id, a.id]  # every tag must match
    assert ids(tags=["exp"], project_name="p1", task_name="big") == [b.id]
    assert ids(status="failed") == [failed.id]
    assert ids(status=["created", "failed"]) == [draft.id, failed.id]
    assert ids(task_filter={"status": "failed"}) == [failed.id]  # ClearML's spelling, a single status
    assert ids(project_name="p2", status=["completed"]) == [c.id]
    assert ids(task_ids=[a.id[:12], c.id]) == [c.id, a.id]
    assert ids(project_name="nothing") == []


def test_current_task(localtask_home):
    assert Task.current_task() is None
    task = Task.init(project_name="proj", task_name="current")
    assert Task.current_task() is task
    assert Task.init(project_name="proj", task_name="again") is task  # same process, same task
    assert Task.get_task(task.id) is task
    task.close()
    assert Task.current_task() is None
    assert task.status == "completed"


# ------------------------------------------------------------------ clone
@pytest.fixture
def rich_source(localtask_home, tmp_path):
    task = Task.init(project_name="proj", task_name="rich", tags=["t1", "t2"], task_type="testing")
    task.connect({"lr": 0.1, "layers": [1, 2]})
    task.connect({"seed": 5}, name="Args")
    task.connect_configuration({"depth": 3}, name="model")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("a: 1\n")
    task.connect_configuration(cfg, name="yaml")
    task.get_logger().report_scalar("loss", "train", 0.5, 1)
    task.get_logger().report_text("console text of the source")
    task.upload_artifact("stats", {"acc": 0.9})
    task.close()
    return task


def test_clone_copies_configuration_not_outputs(rich_source):
    source = rich_source
    clone = Task.clone(source)
    assert clone.id != source.id
    assert clone.status == "created"
    assert clone.name == "Clone of rich"
    assert clone.project == "proj"
    assert clone.task_type == "testing"
    assert clone.get_tags() == ["t1", "t2"]
    assert clone.get_script() == source.get_script()
    assert clone.get_environment() == source.get_environment()
    store = source._store
    assert store.get_code(clone.id) == store.get_code(source.id)
    assert clone.get_parameters() == source.get_parameters() == {
        "General/lr": 0.1, "General/layers": [1, 2], "Args/seed": 5}
    assert clone.get_configuration_objects() == source.get_configuration_objects()
    assert set(clone.get_configuration_objects()) == {"model", "yaml"}
    # outputs stay with the source
    assert source.get_reported_scalars() == {"loss": {"train": {"x": [1], "y": [0.5]}}}
    assert clone.get_reported_scalars() == {}
    assert "stats" in source.artifacts and clone.artifacts == {}
    assert "console text of the source" in source.get_reported_console_output()[0]
    assert clone.get_reported_console_output() == []
    row = clone.data
    assert row["started"] is None and row["completed"] is None and row["status_reason"] == ""
    assert row["worker"] is None and row["queue"] is None


def test_clone_copies_the_recorded_code(localtask_home, make_repo):
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    write_files(make_repo, {"README.md": "# edited, not committed\n"})
    source = Task.get_task(task_id_of(run_script(script, home=localtask_home, cwd=make_repo)))
    clone = Task.clone(source)
    assert b"+# edited, not committed" in source.get_diff()
    assert clone.get_diff() == source.get_diff()
    assert clone.get_script()["commit"] == source.get_script()["commit"]
    assert clone.get_script()["entry_point"] == "train.py"


def test_clone_parent_rules(rich_source):
    source = rich_source
    assert source.parent is None
    first = Task.clone(source)
    assert first.parent == source.id  # no parent: the original becomes the parent
    second = Task.clone(first)
    assert second.parent == source.id  # the original's parent is kept
    forced = Task.clone(first, parent=second)
    assert forced.parent == second.id
    named = Task.clone(source.id[:8], name="custom", project="elsewhere", comment="why")
    assert (named.name, named.project, named.comment) == ("custom", "elsewhere", "why")
    with pytest.raises(TaskNotFoundError):
        Task.clone(source, parent="f" * 32)


def test_clone_is_editable_and_independent(rich_source):
    clone = Task.clone(rich_source)
    clone.set_parameter("General/lr", 0.5)
    clone.set_configuration_object("yaml", "a: 2\n")
    clone.add_tags("edited")
    assert rich_source.get_parameters()["General/lr"] == 0.1
    assert rich_source.get_configuration_object("yaml") == "a: 1\n"
    assert rich_source.get_tags() == ["t1", "t2"]
    assert clone.get_tags() == ["t1", "t2", "edited"]


# ------------------------------------------------------------------ reset
def run_with_outputs(tmp_path) -> Task:
    task = Task.init(project_name="proj", task_name="outputs")
    task.connect({"lr": 0.1})
    task.connect_configuration({"depth": 3}, name="model")
    task.get_logger().report_scalar("loss", "train", 0.5, 1)
    print("printed by the run")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00weights")
    task.upload_artifact("weights", weights)
    task.upload_artifact("stats", {"acc": 0.9})
    task.mark_failed(status_reason="diverged")
    task.close()
    return task


def test_reset_deletes_outputs_and_keeps_configuration(localtask_home, tmp_path):
    task = run_with_outputs(tmp_path)
    console = task._store.console_path(task.id)
    assert "printed by the run" in console.read_text()
    assert task.get_reported_scalars() != {}
    artifact_files = [Path(a.get_local_copy()) for a in task.artifacts.values()]
    task.reset()
    row = task.data
    assert row["status"] == "created"
    assert row["status_reason"] == "" and row["started"] is None and row["completed"] is None
    assert not console.exists()
    assert task.get_reported_console_output() == []
    assert task.get_reported_scalars() == {}
    assert task._store.count_scalars(task.id) == 0
    assert task.get_parameters() == {"General/lr": 0.1}
    assert task.get_configuration_object_as_dict("model") == {"depth": 3}
    assert task.get_script()["argv"] is not None and task.get_environment()["python"]
    assert sorted(task.artifacts) == ["stats", "weights"]  # kept unless asked
    assert all(p.exists() for p in artifact_files)

    task.reset(delete_artifacts=True)
    assert task.artifacts == {}
    assert not any(p.exists() for p in artifact_files)
    assert task.get_parameters() == {"General/lr": 0.1}


def test_reset_refused_on_published_with_a_clear_message(localtask_home):
    task = recorded("to-publish")
    task.publish()
    with pytest.raises(IllegalTransitionError) as info:
        task.reset()
    assert str(info.value).startswith(
        f"Cannot reset task {task.id}: it is published (allowed from: completed, created, failed, stopped)")
    assert "clone it instead" in str(info.value)
    assert task.status == "published"


def test_reset_of_running_task_needs_force(localtask_home):
    task = Task.init(project_name="proj", task_name="running")
    task.get_logger().report_scalar("s", "s", 1.0, 0)
    with pytest.raises(IllegalTransitionError) as info:
        task.reset()
    assert f"Cannot reset task {task.id}: it is in_progress" in str(info.value)
    assert task.status == "in_progress"
    task.reset(force=True)
    assert task.status == "created"
    task.close()
    assert task.status == "created"  # closing does not complete a task that was reset meanwhile


# ------------------------------------------------------------------ queues
@pytest.mark.parametrize("start", ["created", "stopped", "failed"])
def test_enqueue_and_dequeue_restore_the_previous_status(module_source, start):
    task = in_status(module_source, start)
    Task.enqueue(task, queue_name="gpu-a100", priority=3)
    assert task.status == "queued"
    entries = task._store.queue_entries("gpu-a100")
    assert [(e["task_id"], e["priority"]) for e in entries if e["task_id"] == task.id] == [(task.id, 3)]
    assert task.data["queue"] == "gpu-a100"
    counts = {q["name"]: q["queued"] for q in task._store.queue_counts()}
    assert counts["gpu-a100"] >= 1
    Task.dequeue(task)
    assert task.status == start
    assert task.id not in queue_ids(task)
    assert task.get_parameters() == {"General/lr": 0.1}


def test_enqueue_refused_leaves_no_queue_row(module_source):
    task = in_status(module_source, "completed")
    with pytest.raises(IllegalTransitionError) as info:
        Task.enqueue(task)
    assert f"Cannot enqueue task {task.id}: it is completed (allowed from: created, failed, stopped)" \
        in str(info.value)
    assert task.id not in queue_ids(task)
    assert task.status == "completed"
    Task.enqueue(task, force=True)  # force: a re-run of a completed task
    assert task.status == "queued" and task.id in queue_ids(task)


@pytest.mark.parametrize("name", ["bad name", "-starts-with-dash", "x" * 101, "a/b", "q\x00"])
def test_invalid_queue_name(module_source, name):
    task = in_status(module_source, "created")
    with pytest.raises(QueueError, match="Invalid queue name"):
        Task.enqueue(task, queue_name=name)
    assert task.status == "created"
    assert task.id not in queue_ids(task)


def test_enqueue_is_one_transaction(module_source):
    """If the queue row cannot be written, the status does not change either."""
    task = in_status(module_source, "created")
    conn = sqlite3.connect(str(task.store_home / DB_NAME), isolation_level=None)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON queue_entries "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    try:
        with pytest.raises(LocaltaskError, match="injected failure"):
            Task.enqueue(task, queue_name="default")
        assert task.status == "created"
        assert task.data["queue"] is None
        assert [e for e in task._store.queue_entries() if e["task_id"] == task.id] == []
    finally:
        conn.execute("DROP TRIGGER refuse")
        conn.close()


# ------------------------------------------------------------------ scalars and console
def test_task_flush_writes_buffered_scalars_before_close(localtask_home):
    task = Task.init(project_name="proj", task_name="flushed")
    task.get_logger().report_scalar("loss", "train", 0.5, 1)
    assert task.flush() is True  # ClearML's Task.flush
    assert Store.open().count_scalars(task.id) == 1  # durable before close
    task.close()


def test_report_scalar_100k_values_all_stored(localtask_home):
    task = Task.init(project_name="proj", task_name="many-scalars")
    logger = task.get_logger()
    for i in range(100_000):
        logger.report_scalar("loss", "train", i * 0.5, i)
    logger.report_scalar("loss", "val", math.nan, 0)
    logger.report_single_value("best", 0.25)
    task.close()
    fresh = Task.get_task(task.id)
    assert task._store.count_scalars(task.id) == 100_002
    scalars = fresh.get_reported_scalars()
    assert scalars["loss"]["train"]["x"] == list(range(100_000))
    assert scalars["loss"]["train"]["y"][:3] == [0.0, 0.5, 1.0]
    assert scalars["loss"]["train"]["y"][-1] == 99_999 * 0.5
    assert math.isnan(scalars["loss"]["val"]["y"][0])
    assert scalars["Summary"]["best"] == {"x": [0], "y": [0.25]}


def test_scalars_reach_the_store_without_close(localtask_home):
    task = Task.init(project_name="proj", task_name="live")
    task.get_logger().report_scalar("acc", "val", 0.75, 3)
    other = Store(localtask_home)  # what another process (the UI) would read
    deadline = time.monotonic() + 10
    while other.count_scalars(task.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert other.get_scalars(task.id) == [{"title": "acc", "series": "val", "iteration": 3, "value": 0.75}]
    other.close()
    task.close()


def test_bad_scalar_is_refused(localtask_home):
    from localtask import LocaltaskError

    task = Task.init(project_name="proj", task_name="bad-scalar")
    with pytest.raises(LocaltaskError, match="value must be a number"):
        task.get_logger().report_scalar("a", "b", "high", 0)
    task.close()
    assert task.get_reported_scalars() == {}


CONSOLE_SCRIPT = """
import sys
from localtask import Task

task = Task.init(project_name="proj", task_name="console")
print("TASK_ID=" + task.id)
print("out-line ünï ✓")
print("err-line", file=sys.stderr)
sys.stdout.write("partial ")
sys.stdout.write("line\\n")
task.get_logger().report_text("report-text-line")
task.get_logger().report_text("log-only-line", print_console=False)
"""


def test_console_is_teed_to_the_log_and_the_terminal(localtask_home, tmp_path):
    script = write_script(tmp_path / "console.py", CONSOLE_SCRIPT)
    proc = run_script(script, home=localtask_home)
    task = Task.get_task(task_id_of(proc))
    log = task.get_reported_console_output()[0]
    for line in ("out-line ünï ✓", "err-line", "partial line", "report-text-line", "log-only-line"):
        assert line in log
    assert "out-line ünï ✓" in proc.stdout and "partial line" in proc.stdout
    assert "report-text-line" in proc.stdout
    assert "log-only-line" not in proc.stdout and "log-only-line" not in proc.stderr
    assert "err-line" in proc.stderr and "err-line" not in proc.stdout
    assert log == (localtask_home / "tasks" / task.id / "console.log").read_text()


def test_report_text_in_process(localtask_home):
    task = Task.init(project_name="proj", task_name="text")
    task.get_logger().report_text("hello from report_text")
    assert "hello from report_text" in task.get_reported_console_output()[0]
    task.close()
    assert "hello from report_text" in Task.get_task(task.id).get_reported_console_output()[0]


# ------------------------------------------------------------------ end of the process
@pytest.mark.parametrize("ending, rc, status, reason", [
    ("pass", 0, "completed", None),
    ("sys.exit(0)", 0, "completed", None),
    ("sys.exit(None)", 0, "completed", None),
    ("raise ValueError('kaboom')", 1, "failed", "ValueError: kaboom"),
    ("sys.exit(3)", 3, "failed", "exit code 3"),
    ("sys.exit('fatal message')", 1, "failed", "exit code 1"),
    pytest.param("raise SystemExit(4)", 4, "failed", "exit code 4", marks=pytest.mark.xfail(
        strict=True, reason="known limitation: a bare `raise SystemExit(n)` reaches no hook, so the "
                            "exit code is unknown at atexit and the task ends completed")),
    ("exit(5)", 5, "failed", "exit code 5"),
    ("raise KeyboardInterrupt", None, "failed", "KeyboardInterrupt"),
], ids=["normal", "exit-0", "exit-none", "exception", "exit-3", "exit-message", "raise-systemexit",
        "builtin-exit", "ctrl-c"])
def test_task_status_at_process_exit(localtask_home, tmp_path, ending, rc, status, reason):
    script = write_script(tmp_path / "end.py", f"""
        import sys
        from localtask import Task
        task = Task.init(project_name="proj", task_name="ending")
        print("TASK_ID=" + task.id, flush=True)
        {ending}
    """)
    proc = run_script(script, home=localtask_home)
    if rc is not None:
        assert proc.returncode == rc, proc.stderr
    task = Task.get_task(task_id_of(proc, expect_rc=None))
    assert task.status == status, task.get_status_message()
    if reason is None:
        assert task.get_status_message() == ""
    else:
        assert reason in task.get_status_message()
    assert task.data["completed"] is not None
    if "ValueError" in ending:
        assert "Traceback (most recent call last)" in task.get_status_message()
        assert "ValueError: kaboom" in proc.stderr  # the user still sees their traceback


# ------------------------------------------------------------------ artifacts
def test_artifacts_round_trip(localtask_home, tmp_path):
    task = Task.init(project_name="proj", task_name="artifacts")
    model = tmp_path / "model.pt"
    model.write_bytes(os.urandom(4096))
    folder = tmp_path / "out"
    write_files(folder, {"a.txt": "a\n", "sub/b.bin": b"\x00\x01", "sub/deeper/c.txt": "ü\n"})
    obj = Fraction(1, 3)
    not_json = {"when": datetime(2024, 1, 2, tzinfo=timezone.utc), 1: (2, 3), "nan": math.nan}
    task.upload_artifact("model", model, metadata={"epoch": 3})
    task.upload_artifact("outputs", folder)
    task.upload_artifact("metrics", {"acc": 0.9, "per_class": [0.8, 1.0], "name": "ünï"})
    task.upload_artifact("rows", [1, 2, 3])
    task.upload_artifact("notes", "some text ✓")
    task.upload_artifact("state", obj)
    task.upload_artifact("not_json", not_json)
    task.close()

    arts = Task.get_task(task.id).artifacts
    assert sorted(arts) == ["metrics", "model", "not_json", "notes", "outputs", "rows", "state"]
    assert Path(arts["model"].get_local_copy()).read_bytes() == model.read_bytes()
    assert arts["model"].metadata["epoch"] == 3
    assert arts["model"].size == 4096
    extracted = Path(arts["outputs"].get_local_copy())
    assert tree_bytes(extracted) == tree_bytes(folder)
    assert arts["metrics"].get() == {"acc": 0.9, "per_class": [0.8, 1.0], "name": "ünï"}
    assert arts["rows"].get() == [1, 2, 3]
    assert arts["notes"].get() == "some text ✓"
    assert arts["metrics"].type == "json"  # readable as a file by any tool
    assert arts["state"].get() == obj
    assert arts["state"].type == "pickle"
    # A dict that JSON would change comes back unchanged too.
    back = arts["not_json"].get()
    assert back.keys() == not_json.keys()
    assert back["when"] == not_json["when"] and back[1] == (2, 3) and math.isnan(back["nan"])
    for art in arts.values():
        assert Path(art.get_local_copy()).resolve().is_relative_to(localtask_home.resolve())


def test_uploading_again_replaces_the_artifact(localtask_home):
    task = Task.init(project_name="proj", task_name="replace")
    task.upload_artifact("metrics", {"acc": 0.5})
    task.upload_artifact("metrics", {"acc": 0.9})
    assert task.artifacts["metrics"].get() == {"acc": 0.9}
    assert len(task.artifacts) == 1
    task.close()


@pytest.mark.parametrize("name", ["../evil", "../../evil", "a/b", "/abs", "x\x00y", ".", "..", ".hidden",
                                  "back\\slash", "", "n" * 201, None])
@pytest.mark.parametrize("payload", ["dict", "file"])
def test_bad_artifact_names_write_nothing(localtask_home, tmp_path, name, payload):
    task = Task.init(project_name="proj", task_name="bad-names")
    source = tmp_path / "payload.txt"
    source.write_text("payload")
    obj = {"a": 1} if payload == "dict" else source
    before = files_under(tmp_path)
    with pytest.raises(ArtifactError, match="Invalid artifact name"):
        task.upload_artifact(name, obj)
    assert files_under(tmp_path) == before
    assert task.artifacts == {}
    task.close()


def test_unpicklable_object_is_an_artifact_error(localtask_home):
    task = Task.init(project_name="proj", task_name="unpicklable")
    with pytest.raises(ArtifactError, match="cannot be pickled"):
        task.upload_artifact("gen", (x for x in range(3)))
    assert task.artifacts == {}
    assert not [p for p in (localtask_home / "tasks" / task.id).rglob("*") if p.is_file()
                and p.name != "console.log"]
    task.close()


def test_missing_artifact_file_is_a_clear_error(localtask_home):
    task = recorded("missing")
    task.upload_artifact("stats", {"a": 1})
    art = task.artifacts["stats"]
    Path(art.get_local_copy()).unlink()
    with pytest.raises(ArtifactError, match="is missing"):
        art.get()


# ------------------------------------------------------------------ mark_*, publish, delete
def test_mark_calls_record_times_and_reasons(module_source):
    task = in_status(module_source, "created")
    task.mark_started()
    assert task.status == "in_progress" and task.data["started"] is not None
    task.mark_failed(status_reason="out of memory")
    assert task.status == "failed" and task.get_status_message() == "out of memory"
    assert task.data["completed"] is not None
    task.reset()
    task.mark_started()
    task.mark_stopped(status_message="user stop")
    assert task.status == "stopped" and task.get_status_message() == "user stop"
    task.publish()
    assert task.status == "published"
    with pytest.raises(IllegalTransitionError):
        task.set_parameter("General/lr", 1.0)
    with pytest.raises(IllegalTransitionError):
        task.mark_started(force=True)


def test_delete_removes_rows_and_files(localtask_home, tmp_path):
    task = run_with_outputs(tmp_path)
    folder = localtask_home / "tasks" / task.id
    assert folder.is_dir()
    child = Task.clone(task)
    task.delete()
    with pytest.raises(TaskNotFoundError):
        Task.get_task(task.id)
    assert not folder.exists()
    conn = sqlite3.connect(str(localtask_home / DB_NAME))
    for table in ("parameters", "configurations", "artifacts", "queue_entries"):
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE task_id = ?", (task.id,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM scalars").fetchone()[0] == 0
    conn.close()
    assert child.get_parameters() == {"General/lr": 0.1}  # the clone is on its own


def test_running_task_cannot_be_deleted(localtask_home):
    task = Task.init(project_name="proj", task_name="busy")
    with pytest.raises(IllegalTransitionError, match=f"Cannot delete task {task.id}: it is in_progress"):
        task.delete()
    assert task.status == "in_progress"
    task.close()


# ------------------------------------------------------------------ execute_remotely
REMOTE_SCRIPT = """
import argparse
from localtask import Task

task = Task.init(project_name="proj", task_name="remote")
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
cfg = task.connect({{"lr": 0.1}})
print("TASK_ID=" + task.id)
print("before execute_remotely")
result = task.execute_remotely(queue_name="default", clone={clone})
print("SHOULD-NOT-RUN", result)
"""


def test_execute_remotely_queues_this_task_and_exits(localtask_home, tmp_path):
    script = write_script(tmp_path / "remote.py", REMOTE_SCRIPT.format(clone=False))
    proc = run_script(script, "--epochs", "5", home=localtask_home)
    task = Task.get_task(task_id_of(proc))
    assert "before execute_remotely" in proc.stdout
    assert "SHOULD-NOT-RUN" not in proc.stdout
    assert task.status == "queued"
    assert [(e["queue"], e["task_id"]) for e in task._store.queue_entries()] == [("default", task.id)]
    assert task.get_parameters() == {"Args/epochs": 5, "General/lr": 0.1}
    assert task.data["started"] is None and task.data["completed"] is None
    assert task._store.count_scalars(task.id) == 0
    Task.dequeue(task)
    assert task.status == "created"  # a draft again, ready to be edited


def test_execute_remotely_with_clone_stops_the_original(localtask_home, tmp_path):
    script = write_script(tmp_path / "remote.py", REMOTE_SCRIPT.format(clone=True))
    proc = run_script(script, home=localtask_home)
    original = Task.get_task(task_id_of(proc))
    assert "SHOULD-NOT-RUN" not in proc.stdout
    queued = Task.get_tasks(status="queued")
    assert len(queued) == 1 and queued[0].id != original.id
    clone = queued[0]
    assert original.status == "stopped"
    assert clone.id in original.get_status_message()
    assert clone.get_parameters() == original.get_parameters() == {"Args/epochs": 3, "General/lr": 0.1}
    assert clone.parent == original.id
    assert clone.name == "remote"


def test_init_prints_one_line_naming_the_task_the_store_and_the_command(localtask_home, make_repo):
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    proc = run_script(script, home=localtask_home)
    task_id = task_id_of(proc)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("localtask: task ")]
    assert lines == [f"localtask: task {task_id} recorded in {localtask_home} "
                     f"(see it: localtask show {task_id[:8]})"]
    # written before the console tee: the task's console is the script's own output
    console = Task.get_task(task_id).get_reported_console_output()[0]
    assert "recorded in" not in console and f"TASK_ID={task_id}" in console


def test_init_line_names_a_store_that_is_not_the_default(localtask_home, make_repo, tmp_path):
    other = tmp_path / "other store"
    script = write_script(make_repo / "train.py", """
        import sys
        from localtask import Task
        task = Task.init(project_name="proj", task_name="run", home=sys.argv[1])
        print("TASK_ID=" + task.id)
        """)
    proc = run_script(script, str(other), home=localtask_home)
    task_id = task_id_of(proc)
    assert f"(see it: localtask --home '{other}' show {task_id[:8]})" in proc.stderr


def test_init_line_silenced_by_localtask_quiet(localtask_home, make_repo):
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    proc = run_script(script, home=localtask_home, env={"LOCALTASK_QUIET": "1"})
    task_id_of(proc)
    assert "recorded in" not in proc.stderr
