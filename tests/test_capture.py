"""What Task.init records about the code and the environment, from real scripts in real
git repositories run as real processes."""
from __future__ import annotations

import importlib.metadata
import io
import os
import platform
import stat
import sys
import time
import zipfile
from pathlib import Path

import pytest

from localtask import Task
from localtask.store import Store
from localtask.task import INLINE_CODE_LIMIT

from conftest import (INIT_SCRIPT, git, run_python, run_script, task_id_of, tree_bytes,
                      write_files, write_script)

BINARY = bytes(range(256)) * 4 + b"\x00\xff\x00binary tail"


def record(script: Path, *args: str, home: Path, cwd: Path | None = None, env=None) -> Task:
    """Run ``script`` (which calls Task.init) and return its recorded task."""
    proc = run_script(script, *args, home=home, cwd=cwd, env=env)
    return Task.get_task(task_id_of(proc), home=home)


def apply_in_fresh_clone(repo: Path, task: Task, dest: Path) -> Path:
    """Rebuild the recorded code: clone, checkout the recorded commit, apply the diff."""
    script = task.get_script()
    git("clone", "-q", str(repo), str(dest), cwd=dest.parent)
    git("checkout", "-q", script["commit"], cwd=dest)
    diff = task.get_diff()
    if diff:
        git("apply", "--binary", "--whitespace=nowarn", "-", cwd=dest, input=diff)
    return dest


# ------------------------------------------------------------------ the diff
def test_diff_has_staged_unstaged_untracked_and_binary_but_not_ignored(make_repo, home):
    repo = make_repo
    write_files(repo, {"tracked.txt": "one\n", "data.bin": BINARY})
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more", cwd=repo)
    write_files(repo, {"staged.txt": "staged content\n"})
    git("add", "staged.txt", cwd=repo)
    write_files(repo, {
        "tracked.txt": "one\nunstaged change\n",
        "untracked.txt": "untracked content\n",
        "data.bin": BINARY[::-1],
        "new.bin": b"\x00\x01\x02NEWBIN" * 50,
        "debug.log": "IGNORED-LOG-SECRET\n",
        "build/out.txt": "IGNORED-BUILD-SECRET\n",
    })
    script = write_script(repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=repo)
    diff = task.get_diff()
    files = set(task.get_script()["diff_files"])
    assert {"staged.txt", "tracked.txt", "untracked.txt", "data.bin", "new.bin", "train.py"} <= files
    assert b"+staged content" in diff
    assert b"+unstaged change" in diff
    assert b"+untracked content" in diff
    assert b"GIT binary patch" in diff
    assert b"IGNORED" not in diff
    assert not any("debug.log" in f or f.startswith("build/") for f in files)
    assert task.get_script()["diff_size"] == len(diff)


def test_racily_clean_file_is_still_diffed(make_repo, home):
    """A file rewritten with the same size within the timestamp granularity of the commit that
    wrote the index looks unchanged by its stat data; git compares its content only while the
    index is not newer than the entry (racy git). The temporary index must keep that property."""
    repo = make_repo
    write_files(repo, {"weights.bin": BINARY})
    git("add", "weights.bin", cwd=repo)
    git("commit", "-q", "-m", "weights", cwd=repo)
    git("config", "core.trustctime", "false", cwd=repo)  # ctime cannot be set back; mtime can
    stamp = (repo / "weights.bin").stat().st_mtime_ns
    time.sleep(0.05)
    git("update-index", "--refresh", cwd=repo)  # the entry's cached stat is now trusted (not smudged)
    (repo / "weights.bin").write_bytes(BINARY[::-1])  # same size, other bytes
    os.utime(repo / "weights.bin", ns=(stamp, stamp))
    os.utime(repo / ".git" / "index", ns=(stamp, stamp))  # written in the same tick
    script = write_script(repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=repo)
    assert "weights.bin" in task.get_script()["diff_files"]


