"""The ``localtask`` command line, against real stores made by real recorded runs."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from localtask import Store, Task, cli as cli_module
from localtask.cli import cli

TRAIN = '''\
import sys
from localtask import Task

task = Task.init(project_name=sys.argv[1], task_name=sys.argv[2], tags=["cli", sys.argv[2]])
params = task.connect({"epochs": 3, "lr": 0.1, "opt": "adam", "flag": True})
task.connect_configuration({"layers": [8, 4]}, name="model")
for i in range(params["epochs"]):
    task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
    print("epoch", i)
task.upload_artifact("metrics", {"acc": 0.9})
print("ID", task.id)
'''


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with two recorded runs (run1 in project proj, then run2 in project other), made
    once per module by running a script from a git repository with an untracked file."""
    base = tmp_path_factory.mktemp("cli-template")
    repo, home = base / "repo", base / "home"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "train")
    (repo / "notes.txt").write_text("uncommitted note\n")
    env = {k: v for k, v in os.environ.items() if k != "LOCALTASK_TASK_ID"}
    env["LOCALTASK_HOME"] = str(home)
    ids = {}
    for project, name in (("proj", "run1"), ("other", "run2")):
        proc = subprocess.run([sys.executable, "train.py", project, name, "--seed", "1"], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        ids[name] = re.search(r"^ID ([0-9a-f]{32})$", proc.stdout, re.M).group(1)
    return home, ids, repo


@pytest.fixture
def store(localtask_home, template):
    """A copy of the template store at ``LOCALTASK_HOME``, with ``store.ids``."""
    shutil.copytree(template[0], localtask_home)
    opened = Store.open(localtask_home)
    opened.ids = template[1]
    return opened


def run(*args: str, code: int = 0, input: str | None = None):
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def clone_of(store, source: str = "run1", **kwargs) -> str:
    return Task.clone(store.ids[source], home=store.home, **kwargs).id


def assert_error(result, start: str) -> None:
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: " + start), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------- list
def test_list_table_newest_first(store):
    lines = run("list").stdout.splitlines()
    assert lines[0].split() == ["ID", "PROJECT", "NAME", "STATUS", "TYPE", "QUEUE/WORKER", "CREATED",
                                "PARENT"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[8]) for r in rows] == [
        (store.ids["run2"][:8], "other", "run2", "completed", "training", "-", "-"),
        (store.ids["run1"][:8], "proj", "run1", "completed", "training", "-", "-"),
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", f"{rows[0][6]} {rows[0][7]}")


@pytest.mark.parametrize("args, names", [
    (["--project", "proj"], ["run1"]),
    (["--status", "completed"], ["run2", "run1"]),
    (["--status", "queued", "--status", "completed", "--project", "other"], ["run2"]),
    (["--tag", "cli"], ["run2", "run1"]),
    (["--tag", "cli", "--tag", "run1"], ["run1"]),
    (["--name", "RUN2"], ["run2"]),
    (["--limit", "1"], ["run2"]),
    (["--limit", "0"], ["run2", "run1"]),
])
def test_list_filters(store, args, names):
    assert [line.split()[2] for line in run("list", *args).stdout.splitlines()[1:]] == names
    assert [t["name"] for t in json.loads(run("list", "--json", *args).stdout)] == names


def test_list_empty_and_json(store):
    result = run("list", "--status", "queued")
    assert result.stdout == ""
    assert result.stderr == f"No tasks match in the store {store.home}.\n"
    empty = store.home.parent / "empty-store"
    result = run("--home", str(empty), "list")
    assert result.stderr == f"No tasks in the store {empty}.\n"
    assert json.loads(run("list", "--json", "--status", "queued").stdout) == []
    data = json.loads(run("list", "--json").stdout)
    assert [t["id"] for t in data] == [store.ids["run2"], store.ids["run1"]]
    assert data[1]["project"] == "proj" and data[1]["status"] == "completed"
    assert data[1]["tags"] == ["cli", "run1"] and data[1]["parent"] is None
    assert isinstance(data[1]["created"], float)


def test_list_shows_queue_and_parent(store):
    new = clone_of(store, name="c1")
    Task.enqueue(new, "gpu", home=store.home)
    row = run("list", "--status", "queued").stdout.splitlines()[1].split()
    assert row[0] == new[:8] and row[5] == "gpu" and row[8] == store.ids["run1"][:8]


def test_home_option_selects_another_store(store, tmp_path):
    other = tmp_path / "other-store"
    assert json.loads(run("--home", str(other), "list", "--json").stdout) == []
    assert (other / "localtask.db").exists()
    assert len(json.loads(run("--home", str(store.home), "list", "--json").stdout)) == 2


# --------------------------------------------------------------------- show
def test_show_text(store, template):
    task_id = store.ids["run1"]
    out = run("show", task_id[:6]).stdout
    lines = out.splitlines()
    for expected in (f"Task:          {task_id}", "Name:          run1", "Project:       proj",
                     "Type:          training", "Status:        completed", "Tags:          cli, run1",
                     "Parent:        -", f"  Repository:  {template[2]} (local path, no remote)",
                     "  Branch:      main", "  Entry point: train.py", "  Working dir: .",
                     "  Arguments:   proj run1 --seed 1", "Parameters (4):", "  General/epochs = 3 (int)",
                     "  General/flag = true (bool)", "  General/lr = 0.1 (float)",
                     '  General/opt = "adam" (str)', "Configuration objects (1): model (dict)",
                     "  Scalars:     3 points", "  Artifacts (1):", "    metrics (json, 16 B)"):
        assert expected in lines, (expected, out)
    assert re.search(r"^  Commit:      [0-9a-f]{40}$", out, re.M)
    assert re.search(r"^  Diff:        1 file, \d+ B: notes.txt$", out, re.M)
    assert re.search(r"^    localtask==0\.1\.0", out, re.M)
    assert re.search(r"^  Console log: \d+ B$", out, re.M)
    assert re.search(r"^Completed:     \S+ \S+ \(ran ", out, re.M)


def test_show_json(store):
    task_id = store.ids["run1"]
    data = json.loads(run("show", task_id[:5], "--json").stdout)
    assert data["id"] == task_id and data["status"] == "completed"
    assert data["parameters"]["General/epochs"] == {"value": 3, "type": "int", "description": ""}
    assert data["parameters"]["General/lr"]["value"] == 0.1
    assert data["configurations"] == [{"name": "model", "kind": "dict", "value": {"layers": [8, 4]},
                                       "description": ""}]
    assert data["script"]["argv"] == ["proj", "run1", "--seed", "1"]
    assert data["code"]["kind"] == "diff" and data["code"]["files"] == ["notes.txt"]
    assert data["code"]["size"] == len(Task.get_task(task_id).get_diff()) > 0
    outputs = data["outputs"]
    assert outputs["scalars"] == 3
    assert [(a["name"], a["type"], a["size"]) for a in outputs["artifacts"]] == [("metrics", "json", 16)]
    assert outputs["console_log"]["size"] == Path(outputs["console_log"]["path"]).stat().st_size > 0
    assert any(p["name"] == "localtask" for p in data["environment"]["packages"])


# --------------------------------------------------------------------- clone
def test_clone_set_keeps_types(store):
    src = store.ids["run1"]
    result = run("clone", src[:6], "--set", "General/epochs=5", "--set", "General/lr=1e-3",
                 "--set", "General/flag=no", "--set", "General/opt=sgd", "--name", "tuned",
                 "--project", "sweep", "--comment", "lr sweep")
    lines = result.stdout.splitlines()
    match = re.fullmatch(rf"Created task ([0-9a-f]{{32}}) \(created\): 'tuned' in project 'sweep', "
                         rf"a clone of {src}", lines[0])
    assert match, lines
    new = match.group(1)
    assert lines[1:] == [f"Parent: {src}", "Set General/epochs = 5 (int)", "Set General/lr = 0.001 (float)",
                         "Set General/flag = false (bool)", 'Set General/opt = "sgd" (str)']
    task = Task.get_task(new)
    assert task.get_parameters() == {"General/epochs": 5, "General/lr": 0.001, "General/flag": False,
                                     "General/opt": "sgd"}
    assert type(task.get_parameters()["General/epochs"]) is int
    assert {r["name"]: r["type"] for r in store.get_parameters(new)} == {
        "epochs": "int", "lr": "float", "flag": "bool", "opt": "str"}
    assert (task.status, task.name, task.project, task.comment) == ("created", "tuned", "sweep", "lr sweep")
    assert Task.get_task(src).get_parameters()["General/epochs"] == 3  # the original is untouched
    assert result.stderr == ""


def test_clone_set_int_to_float_and_new_parameter(store):
    result = run("clone", store.ids["run1"], "--set", "General/lr=2", "--set", "General/extra=7", "--new")
    new = re.search(r"Created task ([0-9a-f]{32})", result.stdout).group(1)
    assert "Set General/lr = 2.0 (float)" in result.stdout.splitlines()
    assert "General/extra is a new parameter" in result.stderr
    assert Task.get_task(new).get_parameters()["General/lr"] == 2.0


@pytest.mark.parametrize("extra", [[], ["--queue", "default"]])
def test_clone_bad_value_leaves_no_clone(store, extra):
    before = store.count_tasks()
    result = CliRunner().invoke(cli, ["clone", store.ids["run1"], "--set", "General/lr=0.5",
                                      "--set", "General/epochs=many", *extra])
    assert_error(result, "Parameter General/epochs is of type int; 'many' cannot be read as an int")
    assert store.count_tasks() == before
    assert store.queue_entries() == []
    assert sorted(p.name for p in store.tasks_dir.iterdir()) == sorted(store.ids.values())


def test_clone_bad_queue_leaves_no_clone(store):
    result = CliRunner().invoke(cli, ["clone", store.ids["run1"], "--queue", "no spaces"])
    assert_error(result, "Invalid queue name 'no spaces'")
    assert store.count_tasks() == 2


def test_clone_set_needs_equal_sign(store):
    result = run("clone", store.ids["run1"], "--set", "General/lr", code=2)
    assert "is not of the form Section/name=value" in result.stderr
    assert store.count_tasks() == 2


def test_clone_parent_options(store):
    run1, run2 = store.ids["run1"], store.ids["run2"]
    middle = clone_of(store)  # parent: run1
    assert Task.get_task(middle).parent == run1

    def parent_after(*args):
        out = run("clone", middle[:10], *args).stdout
        new = re.search(r"Created task ([0-9a-f]{32})", out).group(1)
        assert f"Parent: {Task.get_task(new).parent}" in out.splitlines()
        return Task.get_task(new).parent

    assert parent_after() == run1  # inherited from the source
    assert parent_after("--set-parent") == middle
    assert parent_after("--parent", run2[:6]) == run2
    result = run("clone", middle, "--parent", run2, "--set-parent", code=2)
    assert "--parent and --set-parent cannot be used together" in result.stderr
    assert_error(CliRunner().invoke(cli, ["clone", middle, "--parent", "ffff0000"]),
                 "No task id starts with 'ffff0000'")


def test_clone_queue(store):
    result = run("clone", store.ids["run2"], "--queue", "gpu", "--set", "General/epochs=1")
    assert result.stdout.splitlines()[-1] == "Enqueued on queue 'gpu'"
    new = re.search(r"Created task ([0-9a-f]{32}) \(queued\)", result.stdout).group(1)
    assert Task.get_task(new).status == "queued"
    assert [(e["queue"], e["task_id"]) for e in store.queue_entries()] == [("gpu", new)]
    assert json.loads(run("queues", "--json").stdout) == [{"name": "default", "queued": 0},
                                                           {"name": "gpu", "queued": 1}]


# --------------------------------------------------------------------- life cycle
def test_reset_keeps_or_deletes_artifacts(store):
    files = {}
    for name in ("run1", "run2"):
        files[name] = store.task_dir(store.ids[name]) / "artifacts" / "metrics.json"
        assert files[name].exists()
    out = run("reset", store.ids["run2"]).stdout
    assert out == (f"Reset task {store.ids['run2']}: now created; console log and scalars deleted, "
                   "artifacts kept\n")
    assert files["run2"].exists()
    assert not store.console_path(store.ids["run2"]).exists()
    assert store.count_scalars(store.ids["run2"]) == 0

    out = run("reset", store.ids["run1"][:7], "--delete-artifacts").stdout
    assert out.endswith("artifacts deleted\n")
    assert not files["run1"].exists()
    assert store.get_artifacts(store.ids["run1"]) == []
    data = json.loads(run("show", store.ids["run1"], "--json").stdout)
    assert data["status"] == "created" and data["started"] is None
    assert data["outputs"] == {"scalars": 0, "artifacts": [], "plots": 0, "debug_samples": 0, "single_values": {},
                               "console_log": {"path": data["outputs"]["console_log"]["path"], "size": 0}}
    assert data["parameters"]["General/epochs"]["value"] == 3  # configuration kept


def test_reset_queued_needs_force(store):
    new = clone_of(store)
    Task.enqueue(new, home=store.home)
    assert_error(CliRunner().invoke(cli, ["reset", new]), f"Cannot reset task {new}: it is queued")
    run("reset", new, "--force")
    assert Task.get_task(new).status == "created" and store.queue_entries() == []


def test_enqueue_dequeue(store):
    new = clone_of(store)
    assert run("enqueue", new[:8], "--queue", "q1", "--priority", "2").stdout == (
        f"Enqueued task {new} on queue 'q1' (priority 2)\n")
    assert [(e["queue"], e["task_id"], e["priority"]) for e in store.queue_entries()] == [("q1", new, 2)]
    assert run("queues").stdout.splitlines() == ["QUEUE    QUEUED", "default  0", "q1       1"]
    assert_error(CliRunner().invoke(cli, ["enqueue", new]), f"Cannot enqueue task {new}: it is queued")
    assert run("dequeue", new).stdout == f"Dequeued task {new}: now created\n"
    assert store.queue_entries() == []
    assert_error(CliRunner().invoke(cli, ["dequeue", new]), f"Cannot dequeue task {new}: it is created")
    assert run("enqueue", new).stdout == f"Enqueued task {new} on queue 'default'\n"
    assert Task.get_task(new).data["queue"] == "default"


def test_enqueue_completed_needs_force(store):
    task_id = store.ids["run1"]
    result = CliRunner().invoke(cli, ["enqueue", task_id])
    assert_error(result, f"Cannot enqueue task {task_id}: it is completed")
    # the CLI writes its own hint from the error's fields, not the library's Python one
    assert result.stderr.rstrip().endswith("; or pass --force to do it anyway")
    assert f"clone it (localtask clone {task_id[:8]})" in result.stderr  # the usual way to run it again
    assert "force=True" not in result.stderr
    run("enqueue", task_id, "--force")
    assert Task.get_task(task_id).status == "queued"


def test_abort(store):
    queued = clone_of(store)
    Task.enqueue(queued, home=store.home)
    assert run("abort", queued).stdout == f"Aborted task {queued}: now stopped\n"
    assert Task.get_task(queued).status == "stopped"
    assert store.queue_entries() == []
    assert_error(CliRunner().invoke(cli, ["abort", queued]), f"Cannot abort task {queued}: it is stopped")


def test_publish_then_reset_refused(store):
    task_id = store.ids["run1"]
    assert run("publish", task_id[:6]).stdout == f"Published task {task_id}\n"
    result = CliRunner().invoke(cli, ["reset", task_id])
    assert_error(result, f"Cannot reset task {task_id}: it is published")
    assert "clone it instead" in result.stderr
    assert_error(CliRunner().invoke(cli, ["reset", task_id, "--force"]), "Cannot reset task")
    assert_error(CliRunner().invoke(cli, ["delete", task_id, "--yes", "--force"]), "Cannot delete task")
    assert_error(CliRunner().invoke(cli, ["params", task_id, "--set", "General/lr=1", "--force"]),
                 "Cannot edit task")
    assert Task.get_task(task_id).status == "published"
    run("clone", task_id)  # a published task can still be cloned


def test_publish_draft_needs_force(store):
    new = clone_of(store)
    result = CliRunner().invoke(cli, ["publish", new])
    assert_error(result, f"Cannot publish task {new}: it is created")
    assert "--force" in result.stderr
    run("publish", new, "--force")
    assert Task.get_task(new).status == "published"


def test_delete(store):
    new = clone_of(store)
    Task.get_task(new).upload_artifact("notes", "text")
    folder = store.task_dir(new)
    assert folder.is_dir()
    result = run("delete", new, input="n\n", code=1)
    assert result.stdout == "" and "Delete task" in result.stderr and "Aborted!" in result.stderr
    assert Task.get_task(new).status == "created"
    assert run("delete", new[:9], input="y\n").stdout.endswith(f"Deleted task {new}\n")
    assert not folder.exists()
    assert_error(CliRunner().invoke(cli, ["show", new]), f"No task id starts with '{new}'")
    other = clone_of(store)
    assert run("delete", other, "--yes").stdout == f"Deleted task {other}\n"
    assert store.count_tasks() == 2


# --------------------------------------------------------------------- params, log, diff
def test_params_print_and_json(store):
    assert run("params", store.ids["run1"]).stdout.splitlines() == [
        "General/epochs = 3 (int)", "General/flag = true (bool)", "General/lr = 0.1 (float)",
        'General/opt = "adam" (str)']
    assert json.loads(run("params", store.ids["run1"], "--json").stdout) == {
        "General/epochs": {"value": 3, "type": "int", "description": ""},
        "General/flag": {"value": True, "type": "bool", "description": ""},
        "General/lr": {"value": 0.1, "type": "float", "description": ""},
        "General/opt": {"value": "adam", "type": "str", "description": ""},
    }


def test_params_set(store):
    new = clone_of(store)
    assert run("params", new, "--set", "General/lr=0.5", "--set", "General/epochs=10").stdout == (
        "Set General/lr = 0.5 (float)\nSet General/epochs = 10 (int)\n")
    assert Task.get_task(new).get_parameters()["General/epochs"] == 10
    data = json.loads(run("params", new, "--set", "General/flag=off", "--json").stdout)
    assert data["General/flag"] == {"value": False, "type": "bool", "description": ""}
    assert_error(CliRunner().invoke(cli, ["params", new, "--set", "General/epochs=1.5"]),
                 "Parameter General/epochs is of type int")
    assert Task.get_task(new).get_parameters()["General/epochs"] == 10

    done = store.ids["run2"]
    result = CliRunner().invoke(cli, ["params", done, "--set", "General/lr=1"])
    assert_error(result, f"Cannot edit task {done}: it is completed")
    run("params", done, "--set", "General/lr=1", "--force")
    assert Task.get_task(done).get_parameters()["General/lr"] == 1.0


def test_log(store):
    task_id = store.ids["run1"]
    out = run("log", task_id[:6]).stdout
    assert out == f"epoch 0\nepoch 1\nepoch 2\nID {task_id}\n"
    data = json.loads(run("log", task_id, "--json").stdout)
    assert data == {"id": task_id, "status": "completed", "path": str(store.console_path(task_id)),
                    "text": out}
    assert run("log", task_id, "-f").stdout == out  # an ended task: print and return
    new = clone_of(store)
    result = run("log", new)
    assert result.stdout == "" and result.stderr == f"No console output recorded for task {new[:8]}.\n"
    assert run("log", new, "-f", "--json", code=2).stderr.endswith(
        "--follow and --json cannot be used together.\n")


def test_log_follow_until_task_ends(store, monkeypatch):
    monkeypatch.setattr(cli_module, "FOLLOW_INTERVAL", 0.02)
    new = clone_of(store)
    Task.enqueue(new, home=store.home)
    path = store.console_path(new)

    def write_then_stop():
        time.sleep(0.2)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab", buffering=0) as fh:
            fh.write("first line\nhalf a r".encode())
            time.sleep(0.2)
            fh.write("é".encode()[:1])  # a UTF-8 character split across two reads
            time.sleep(0.2)
            fh.write("é".encode()[1:] + b"st\nlast line\n")
        Task.get_task(new, home=store.home).abort()

    writer = threading.Thread(target=write_then_stop)
    writer.start()
    started = time.monotonic()
    result = run("log", new, "--follow")
    writer.join()
    assert time.monotonic() - started >= 0.5
    assert result.stdout == "first line\nhalf a rést\nlast line\n"
    assert Task.get_task(new).status == "stopped"


def test_diff(store):
    task_id = store.ids["run1"]
    result = run("diff", task_id[:6])
    expected = Task.get_task(task_id).get_diff()
    assert result.stdout_bytes == expected
    assert b"+++ b/notes.txt\n" in expected and b"+uncommitted note\n" in expected
    assert run("diff", clone_of(store)).stdout_bytes == expected  # a clone keeps the code
    store.insert_task({"id": "f" * 32, "project": "p", "name": "files", "status": "created",
                       "script": {"kind": "files", "files": ["a.py", "b.py"]}})
    result = run("diff", "f" * 8)
    assert result.stdout == ""
    assert result.stderr == (f"Task {'f' * 8} was not recorded in a git repository: it has a snapshot "
                             "of 2 file(s), not a diff.\n")
    store.insert_task({"id": "e" * 32, "project": "p", "name": "clean", "status": "created",
                       "script": {"kind": "git", "commit": "c" * 40}})
    result = run("diff", "e" * 8)
    assert result.stdout == ""
    assert result.stderr == f"Task {'e' * 8} has no uncommitted changes: it ran at commit {'c' * 12} as committed.\n"


# --------------------------------------------------------------------- queues, workers
def test_queues_and_workers(store):
    assert run("queues").stdout == "QUEUE    QUEUED\ndefault  0\n"
    assert json.loads(run("workers", "--json").stdout) == []
    assert run("workers").stderr == "No workers.\n"

    new = clone_of(store)
    Task.enqueue(new, home=store.home)
    store.register_worker("w1", "hostA", 4242, ["default", "gpu"], 2)
    assert store.claim("w1", ["default"], host="hostA")["id"] == new
    lines = run("workers").stdout.splitlines()
    assert lines[0].split() == ["WORKER", "HOST", "PID", "QUEUES", "SLOTS", "STATE", "HEARTBEAT", "TASKS"]
    assert lines[1].split()[:6] == ["w1", "hostA", "4242", "default,gpu", "2", "running"]
    assert lines[1].split()[-1] == new[:8]
    [worker] = json.loads(run("workers", "--json").stdout)
    assert (worker["name"], worker["queues"], worker["tasks"]) == ("w1", ["default", "gpu"], [new])
    assert 0 <= worker["heartbeat_age"] < 60

    assert run("abort", new).stdout == (
        f"Abort requested for task {new}: its worker will stop it (still in_progress)\n")
    assert store.get_task(new)["abort_requested"] == 1
    assert "Status:        in_progress (abort requested)" in run("show", new).stdout.splitlines()


# --------------------------------------------------------------------- ids and errors
@pytest.mark.parametrize("command", [
    ["show"], ["show", "--json"], ["clone"], ["reset"], ["enqueue"], ["dequeue"], ["abort"], ["publish"],
    ["delete", "--yes"], ["params"], ["params", "--set", "General/lr=1"], ["log"], ["log", "-f"], ["diff"],
])
def test_unknown_and_ambiguous_ids(store, command):
    now = time.time()
    for suffix in ("0", "1"):
        store.insert_task({"id": "abc" + suffix * 29, "project": "p", "name": "n" + suffix,
                           "status": "created", "created": now})
    name, *options = command

    def invoke(task_id):
        return CliRunner().invoke(cli, [name, task_id, *options])

    assert_error(invoke("abc"), "Task id prefix 'abc' matches more than one task (abc0")
    assert_error(invoke("0123abcd"), "No task id starts with '0123abcd' in the store")
    assert_error(invoke("not-an-id"), "'not-an-id' is not a task id")
    assert store.count_tasks() == 4


def test_store_error_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["--home", str(blocker / "store"), "list"])
    assert_error(result, "Cannot create the store folder")


