"""A store shared by a group (a setgid, group-writable folder and umask 007): every folder and
file localtask makes in it is group-accessible, from a recorded run to a worker's re-run."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

from localtask import Task

from conftest import git
from helpers_worker import LOCALTASK_CLI

SCRIPT = """
from localtask import Task
task = Task.init(project_name="group", task_name="shared")
params = task.connect({"lr": 0.1})
print("lr", params["lr"])
task.get_logger().report_scalar("loss", "train", 0.5, 0)
task.upload_artifact("result", {"lr": params["lr"]})
print("TASK_ID=" + task.id)
"""


def with_umask(argv: list[str]) -> list[str]:
    return ["sh", "-c", 'umask 007 && exec "$@"', "sh", *argv]


def test_group_folder_store_is_group_accessible(tmp_path):
    shared = tmp_path / "lab"
    shared.mkdir()
    os.chmod(shared, 0o2770)
    home = shared / "store"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(SCRIPT)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "init", cwd=repo)
    env = {**os.environ, "LOCALTASK_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LOCALTASK_TASK_ID", None)
    rec = subprocess.run(with_umask([sys.executable, "train.py"]), cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    assert rec.returncode == 0, rec.stderr
    original = rec.stdout.split("TASK_ID=")[1].strip()
    clone = Task.clone(original, home=home)
    clone.set_parameter("General/lr", 0.2)
    Task.enqueue(clone, "default", home=home)
    run = subprocess.run(with_umask([*LOCALTASK_CLI, "worker", "--burst", "--poll-interval", "0.05"]),
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert clone.status == "completed", clone.get_status_message()
    assert "lr 0.2" in (home / "tasks" / clone.id / "console.log").read_text()

    folders = [home, *(p for p in home.rglob("*") if p.is_dir() and not p.is_symlink())]
    assert len(folders) > 8  # tasks, artifacts, blobs, the git mirror, working copies' parents...
    for folder in folders:
        mode = folder.stat().st_mode
        assert mode & stat.S_ISGID and stat.S_IMODE(mode) & 0o070 == 0o070, (folder, oct(mode))
    written = [home / "localtask.db", home / "tasks" / original / "console.log",
               home / "tasks" / clone.id / "console.log",
               *(home / "tasks" / original / "artifacts").iterdir()]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) & 0o060 == 0o060, (path, oct(path.stat().st_mode))
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert path.stat().st_mode & stat.S_IRGRP, path


def test_private_store_stays_private_under_a_group_umask(tmp_path):
    """Outside a group folder the umask does not open the store: its folders stay 0700."""
    home = tmp_path / "private"
    env = {**os.environ, "LOCALTASK_HOME": str(home)}
    proc = subprocess.run(with_umask([sys.executable, "-c", "from localtask import Store; Store.open()"]),
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for folder in (home, home / "tasks", home / "cache", home / "blobs"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_wal_files_of_an_open_group_store_are_group_writable(tmp_path):
    """SQLite gives -wal and -shm the database's mode: the database must be group-writable
    before SQLite creates it, or the first process locks the group out while it runs."""
    shared = tmp_path / "lab"
    shared.mkdir()
    os.chmod(shared, 0o2770)
    code = ("import os, stat, sys; from localtask import Store\n"
            "store = Store(sys.argv[1]); store.count_tasks()\n"
            "for suffix in ('', '-wal', '-shm'):\n"
            "    print(suffix or 'db', oct(stat.S_IMODE(os.stat(sys.argv[1] + '/localtask.db' + suffix).st_mode)))\n")
    proc = subprocess.run(with_umask([sys.executable, "-c", code, str(shared / "store")]),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["db", "0o660", "-wal", "0o660", "-shm", "0o660"]
