"""The two examples of the README walkthrough, run as a user would, checked in the store."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from localtask import Store, Task, Worker

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: Path, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LOCALTASK_HOME=str(home))
    env.pop("LOCALTASK_TASK_ID", None)
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_toy_base_task_then_programmatic_orchestration(localtask_home, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("toy_base_task.py", "programmatic_orchestration.py"):
        shutil.copy(EXAMPLES / name, repo / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "examples"], cwd=repo, check=True)

    toy = _run(repo / "toy_base_task.py", repo, localtask_home)
    assert toy.returncode == 0, toy.stderr
    assert "Example_Param = 1 -> result = 10" in toy.stdout

    orchestration = _run(repo / "programmatic_orchestration.py", repo, localtask_home)
    assert orchestration.returncode == 0, orchestration.stderr

    template = Task.get_task(project_name="examples", task_name="Toy Base Task")
    assert template.status == "completed"
    assert template.get_parameters() == {"General/Example_Param": 1}
    assert template.get_script()["entry_point"] == "toy_base_task.py"

    clone = Task.get_task(project_name="examples", task_name="Auto generated cloned task")
    assert clone.status == "queued"
    assert clone.parent == template.id
    assert clone.get_parameters() == {"General/Example_Param": 3}
    assert type(clone.get_parameters()["General/Example_Param"]) is int
    assert [e["task_id"] for e in Store.open(localtask_home).queue_entries("default")] == [clone.id]
    assert clone.id in orchestration.stdout

    Worker(queues=["default"], burst=True, use_events=False).run()
    assert clone.status == "completed"
    assert "Example_Param = 3 -> result = 30" in clone.get_reported_console_output()[0]
    assert clone.get_reported_scalars()["result"]["value"]["y"] == [30.0]