def test_users_index_is_never_touched(make_repo, home):
    repo = make_repo
    write_files(repo, {"README.md": "# staged edit\n", "half.txt": "staged half\n"})
    git("add", "README.md", "half.txt", cwd=repo)
    write_files(repo, {"half.txt": "staged half\nplus unstaged\n", "loose.txt": "untracked\n"})
    script = write_script(repo / "train.py", INIT_SCRIPT)
    no_locks = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    cached_before = git("diff", "--cached", "--binary", cwd=repo, env=no_locks)
    index_before = (repo / ".git" / "index").read_bytes()
    record(script, home=home, cwd=repo)
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert git("diff", "--cached", "--binary", cwd=repo, env=no_locks) == cached_before
    status = git("status", "--porcelain", cwd=repo).decode()
    assert "M  README.md" in status and "AM half.txt" in status
    assert "?? loose.txt" in status and "?? train.py" in status
    assert not (repo / ".git" / "index.lock").exists()


def test_hostile_git_config_does_not_change_the_patch(make_repo, home, tmp_path):
    repo = make_repo
    for key, value in (("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"),
                       ("color.ui", "always"), ("color.diff", "always"),
                       ("diff.external", "false"), ("core.pager", "false")):
        git("config", key, value, cwd=repo)
    (repo / ".gitattributes").write_text("*.txt diff=upper\n")
    git("config", "diff.upper.textconv", "tr a-z A-Z", cwd=repo)
    write_files(repo, {"README.md": "# changed\n", "notes.txt": "lower case text\n", "b.bin": BINARY})
    script = write_script(repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=repo, env={"GIT_EXTERNAL_DIFF": "false"})
    diff = task.get_diff()
    assert b"\x1b[" not in diff
    assert b"diff --git a/README.md b/README.md" in diff
    assert b"--- a/README.md\n+++ b/README.md" in diff
    assert b"+lower case text" in diff  # not the textconv'ed (upper case) text
    assert b"LOWER CASE" not in diff
    rebuilt = apply_in_fresh_clone(repo, task, tmp_path / "rebuilt")
    assert (rebuilt / "notes.txt").read_text() == "lower case text\n"
    assert (rebuilt / "b.bin").read_bytes() == BINARY


def test_round_trip_rebuilds_the_working_tree_byte_for_byte(make_repo, home, tmp_path):
    """Clone + checkout the recorded commit + git apply the recorded diff == the working tree."""
    repo = make_repo
    write_files(repo, {
        "src/model.py": "def model():\n    return 1\n",
        "src/keep.py": "KEEP = True\n",
        "staged_then_edited.txt": "v1\n",
        "to_delete.txt": "delete me\n",
        "to_git_rm.txt": "git rm me\n",
        "assets/logo.bin": BINARY,
        "crlf.txt": b"windows\r\nline\r\n",
        "no_newline.txt": "no newline at end",
        "run.sh": "#!/bin/sh\necho hi\n",
        "name with spaces.txt": "spaces\n",
        "ünïcödé.txt": "unicode name\n",
    })
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "content", cwd=repo)
    # staged changes (one of them edited again afterwards), a staged new file, a staged delete
    write_files(repo, {"staged_then_edited.txt": "v2 staged\n", "staged_new.txt": "staged new\n"})
    git("add", "staged_then_edited.txt", "staged_new.txt", cwd=repo)
    git("rm", "-q", "to_git_rm.txt", cwd=repo)
    # unstaged changes
    write_files(repo, {
        "staged_then_edited.txt": "v3 unstaged on top of staged\n",
        "src/model.py": "def model():\n    return 2  # changed\n",
        "assets/logo.bin": BINARY[::-1] + b"\x00more",
        "crlf.txt": b"windows\r\nchanged\r\n",
        "no_newline.txt": "still no newline, but changed",
    })
    (repo / "to_delete.txt").unlink()
    os.chmod(repo / "run.sh", 0o755)
    # untracked files, also in new (nested) folders, text and binary
    write_files(repo, {
        "notes.md": "untracked notes\n",
        "newdir/deep/er/file.txt": "deep untracked\n",
        "newdir/blob.bin": b"\x00" * 100 + BINARY,
        "empty.txt": "",
    })
    os.symlink("src/keep.py", repo / "link_to_keep")
    # ignored files: excluded from the diff and from the comparison
    write_files(repo, {"train.log": "ignored\n", "build/artifact.bin": BINARY,
                       "newdir/also.log": "ignored too\n"})
    script = write_script(repo / "scripts" / "train.py", INIT_SCRIPT)

    task = record(script, home=home, cwd=repo)
    script_info = task.get_script()
    assert script_info["commit"] == git("rev-parse", "HEAD", cwd=repo).decode().strip()
    ignored = set(git("ls-files", "--others", "--ignored", "--exclude-standard", cwd=repo)
                  .decode().split())
    assert ignored == {"train.log", "build/artifact.bin", "newdir/also.log"}

    rebuilt = apply_in_fresh_clone(repo, task, tmp_path / "rebuilt")
    original = tree_bytes(repo, exclude=ignored)
    copy = tree_bytes(rebuilt)
    assert sorted(copy) == sorted(original)
    for rel in original:
        assert copy[rel] == original[rel], f"{rel} differs after rebuilding"
    assert os.stat(rebuilt / "run.sh").st_mode & stat.S_IXUSR
    assert not (rebuilt / "to_delete.txt").exists() and not (rebuilt / "to_git_rm.txt").exists()


