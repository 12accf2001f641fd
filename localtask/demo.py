"""``localtask demo``: the whole loop on a store, in under a second or two.

It writes the toy template script into a small git repository (with an uncommitted change),
runs it (recording a task), clones it with an edited parameter, enqueues the clone and runs
it with a burst worker, printing each step and the ids.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TOY = '''from localtask import Task

task = Task.init(project_name="examples", task_name="Toy Base Task")
params = {"Example_Param": 1}
task.connect(params)
result = params["Example_Param"] * 10
print(f"Example_Param = {params['Example_Param']!r} -> result = {result}{SUFFIX}")
task.get_logger().report_scalar("result", "value", result, 0)
'''


def _make_repo(home: Path) -> Path:
    """A new repository with the toy script committed, then edited (left uncommitted)."""
    import git  # GitPython: off the hot path, and shorter than driving the git CLI here

    repo = home / "demo" / f"toy-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    repo.mkdir(parents=True)
    git_repo = git.Repo.init(repo)
    (repo / "toy_base_task.py").write_text(TOY.replace("{SUFFIX}", ""))
    git_repo.index.add(["toy_base_task.py"])
    who = git.Actor("localtask demo", "demo@localtask.invalid")
    git_repo.index.commit("toy base task", author=who, committer=who)
    git_repo.close()
    # An uncommitted edit: the clone's run must reproduce it, not just the commit.
    (repo / "toy_base_task.py").write_text(TOY.replace("{SUFFIX}", " (uncommitted edit)"))
    return repo


def main(home: str | os.PathLike | None = None) -> int:
    from .store import Store
    from .task import Task
    from .worker import Worker

    store = Store.open(home)
    print(f"store: {store.home}")
    repo = _make_repo(store.home)
    print(f"1. wrote {repo / 'toy_base_task.py'} in a new git repository (one uncommitted edit)")
    env = dict(os.environ, LOCALTASK_HOME=str(store.home), LOCALTASK_QUIET="1")  # step 3 names the ids
    env.pop("LOCALTASK_TASK_ID", None)
    run = subprocess.run([sys.executable, "toy_base_task.py"], cwd=repo, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("2. ran it: " + run.stdout.strip().replace("\n", "\n   "))
    if run.returncode != 0:
        print("   the script failed; see above")
        return 1
    template = Task.get_task(project_name="examples", task_name="Toy Base Task", home=store.home)
    print(f"   recorded task {template.id} [{template.status}] at commit "
          f"{template.get_script()['commit'][:12]} + {len(template.get_diff())} bytes of diff")
    clone = Task.clone(template, name="Auto generated cloned task")
    clone.set_parameter("General/Example_Param", 3)
    Task.enqueue(clone, queue_name="default")
    print(f"3. cloned it as {clone.id} [{clone.status}], parent {clone.parent[:8]}, "
          f"General/Example_Param = {clone.get_parameter('General/Example_Param')!r}, queue 'default'")
    started = time.perf_counter()
    Worker(home=store.home, queues=["default"], burst=True, use_events=False).run()
    elapsed = time.perf_counter() - started
    print(f"4. a burst worker ran it in {elapsed:.2f} s: [{clone.status}]")
    for line in clone.get_reported_console_output()[0].splitlines():
        if not line.startswith("localtask:"):
            print(f"   | {line}")
    print("\nnext: localtask list | localtask show " + clone.id[:8] + " | localtask clone "
          + template.id[:8] + " --set General/Example_Param=5 --queue default")
    return 0 if clone.status == "completed" else 1
