"""Task.create and ``localtask create``: drafts made from a repository and a script, never run
there, then run by a real worker from a real git repository the test makes."""
from __future__ import annotations

import json
import subprocess
from importlib import metadata

import pytest

from helpers_worker import cli, console, git, make_repo, results, run_to_completion, write
from localtask import Store, Task
from localtask.exceptions import CreateError

TRAIN = """
import argparse
from localtask import Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--verbose", action="store_true")
args = parser.parse_args()
task = Task.init(project_name="ignored", task_name="ignored")
print("RESULT", VERSION, repr(args.lr), repr(args.epochs), repr(args.verbose))
"""


def _repo(tmp_path, version: str = "'v1'"):
    repo = make_repo(tmp_path / "repo", {"src/train.py": TRAIN.replace("VERSION", version),
                                         "requirements.txt": "# pinned\nclick\nfilelock>=3\n"})
    return repo


@pytest.mark.slow
def test_created_draft_runs_with_its_uncommitted_change_and_typed_arguments(tmp_path):
    home = tmp_path / "home"
    repo = _repo(tmp_path)
    write(repo / "src/train.py", TRAIN.replace("VERSION", "'edited'"))  # uncommitted: goes in the diff
    task = Task.create(project_name="created", task_name="from repo", repo=str(repo), script="src/train.py",
                       working_directory="src", argparse_args=[("--lr", "0.1"), ("epochs", "3"),
                                                               ("verbose", "true")], home=home)
    assert task.status == "created"
    assert not Store.open(home).console_path(task.id).exists()  # never run here
    script = task.get_script()
    assert (script["kind"], script["branch"], script["entry_point"], script["working_dir"]) == \
        ("git", "main", "src/train.py", "src")
    assert script["commit"] == git("rev-parse", "HEAD", cwd=repo).strip()
    assert script["diff_files"] == ["src/train.py"] and b"edited" in task.get_diff()
    assert [p["requirement"] for p in task.get_environment()["packages"]] == ["click", "filelock>=3"]
    assert task.get_parameters() == {"Args/epochs": "3", "Args/lr": "0.1", "Args/verbose": "true"}

    Task.enqueue(task, home=home)
    row, log = run_to_completion(home, task.id)
    assert results(log) == ["edited 0.1 3 True"]  # read through the script's own parser types
    assert Task.get_task(task.id, home=home).get_parameters() == \
        {"Args/epochs": 3, "Args/lr": 0.1, "Args/verbose": True}


