"""Run a task's command inside its container image with docker or podman.

The working copy and the store are mounted at their own paths, so every path the worker gives
the task (``LOCALTASK_HOME``, the entry point, the working directory) is the same inside; the
worker's own localtask, filelock and platformdirs are mounted read-only and put on
``PYTHONPATH``, so the task talks to the store in the worker's schema. The process runs with the
worker's user and group ids: what it writes in the store stays the store owner's.
"""
from __future__ import annotations

import importlib
import os
import shlex
import shutil
from pathlib import Path
from typing import Any, Callable

from .environment import LINKED
from .exceptions import LocaltaskError, RunError

Say = Callable[[str], None]
ENGINES = ("docker", "podman")
#: the interpreter a task runs with inside its image
IMAGE_PYTHON = "python3"
#: the environment variables the task gets from the worker (values never on the command line)
PASSED = ("LOCALTASK_TASK_ID", "LOCALTASK_HOME", "LOCALTASK_WORKER", "PYTHONUNBUFFERED", "PYTHONPATH")


def check_engine(engine: str) -> str:
    """``engine`` when it is docker or podman."""
    if engine not in ENGINES:
        raise LocaltaskError(f"container must be docker or podman (got {engine!r}).")
    return engine


def _own_packages() -> list[Path]:
    return [Path(importlib.import_module(name).__file__).parent for name in LINKED]


class ContainerRunner:
    """Wraps a task's command in ``<engine> run`` for a task that has an image."""

    def __init__(self, engine: str):
        self.engine = check_engine(engine)

    def prepare(self, environment: dict[str, Any], say: Say) -> str:
        """The Python to run inside the image; RunError when the engine is not installed."""
        if shutil.which(self.engine) is None:
            raise RunError(f"The task runs in the image {environment['image']}, but {self.engine} is not "
                           f"installed on this worker (not on PATH): install it, or run the task on a "
                           "worker that has it.")
        say(f"localtask: running in the image {environment['image']} with {self.engine}")
        return IMAGE_PYTHON

    @staticmethod
    def name_for(task_id: str) -> str:
        """The container's name: one per task, so a worker can stop it."""
        return f"localtask-{task_id}"

    def kill(self, task_id: str) -> None:
        """Stop the task's container: a SIGKILL of the engine's client leaves it running."""
        import subprocess

        subprocess.run([self.engine, "kill", self.name_for(task_id)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, check=False)

    def wrap(self, cmd: list[str], environment: dict[str, Any], *, workdir: Path, run_dir: Path,
             home: Path, task_id: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The ``run`` command line around ``cmd`` and the environment to start it with."""
        packages = _own_packages()
        env = dict(env, PYTHONPATH=os.pathsep.join(sorted({str(p.parent) for p in packages})))
        env.pop("LOCALTASK_WORKER_PID", None)  # another pid namespace: the lifeline cannot work there
        code_root = workdir.parent  # the run's own folder (its working copy)
        mounts = [f"{home}:{home}"]
        if not code_root.is_relative_to(home):
            mounts.append(f"{code_root}:{code_root}")
        mounts += [f"{p}:{p}:ro" for p in packages]
        run = [self.engine, "run", "--rm", "-i", "--init", "--name", self.name_for(task_id),
               "--user", f"{os.getuid()}:{os.getgid()}", "-w", str(run_dir)]
        for mount in mounts:
            run += ["-v", mount]
        for name in PASSED:
            if name in env:
                run += ["-e", name]
        run += ["-e", "HOME=/tmp"]  # the worker's user id may have no home inside the image
        run += shlex.split(environment.get("image_arguments") or "")
        run.append(environment["image"])
        setup = environment.get("image_setup")
        if setup:
            return run + ["sh", "-c", f'{setup}\nexec "$@"', "localtask-setup", *cmd], env
        return run + cmd, env