def test_every_command_has_help():
    assert cli.help
    names = sorted(cli.commands)
    assert names == sorted(["list", "show", "clone", "reset", "enqueue", "dequeue", "abort", "publish",
                            "delete", "params", "log", "diff", "queues", "workers", "worker", "demo", "ui", "gc",
                            "reproduce", "compare", "sweep", "edit",
                            "export", "import", "create", "drift", "run-task"])
    for name in names:
        command = cli.commands[name]
        assert command.help and command.get_short_help_str().strip(), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
        result = run(name, "--help")
        assert result.stdout.startswith(f"Usage: cli {name} "), result.stdout
    for param in cli.params:
        if isinstance(param, click.Option):
            assert param.help, param.opts
    assert all(name in run("--help").stdout for name in names)


# --------------------------------------------------------------------- worker and demo, for real
def test_worker_command_runs_a_clone_with_edited_parameters(store):
    clone = run("clone", store.ids["run1"][:8], "--set", "General/epochs=2", "--set", "General/lr=0.5",
                "--queue", "cli-q").stdout
    clone_id = re.search(r"[0-9a-f]{32}", clone).group(0)
    assert Task.get_task(clone_id).status == "queued"
    out = run("worker", "--queue", "cli-q", "--burst", "--slots", "2", "--poll-interval", "0.05").stdout
    task = Task.get_task(clone_id)
    assert task.status == "completed", task.get_status_message()
    console = task.get_reported_console_output()[0]
    assert "epoch 1" in console and "epoch 2" not in console  # ran with the edited epochs=2
    assert task.get_reported_scalars()["loss"]["train"]["x"] == [0, 1]
    assert store.queue_entries("cli-q") == []
    assert store.list_workers() == []  # a burst worker leaves the table when it ends
    assert "Traceback" not in out