# ------------------------------------------------------------------ repository facts
def test_repository_without_remote_records_its_local_path(make_repo, home):
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    info = record(script, home=home, cwd=make_repo).get_script()
    assert info["kind"] == "git"
    assert info["repository"] == str(make_repo.resolve())
    assert info["remote"] is False


def test_remote_credentials_are_never_stored(make_repo, home):
    git("remote", "add", "origin", "https://user:secret@example.com/x.git", cwd=make_repo)
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=make_repo)
    assert task.get_script()["repository"] == "https://example.com/x.git"
    assert task.get_script()["remote"] is True
    Store.open(home).close()
    for path in home.rglob("*"):
        if path.is_file():
            assert b"secret" not in path.read_bytes(), path


@pytest.mark.parametrize("url, stored", [
    ("https://oauth2:tok3n@gitlab.example.com/g/p.git", "https://gitlab.example.com/g/p.git"),
    ("ssh://git:pw@example.com/p.git", "ssh://git@example.com/p.git"),
    ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ("https://example.com/plain.git", "https://example.com/plain.git"),
    ("https://user:p#ss@host/r", "https://host/r"),
    ("https://user:p?ss@host/r", "https://host/r"),
    ("https://user:p/ss@host/r", "https://host/r"),
    ("https://user:a@b#c?d@host:8443/r.git#frag", "https://host:8443/r.git#frag"),
    ("ssh://git:p#w@host/r.git", "ssh://git@host/r.git"),
    ("https://host/org/repo@v1.git", "https://host/org/repo@v1.git"),
    ("https://host:8443/path@ref/x", "https://host:8443/path@ref/x"),
    ("https://[::1]:8443/path@ref/x", "https://[::1]:8443/path@ref/x"),
])
def test_strip_credentials(url, stored):
    from localtask.capture import strip_credentials

    assert strip_credentials(url) == stored


def test_branch_commit_entry_point_working_dir_and_argv(make_repo, home):
    repo = make_repo
    git("checkout", "-q", "-b", "feature/x", cwd=repo)
    (repo / "data").mkdir()
    script = write_script(repo / "scripts" / "nested" / "train.py", INIT_SCRIPT)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "add script", cwd=repo)
    args = ("--lr", "0.1", "a value with spaces", "ünï")
    task = record(script, *args, home=home, cwd=repo / "data")
    info = task.get_script()
    assert info["branch"] == "feature/x"
    assert info["commit"] == git("rev-parse", "HEAD", cwd=repo).decode().strip()
    assert info["entry_point"] == "scripts/nested/train.py"
    assert info["working_dir"] == "data"
    assert info["argv"] == list(args)
    assert info["module"] is None
    assert task.get_diff() == b""  # everything is committed
    assert task.name == "run" and task.project == "proj"