@pytest.mark.slow
def test_branch_commit_and_url_choose_the_code(tmp_path):
    home = tmp_path / "home"
    repo = _repo(tmp_path)
    first = git("rev-parse", "HEAD", cwd=repo).strip()
    git("checkout", "-q", "-b", "feature", cwd=repo)
    write(repo / "src/train.py", TRAIN.replace("VERSION", "'feature'"))
    git("commit", "-qam", "feature", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    write(repo / "src/train.py", TRAIN.replace("VERSION", "'v2'"))
    git("commit", "-qam", "v2", cwd=repo)
    write(repo / "src/train.py", TRAIN.replace("VERSION", "'dirty'"))  # left out: a branch is asked for

    on_branch = Task.create(project_name="p", repo=str(repo), branch="feature", script="src/train.py", home=home)
    at_commit = Task.create(project_name="p", repo=str(repo), commit=first[:10], script="src/train.py", home=home)
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    from_url = Task.create(project_name="p", repo=f"file://{bare}", branch="feature", script="./src/train.py",
                           argparse_args=[("lr", "2")], home=home)
    assert on_branch.get_script()["branch"] == "feature" and on_branch.get_diff() == b""
    assert at_commit.get_script()["commit"] == first and at_commit.get_script()["branch"] is None
    assert from_url.get_script()["repository"] == f"file://{bare}"
    assert from_url.get_script()["commit"] == on_branch.get_script()["commit"]
    for task in (on_branch, at_commit, from_url):
        Task.enqueue(task, home=home)
    outputs = {}
    for task in (on_branch, at_commit, from_url):
        row, log = run_to_completion(home, task.id)
        outputs[task.id] = results(log)
    assert outputs == {on_branch.id: ["feature 0.5 1 False"], at_commit.id: ["v1 0.5 1 False"],
                       from_url.id: ["feature 2.0 1 False"]}


@pytest.mark.slow
def test_cli_create_enqueues_a_lone_script_outside_git(tmp_path):
    home = tmp_path / "home"
    script = write(tmp_path / "loose" / "job.py", TRAIN.replace("VERSION", "'loose'"))
    proc = cli("create", "--project", "cli", "--script", str(script), "--args", "epochs=7",
               "--packages", "click", "--queue", "default", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert (made["status"], made["queue"], made["name"], made["script"]["kind"]) == \
        ("queued", "default", "job", "files")
    row, log = run_to_completion(home, made["id"])
    assert results(log) == ["loose 0.5 7 False"]


def test_packages_true_takes_the_installed_versions_of_the_scripts_imports(tmp_path):
    repo = make_repo(tmp_path / "repo", {"job.py": "import click\nfrom filelock import FileLock\nimport os\n"})
    task = Task.create(project_name="p", repo=str(repo), script="job.py", packages=True, home=tmp_path / "h")
    got = {p["name"].lower(): p["version"] for p in task.get_environment()["packages"]}
    assert got == {"click": metadata.version("click"), "filelock": metadata.version("filelock")}


def test_requirements_file_and_docker_are_recorded(tmp_path):
    repo = make_repo(tmp_path / "repo", {"job.py": "print(1)\n"})
    reqs = write(tmp_path / "reqs.txt", "--index-url https://example.invalid/simple\nnumpy==1.26.4  # pin\n")
    task = Task.create(project_name="p", task_name="t", repo=str(repo), script=str(repo / "job.py"),
                       requirements_file=str(reqs), docker="python:3.11-slim", home=tmp_path / "h")
    env = task.get_environment()
    assert env["packages"] == [{"name": "numpy", "version": "1.26.4"}]  # an exact pin: as a recorded package
    assert env["image"] == "python:3.11-slim"
    assert task.get_requirements() == ["numpy==1.26.4"]
    assert task.get_script()["entry_point"] == "job.py"  # an absolute path inside the clone


@pytest.mark.parametrize("kwargs, message", [
    ({"script": "missing.py"}, "'missing.py' is not in"),
    ({"script": "job.py", "commit": "0123456789abcdef"}, "No commit '0123456789abcdef'"),
    ({"script": "job.py", "branch": "nope"}, "No commit 'nope'"),
    ({"script": "../job.py"}, "must be a path inside the repository"),
    ({"script": "job.py", "working_directory": "/etc"}, "must be a path inside the repository"),
    ({"script": "job.py", "packages": ["numpy", "--pre"]}, "is a pip option, not a package"),
    ({"script": "job.py", "packages": ["numpy=>1"]}, "'numpy=>1' is not a valid requirement"),
    ({"script": "job.py", "requirements_file": "/no/such/file.txt"}, "Cannot read the requirements file"),
    ({"script": "job.py", "argparse_args": ["lr"]}, "(name, value) pairs"),
    ({"script": None}, "needs script="),
])
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, kwargs, message):
    repo = make_repo(tmp_path / "repo", {"job.py": "print(1)\n"})
    home = tmp_path / "h"
    with pytest.raises(CreateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Task.create(project_name="p", repo=str(repo), home=home, **kwargs)
    assert Store.open(home).find_tasks() == []


def test_a_url_that_cannot_be_read_says_so(tmp_path):
    with pytest.raises(CreateError, match="Cannot read HEAD of file:///no/such/repo.git"):
        Task.create(project_name="p", repo="file:///no/such/repo.git", script="train.py", home=tmp_path / "h")


def test_cli_create_errors_and_text_output(tmp_path):
    repo = make_repo(tmp_path / "repo", {"job.py": "print(1)\n"})
    home = tmp_path / "h"
    bad = cli("create", "--repo", str(repo), "--script", "job.py", "--args", "lr", home=home)
    assert bad.returncode == 2 and "--args takes NAME=VALUE" in bad.stderr
    missing = cli("create", "--repo", str(repo), "--script", "other.py", home=home)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: Script 'other.py' is not in")
    ok = cli("create", "--repo", str(repo), "--script", "job.py", "--name", "made", "--tags", "a", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "(created): 'made' in project 'default'" in ok.stdout
    [row] = Store.open(home).find_tasks()
    assert row["tags"] == ["a"] and console(Store.open(home), row["id"]) == ""