def test_worker_command_rejects_bad_options(store):
    assert "Invalid value for '--slots'" in run("worker", "--slots", "0", code=2).stderr
    for bad in ("nan", "inf", "1e400"):
        assert "Invalid value for '--poll-interval'" in run("worker", "--poll-interval", bad, code=2).stderr
        assert "Invalid value for '--grace'" in run("worker", "--grace", bad, code=2).stderr
    assert_error(CliRunner().invoke(cli, ["worker", "--queue", "bad name", "--burst"]), "Invalid queue name")


def test_demo_command_runs_the_whole_loop(tmp_path):
    home = tmp_path / "demo-home"
    result = run("--home", str(home), "demo")
    assert "result = 30 (uncommitted edit)" in result.stdout
    template = Task.get_task(project_name="examples", task_name="Toy Base Task", home=home)
    clone = Task.get_task(project_name="examples", task_name="Auto generated cloned task", home=home)
    assert template.status == "completed" and clone.status == "completed"
    assert clone.parent == template.id
    assert clone.get_parameters() == {"General/Example_Param": 3}
    assert template.id in result.stdout and clone.id in result.stdout


# --------------------------------------------------------------------- the real console script
def test_console_script(store):
    script = Path(sys.executable).with_name("localtask")
    if not script.exists():
        script = shutil.which("localtask")
    if not script:
        pytest.skip("the localtask console script is not installed")
    env = {k: v for k, v in os.environ.items() if k != "LOCALTASK_HOME"}
    proc = subprocess.run([str(script), "--home", str(store.home), "list", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [t["name"] for t in json.loads(proc.stdout)] == ["run2", "run1"]
    unused = next(p for p in (f"{i:02x}" for i in range(256)) if not any(t.startswith(p) for t in store.ids.values()))
    proc = subprocess.run([str(script), "--home", str(store.home), "show", unused], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"Error: No task id starts with '{unused}'") and "Traceback" not in proc.stderr
    proc = subprocess.run([str(script), "--home", str(store.home), "log", store.ids["run1"][:8]],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("epoch 0\n")


def test_set_unknown_parameter_refused_with_close_matches(store):
    before = store.count_tasks()
    src = store.ids["run1"]
    result = CliRunner().invoke(cli, ["clone", src, "--set", "General/lrr=0.5"])
    assert result.exit_code == 1
    assert (f"Error: task {src[:8]}\u2026 has no parameter General/lrr; did you mean General/lr? "
            "(--new adds it)") in result.stderr
    assert store.count_tasks() == before
    draft = clone_of(store)
    result = CliRunner().invoke(cli, ["params", draft, "--set", "General/lrr=0.5"])
    assert result.exit_code == 1
    assert "did you mean General/lr?" in result.stderr
    assert "General/lrr" not in Task.get_task(draft).get_parameters()
    result = run("params", draft, "--set", "General/lrr=0.5", "--new")
    assert "General/lrr is a new parameter" in result.stderr
    assert Task.get_task(draft).get_parameters()["General/lrr"] == "0.5"


def test_fmt_duration_under_a_second_in_ms():
    assert cli_module._fmt_duration(0.34) == "340 ms"
    assert cli_module._fmt_duration(0.0) == "0 ms"
    assert cli_module._fmt_duration(5.25) == "5.2s" or cli_module._fmt_duration(5.25) == "5.3s"
    assert cli_module._fmt_duration(61) == "1m01s"


def test_python_m_localtask(localtask_home):
    out = subprocess.run([sys.executable, "-m", "localtask", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout and "clone" in out.stdout
