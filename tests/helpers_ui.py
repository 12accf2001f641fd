"""Helpers for the web page tests: a store made by real recorded runs, and a real server."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

TOKEN = "test-token-0123456789"

TRAIN = '''\
import sys
from localtask import Task

task = Task.init(project_name=sys.argv[1], task_name=sys.argv[2], tags=["ui", sys.argv[2]])
params = task.connect({"epochs": 3, "lr": float(sys.argv[3]), "opt": "adam", "flag": True, "layers": [8, 4]})
task.connect_configuration({"depth": 2}, name="model")
for i in range(params["epochs"]):
    task.get_logger().report_scalar("loss", "train", params["lr"] / (i + 1), i)
    task.get_logger().report_scalar("loss", "val", params["lr"] / (i + 1) + 0.1, i)
    print("epoch", i, "of", params["epochs"], flush=True)
task.upload_artifact("metrics", {"acc": 0.9, "lr": params["lr"]})
print("ID", task.id)
'''

#: (project, name, lr) of the runs recorded in the template store, oldest first.
RUNS = (("proj", "run1", "0.1"), ("proj", "run2", "0.2"), ("other", "run3", "0.3"))


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make_template(base: Path) -> tuple[Path, dict[str, str]]:
    """Record :data:`RUNS` from a git repository with an uncommitted file; returns the store
    folder and ``{run name: task id}``."""
    repo, home = base / "repo", base / "home"
    repo.mkdir(parents=True)
    (repo / "train.py").write_text(TRAIN)
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "train")
    (repo / "notes.txt").write_text("uncommitted note\n")
    env = {k: v for k, v in os.environ.items() if k != "LOCALTASK_TASK_ID"}
    env["LOCALTASK_HOME"] = str(home)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    ids = {}
    for project, name, lr in RUNS:
        proc = subprocess.run([sys.executable, "train.py", project, name, lr], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        ids[name] = re.search(r"^ID ([0-9a-f]{32})$", proc.stdout, re.M).group(1)
    return home, ids


def copy_store(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


class UIServer:
    """``localtask.ui`` served by uvicorn in a thread on a free loopback port."""

    def __init__(self, home: Path, token: str = TOKEN):
        import uvicorn

        from localtask import ui

        self.app = ui.create_app(home, token)
        self.sock = ui._bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = ui.page_url("127.0.0.1", self.port, token, self.app.state.scope)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="localtask-ui-test", daemon=True)

    def __enter__(self) -> "UIServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the UI server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