def test_detached_head_has_no_branch(make_repo, home):
    head = git("rev-parse", "HEAD", cwd=make_repo).decode().strip()
    git("checkout", "-q", "--detach", head, cwd=make_repo)
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    info = record(script, home=home, cwd=make_repo).get_script()
    assert info["branch"] is None
    assert info["commit"] == head


def test_module_entry_point(make_repo, home):
    repo = make_repo
    write_files(repo, {"pkg/__init__.py": "", "pkg/sub/__init__.py": ""})
    write_script(repo / "pkg" / "sub" / "mod.py", """
        from localtask import Task
        task = Task.init(project_name="proj")
        print("TASK_ID=" + task.id)
    """)
    proc = run_python("-m", "pkg.sub.mod", "--flag", home=home, cwd=repo)
    task = Task.get_task(task_id_of(proc), home=home)
    info = task.get_script()
    assert info["module"] == "pkg.sub.mod"
    assert info["entry_point"] == "pkg/sub/mod.py"
    assert info["working_dir"] == "."
    assert info["argv"] == ["--flag"]
    assert task.name == "pkg.sub.mod"


def test_script_outside_git_is_stored_with_its_local_modules(tmp_path, home):
    folder = tmp_path / "nogit"
    write_files(folder, {
        "helper.py": "VALUE = 41\n",
        "utils/__init__.py": "from .maths import plus_one\n",
        "utils/maths.py": "def plus_one(x):\n    return x + 1\n",
        "unused.py": "raise SystemExit('never imported')\n",
    })
    script = write_script(folder / "train.py", """
        import json
        import helper
        from utils import plus_one
        from localtask import Task
        task = Task.init(project_name="proj", task_name="nogit")
        print("TASK_ID=" + task.id)
        print("value", plus_one(helper.VALUE))
    """)
    proc = run_script(script, "--x", home=home, cwd=folder)
    task = Task.get_task(task_id_of(proc), home=home)
    assert "value 42" in proc.stdout
    assert "not in a git repository" in proc.stderr
    info = task.get_script()
    assert info["kind"] == "files"
    assert info["entry_point"] == "train.py"
    assert info["argv"] == ["--x"]
    assert info["commit"] is None and info["repository"] is None
    assert task.get_diff() == b""
    code = Store.open(home).get_code(task.id)
    with zipfile.ZipFile(io.BytesIO(code)) as zf:
        names = set(zf.namelist())
        assert names == {"train.py", "helper.py", "utils/__init__.py", "utils/maths.py"}
        assert zf.read("train.py") == script.read_bytes()
        assert zf.read("utils/maths.py") == (folder / "utils" / "maths.py").read_bytes()


# ------------------------------------------------------------------ environment
def test_environment_has_python_and_exact_package_versions(make_repo, home):
    script = write_script(make_repo / "train.py", """
        import click
        from localtask import Task
        task = Task.init(project_name="proj", task_name="env")
        print("TASK_ID=" + task.id)
    """)
    env = record(script, home=home, cwd=make_repo).get_environment()
    assert env["python"] == platform.python_version()
    assert env["implementation"] == sys.implementation.name
    assert env["platform"] == sys.platform
    packages = {p["name"].lower(): p for p in env["packages"]}
    assert packages["click"]["version"] == importlib.metadata.version("click")
    own = packages["localtask"]
    assert own["version"] != "0.0.0"
    assert own["version"] == importlib.metadata.version("localtask")
    assert own.get("editable") is True
    assert Path(own["path"]).resolve() == Path(__file__).resolve().parents[1]
    for name in ("pytest", "numpy"):  # installed here, but not imported by the script
        assert name not in packages
    assert all(p["version"] for p in env["packages"])


# ------------------------------------------------------------------ large diffs
def test_large_diff_is_kept_as_a_blob_file(make_repo, home):
    lines = "".join(f"line {i:07d} of a big untracked file\n" for i in range(10_000))
    assert len(lines) > INLINE_CODE_LIMIT
    write_files(make_repo, {"big.txt": lines})
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=make_repo)
    diff = task.get_diff()
    assert len(diff) > INLINE_CODE_LIMIT
    assert diff.count(b"\n+line ") == 10_000
    assert b"+line 0009999 of a big untracked file\n" in diff
    ref = task.data["code_ref"]
    assert ref
    assert (home / "blobs" / ref).read_bytes() == diff
    assert not [p for p in (home / "blobs").iterdir() if p.name.startswith(".tmp")]


