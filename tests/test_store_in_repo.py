"""A store folder inside the repository (``LOCALTASK_HOME=.localtask``, no ``.gitignore`` line
for it) is never part of a task's diff or untracked files, however full it is."""
from __future__ import annotations

import pytest

from localtask import Task

from conftest import INIT_SCRIPT, git, init_repo, run_script, task_id_of, write_script


@pytest.mark.parametrize("store", [".localtask", "runs/store [1]*"])
def test_a_store_inside_the_repository_is_never_recorded(tmp_path, store):
    repo = init_repo(tmp_path / "repo", {"README.md": "# no .gitignore here\n"})
    script = write_script(repo / "train.py", INIT_SCRIPT)
    git("add", "train.py", cwd=repo)
    git("commit", "-q", "-m", "script", cwd=repo)
    home = repo / store
    # the first run creates the store: its database, WAL, caches and the task's folder
    first = Task.get_task(task_id_of(run_script(script, home=store, cwd=repo)), home=home)
    assert (home / "localtask.db").exists() and first.get_script()["diff_files"] == []
    (home / "tasks" / first.id / "artifacts").mkdir(parents=True, exist_ok=True)
    (home / "tasks" / first.id / "artifacts" / "model.bin").write_bytes(b"\0weights" * 100)
    (repo / "notes.txt").write_text("an untracked file of the user\n")
    staged_before = git("diff", "--cached", "--name-only", cwd=repo)

    second = Task.get_task(task_id_of(run_script(script, home=store, cwd=repo)), home=home)
    script_info = second.get_script()
    assert script_info["diff_files"] == ["notes.txt"]
    diff = second.get_diff()
    assert b"notes.txt" in diff and store.encode() not in diff and b"localtask.db" not in diff
    assert git("diff", "--cached", "--name-only", cwd=repo) == staged_before  # the user's index


def test_a_store_already_committed_by_mistake_stays_out_of_the_diff(tmp_path):
    repo = init_repo(tmp_path / "repo", {"README.md": "# the store was committed once\n"})
    script = write_script(repo / "train.py", INIT_SCRIPT)
    home = repo / ".localtask"
    run_script(script, home=home, cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "oops: the store too", cwd=repo)
    (repo / "train.py").write_text(script.read_text() + "# changed\n")
    task = Task.get_task(task_id_of(run_script(script, home=home, cwd=repo)), home=home)
    assert task.get_script()["diff_files"] == ["train.py"]  # the database changed too: not recorded


def test_a_store_inside_the_repository_that_git_ignores_records_as_before(tmp_path):
    repo = init_repo(tmp_path / "repo", {".gitignore": ".localtask/\n"})
    script = write_script(repo / "train.py", INIT_SCRIPT)
    git("add", "train.py", cwd=repo)
    git("commit", "-q", "-m", "script", cwd=repo)
    home = repo / ".localtask"
    run_script(script, home=home, cwd=repo)
    (repo / "notes.txt").write_text("untracked\n")
    task = Task.get_task(task_id_of(run_script(script, home=home, cwd=repo)), home=home)
    assert task.get_script()["diff_files"] == ["notes.txt"]
