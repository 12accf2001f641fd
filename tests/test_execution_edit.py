"""Editing a draft's execution (issue 11, item 1): set_repo / set_script / set_packages /
add_requirements / set_base_docker, ``localtask edit``; every edit checked against a real git
repository, refused with a clear error and nothing changed. The runs are in
tests/test_execution_rerun.py."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import git, init_repo, run_script, task_id_of, write_script
from localtask import Store, Task
from localtask.cli import cli
from localtask.exceptions import ExecutionEditError, IllegalTransitionError
from localtask.execution_edit import check_image, check_python
from localtask.package_list import apply, parse_line, parse_lines

SCRIPT = """
from localtask import Task
task = Task.init(project_name="edit", task_name="job")
print("TASK_ID=" + task.id)
"""


@pytest.fixture
def draft(tmp_path, localtask_home):
    """A recorded task (in a real repository with a second branch) and a draft clone of it."""
    repo = init_repo(tmp_path / "repo", {"job.py": SCRIPT, "other.py": "print('other')\n"})
    git("checkout", "-q", "-b", "dev", cwd=repo)
    (repo / "dev.txt").write_text("dev\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "dev work", cwd=repo)
    git("checkout", "-q", "-", cwd=repo)
    original = task_id_of(run_script(repo / "job.py", home=localtask_home))
    clone = Task.clone(original, home=localtask_home)
    return repo, original, clone


def snapshot(store: Store, task_id: str):
    row = store.get_task(task_id)
    return row["script"], row["environment"], store.get_code(task_id), row["last_update"]


def dev_head(repo) -> str:
    return git("rev-parse", "dev", cwd=repo).decode().strip()


# ------------------------------------------------------------------ checks refuse, nothing changes
@pytest.mark.parametrize("change, message", [
    ({"commit": "0" * 40}, "does not exist in the repository"),
    ({"branch": "no-such-branch"}, "does not exist in the repository"),
    ({"entry_point": "missing.py"}, "is not in commit"),
    ({"entry_point": "../outside.py"}, "must be a path inside the repository"),
    ({"set_packages": ["numpy=1.2"]}, "is not a valid requirement"),
    ({"set_packages": ["--index-url https://example.com"]}, "is a pip option"),
    ({"remove_packages": ["not-listed"]}, "does not list it"),
    ({"image": "Not An Image"}, "is not a container image name"),
    ({"repository": "no/such/folder"}, "neither a folder here nor a git URL"),
    ({"repository": "file:///no/such/repo.git"}, "Cannot read the repository"),
    ({"python": "3"}, "is not a Python version"),
    ({"python": "3.8"}, "too old"),
    ({"diff": b"not a patch at all\n"}, "does not apply"),
])
def test_a_bad_edit_is_refused_and_nothing_changes(draft, localtask_home, change, message):
    repo, _, clone = draft
    store = Store.open(localtask_home)
    from localtask.execution_edit import ExecutionEdit, edit_execution

    before = snapshot(store, clone.id)
    # A good change in the same edit is not written either.
    with pytest.raises(ExecutionEditError, match=message):
        edit_execution(store, clone.id, ExecutionEdit(argv=["--lr", "1"], **change))
    assert snapshot(store, clone.id) == before


def test_only_a_draft_can_be_edited(draft, localtask_home):
    _, original, _ = draft
    with pytest.raises(IllegalTransitionError, match="only a draft"):
        Task.get_task(original, home=localtask_home).set_repo(branch="dev")


def test_set_repo_branch_moves_to_its_head_and_set_script_edits_the_rest(draft, localtask_home):
    repo, original, clone = draft
    clone.set_repo(branch="dev")
    script = clone.get_script()
    assert (script["branch"], script["commit"]) == ("dev", dev_head(repo))
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=repo).decode().strip()
    clone.set_script(commit=first[:10], entry_point="other.py", diff="")
    script = clone.get_script()
    assert script["commit"] == first and script["entry_point"] == "other.py"
    assert script["branch"] == "dev" and clone.get_diff() == b""
    # The original is untouched.
    assert Task.get_task(original, home=localtask_home).get_script()["commit"] == first


def test_set_script_takes_clearml_entry_point_relative_to_working_dir(tmp_path, localtask_home):
    repo = init_repo(tmp_path / "repo", {"job.py": SCRIPT, "examples/run.py": "print(1)\n"})
    clone = Task.clone(task_id_of(run_script(repo / "job.py", home=localtask_home)), home=localtask_home)
    clone.set_script(working_dir="examples", entry_point="run.py")
    assert clone.get_script()["entry_point"] == "examples/run.py"
    assert clone.get_script()["working_dir"] == "examples"


def test_an_entry_point_in_both_the_working_dir_and_the_root_is_the_working_dirs(tmp_path, localtask_home):
    repo = init_repo(tmp_path / "repo", {"job.py": SCRIPT, "src/job.py": "print(1)\n"})
    clone = Task.clone(task_id_of(run_script(repo / "job.py", home=localtask_home)), home=localtask_home)
    clone.set_script(working_dir="src", entry_point="job.py")
    assert clone.get_script()["entry_point"] == "src/job.py"  # as ClearML, and as import_task reads it
    created = Task.create(project_name="p", repo=str(repo), script="job.py", working_directory="src",
                          home=localtask_home)
    assert created.get_script()["entry_point"] == "src/job.py"


def test_a_diff_is_replaced_when_it_applies(draft, localtask_home):
    repo, _, clone = draft
    (repo / "other.py").write_text("print('patched')\n")
    patch = git("diff", cwd=repo)
    git("checkout", "-q", "--", "other.py", cwd=repo)
    clone.set_script(diff=patch)
    assert clone.get_diff() == patch
    assert clone.get_script()["diff_files"] == ["other.py"]


def test_a_local_clone_path_gives_its_checked_out_commit_and_branch(draft, tmp_path, localtask_home):
    repo, _, clone = draft
    copy = tmp_path / "copy"
    git("clone", "-q", "-b", "dev", str(repo), str(copy), cwd=tmp_path)
    clone.set_repo(str(copy))
    script = clone.get_script()
    assert script["repository"] == str(copy) and script["branch"] == "dev"
    assert script["commit"] == dev_head(repo)


def test_set_packages_add_requirements_and_base_docker(draft, tmp_path, localtask_home):
    _, _, clone = draft
    req = tmp_path / "requirements.txt"
    req.write_text("# pinned\nnumpy==1.26.4\ntorch>=2,<3  # any 2.x\n\n")
    clone.set_packages(str(req))
    assert clone.get_environment()["packages"] == [
        {"name": "numpy", "version": "1.26.4"},
        {"name": "torch", "version": None, "requirement": "torch<3,>=2"}]
    clone.set_packages(["tqdm"])
    assert [p["name"] for p in clone.get_environment()["packages"]] == ["tqdm"]
    clone.set_packages("")
    assert clone.get_environment()["packages"] == []
    clone.set_base_docker("nvidia/cuda:11.1 -e test=1")
    assert clone.get_environment()["image"] == "nvidia/cuda:11.1"
    assert clone.get_base_docker() == "nvidia/cuda:11.1 -e test=1"
    clone.set_base_docker(docker_image="")
    assert clone.get_base_docker() is None
    clone.set_python_version("3.12")
    assert clone.get_environment()["python"] == "3.12"


def test_add_requirements_before_init_is_recorded(tmp_path, localtask_home):
    repo = init_repo(tmp_path / "repo")
    script = write_script(repo / "job.py", """
        from localtask import Task
        Task.add_requirements("tensorflow", ">=2.4")
        Task.add_requirements("click")           # the installed version
        task = Task.init(project_name="edit", task_name="forced")
        print("TASK_ID=" + task.id)
        """)
    from importlib import metadata

    task = Task.get_task(task_id_of(run_script(script, home=localtask_home)), home=localtask_home)
    packages = {p["name"]: p for p in task.get_environment()["packages"]}
    assert packages["tensorflow"]["requirement"] == "tensorflow>=2.4"
    assert packages["click"]["version"] == metadata.version("click")


# ------------------------------------------------------------------ CLI
def test_cli_edit_changes_and_refuses(draft, tmp_path, localtask_home):
    repo, _, clone = draft
    runner = CliRunner()
    home = ["--home", str(localtask_home)]
    result = runner.invoke(cli, [*home, "edit", clone.id[:8], "--branch", "dev", "--set-package",
                                 "numpy==1.26.4", "--python", "3.11", "--image", "python:3.11-slim",
                                 "--argv", "--lr 0.1 'a b'", "--json"])
    assert result.exit_code == 0, result.output
    changed = json.loads(result.stdout)["changed"]
    assert {"branch", "commit", "argv", "packages", "python", "image"} <= set(changed)
    task = Task.get_task(clone.id, home=localtask_home)
    assert task.get_script()["argv"] == ["--lr", "0.1", "a b"]
    assert task.get_script()["commit"] == dev_head(repo)
    shown = runner.invoke(cli, [*home, "show", clone.id[:8]]).stdout
    assert "Image:" in shown and "python:3.11-slim" in shown and "(edited)" in shown
    assert ", edited):" in shown and "numpy==1.26.4" in shown

    before = snapshot(Store.open(localtask_home), clone.id)
    result = runner.invoke(cli, [*home, "edit", clone.id[:8], "--commit", "f" * 12, "--remove-package", "numpy"])
    assert result.exit_code == 1
    assert "Error: The commit 'ffffffffffff' does not exist in the repository" in result.output
    assert snapshot(Store.open(localtask_home), clone.id) == before

    bad = tmp_path / "bad.txt"
    bad.write_text("numpy\nnot a requirement!\n")
    result = runner.invoke(cli, [*home, "edit", clone.id[:8], "--packages", str(bad)])
    assert result.exit_code == 1 and "line 2" in result.output and "not a valid requirement" in result.output
    result = runner.invoke(cli, [*home, "edit", clone.id[:8]])
    assert result.exit_code == 2 and "Nothing to edit" in result.output


# ------------------------------------------------------------------ the checks themselves
@pytest.mark.parametrize("image", ["python", "python:3.11-slim", "ghcr.io/org/team/img:v1.2",
                                   "localhost:5000/x", "img@sha256:" + "a" * 64])
def test_image_names_accepted(image):
    assert check_image(image) == image


@pytest.mark.parametrize("image", ["", "Python", "img:", "-v /:/host", "img tag", "a//b", "img:tag:x"])
def test_image_names_refused(image):
    with pytest.raises(ExecutionEditError, match="not a container image name"):
        check_image(image)


def test_python_versions():
    assert check_python("3.12") == "3.12" and check_python("3.11.7") == "3.11.7"
    for bad in ("2.7", "3.x", "python3.11", ""):
        with pytest.raises(ExecutionEditError):
            check_python(bad)


def test_requirement_lines():
    assert parse_line("  # a comment") is None
    assert parse_line("numpy==1.26.4") == {"name": "numpy", "version": "1.26.4"}
    assert parse_line("Foo[bar]>=1 ; python_version>'3'")["requirement"] == 'Foo[bar]>=1; python_version > "3"'
    url = parse_line("pkg @ https://example.com/pkg.whl")  # packaging's spacing varies by version
    assert url["version"] is None and url["requirement"].replace(" ", "") == "pkg@https://example.com/pkg.whl"
    assert parse_line("-e ./src")["editable"] is True
    with pytest.raises(ExecutionEditError, match="listed twice"):
        parse_lines(["numpy", "NumPy==1"])
    listed = [{"name": "numpy", "version": "1.0"}, {"name": "tqdm", "version": "4"}]
    assert apply(listed, set_=[{"name": "NumPy", "version": "2.0"}], remove=["TQDM"]) == [
        {"name": "NumPy", "version": "2.0"}]


def test_the_recording_process_may_edit_its_own_task(tmp_path, localtask_home):
    """ClearML's pattern: Task.init, set_base_docker / set_packages, then execute_remotely."""
    repo = init_repo(tmp_path / "repo")
    script = write_script(repo / "job.py", """
        from localtask import Task
        task = Task.init(project_name="edit", task_name="own")
        task.set_base_docker("python:3.11-slim")
        task.set_packages(["numpy==1.26.4"])
        print("TASK_ID=" + task.id)
        """)
    task = Task.get_task(task_id_of(run_script(script, home=localtask_home)), home=localtask_home)
    assert task.get_base_docker() == "python:3.11-slim"
    assert task.get_environment()["packages"] == [{"name": "numpy", "version": "1.26.4"}]


def test_a_commit_given_alone_that_is_not_on_the_branch_drops_the_branch(draft, localtask_home):
    repo, _, clone = draft
    assert clone.get_script()["branch"] == "main"
    lines = []
    from localtask.execution_edit import ExecutionEdit, edit_execution

    edit_execution(Store.open(localtask_home), clone.id, ExecutionEdit(commit=dev_head(repo)), say=lines.append)
    script = clone.get_script()
    assert (script["commit"], script["branch"]) == (dev_head(repo), None)
    assert any("is not on branch 'main'" in line for line in lines)
    # a commit on the branch keeps it
    main_head = git("rev-parse", "main", cwd=repo).decode().strip()
    clone.set_script(branch="main", commit=main_head)
    clone.set_script(commit=main_head[:8])
    assert clone.get_script()["branch"] == "main"