def test_small_diff_stays_in_the_database(make_repo, home):
    script = write_script(make_repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=make_repo)
    assert task.data["code_ref"] is None
    assert b"+++ b/train.py" in task.get_diff()
    assert list((home / "blobs").iterdir()) == []


def test_repository_without_commits(tmp_path, home):
    repo = tmp_path / "fresh"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    script = write_script(repo / "train.py", INIT_SCRIPT)
    task = record(script, home=home, cwd=repo)
    info = task.get_script()
    assert info["kind"] == "git"
    assert info["commit"] is None
    assert b"+++ b/train.py" in task.get_diff()


# ------------------------------------------------------------------ install sources (direct_url.json)
def fake_dist(site: Path, name: str, direct_url: dict) -> None:
    """An installed distribution ``name`` 1.0 (module ``name``) with its ``direct_url.json``."""
    import json

    info = site / f"{name}-1.0.dist-info"
    write_files(site, {
        f"{name}/__init__.py": "",
        f"{info.name}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info.name}/top_level.txt": f"{name}\n",
        f"{info.name}/direct_url.json": json.dumps(direct_url),
    })


def test_install_sources_are_recorded_without_secrets_and_decoded(make_repo, home, tmp_path):
    from localtask.environment import requirements

    site = tmp_path / "site"
    project = tmp_path / "my proj#1"
    url = project.as_uri()  # file:///.../my%20proj%231
    assert "%20" in url
    fake_dist(site, "vcspkg", {"url": "https://user:tok3n-s#cret@git.example.com/r.git",
                               "vcs_info": {"vcs": "git", "commit_id": "abc123"}, "subdirectory": "python"})
    fake_dist(site, "editpkg", {"url": url, "dir_info": {"editable": True}})
    fake_dist(site, "localpkg", {"url": url, "dir_info": {}})
    script = write_script(make_repo / "train.py", "import vcspkg, editpkg, localpkg\n" + INIT_SCRIPT)
    task = record(script, home=home, cwd=make_repo, env={"PYTHONPATH": str(site)})
    packages = {p["name"]: p for p in task.get_environment()["packages"]}
    assert packages["vcspkg"]["url"] == "https://git.example.com/r.git"
    assert packages["vcspkg"]["subdirectory"] == "python"
    assert packages["editpkg"]["path"] == packages["localpkg"]["path"] == str(project)
    reqs = requirements([packages[n] for n in ("vcspkg", "editpkg", "localpkg")])
    assert reqs == ["git+https://git.example.com/r.git@abc123#subdirectory=python",
                    "-e", str(project), str(project)]
    Store.open(home).close()
    for path in home.rglob("*"):
        if path.is_file():
            assert b"tok3n" not in path.read_bytes(), path


def test_submodules_are_said_not_to_be_recorded(make_repo, home):
    repo = make_repo
    write_files(repo, {".gitmodules": '[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n'})
    git("add", ".gitmodules", cwd=repo)
    git("commit", "-q", "-m", "submodules", cwd=repo)
    script = write_script(repo / "train.py", INIT_SCRIPT)
    proc = run_script(script, home=home, cwd=repo)
    assert "has git submodules: their commits and changes are not recorded" in proc.stderr
    assert Task.get_task(task_id_of(proc), home=home).get_script()["submodules"] is True


def test_a_script_read_from_stdin_is_recorded_as_an_interactive_session(home, tmp_path):
    body = ("from localtask import Task\ntask = Task.init(project_name='p', task_name='stdin')\n"
            "task.connect({'lr': 0.1})\nprint('TASK_ID=' + task.id)\n")
    proc = run_python("-", home=home, cwd=tmp_path, input=body)
    task = Task.get_task(task_id_of(proc), home=home)
    assert task.status == "completed"
    assert task.get_script()["kind"] == "none" and task.get_parameters()["General/lr"] == 0.1
