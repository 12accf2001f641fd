"""Where a worker runs a task's process: one class per execution strategy.

The worker (:mod:`localtask.worker`) rebuilds the task's code, then asks its
:class:`Environment` for the Python executable to run it with, and builds the command with
:meth:`Environment.command`. Each strategy overrides :meth:`Environment.prepare` (and, when the
process must start differently, :meth:`Environment.command`); the helpers that build and check
environments stay in :mod:`localtask.environment`.

Adding a strategy: subclass :class:`Environment`, give it a ``name`` and list it in
:data:`ENVIRONMENTS`; :func:`make_environment` and ``Worker(env=...)`` then accept it. A Slurm
executor would submit the command in :meth:`Environment.command` (e.g. through ``srun``), so the
worker's process-group, signal and console handling apply to it unchanged; it does not exist yet.
Containers are not a strategy but a wrapper around any of them: a task that has an image runs
through :class:`localtask.container.ContainerRunner` (``--container docker|podman``), with the
image's own Python.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from . import environment as env_mod, interpreters, runner
from .exceptions import LocaltaskError, RunError
from .store import Store

Say = Callable[[str], None]


class Environment:
    """The base strategy: the Python a task runs with and the command that starts it."""

    #: the ``--env`` value that selects this strategy
    name = ""

    def __init__(self, wheels: str | None = None):
        self.wheels = wheels

    def prepare(self, store: Store, task_row: dict[str, Any], say: Say) -> str:
        """The Python executable to run the task with, ready to use (``say`` reports progress)."""
        raise NotImplementedError

    def command(self, python: str, script: dict[str, Any], workdir: Path) -> list[str]:
        """The command that runs the task's script in its working copy."""
        return runner.command(python, script, workdir)

    def inventory(self, store: Store, python: str) -> dict[str, Any]:
        """What ``python`` has installed (:mod:`localtask.drift`), to compare with the record."""
        from . import drift

        if python == sys.executable:
            return drift.inventory_here(store.cache_dir)
        return drift.inventory_of(python, store.cache_dir)

    def provided(self, store: Store) -> dict[str, str]:
        """``{normal name: version}`` of the packages this strategy supplies itself, not from
        the record (none here)."""
        return {}


class CurrentEnvironment(Environment):
    """The worker's own interpreter (the worker reports how it differs from the record)."""

    name = "current"

    def prepare(self, store: Store, task_row: dict[str, Any], say: Say) -> str:
        """This interpreter (the worker reports how it differs from the record); RunError when
        the task's Python was edited to another version (only a venv can honour that)."""
        environment = task_row["environment"] or {}
        wanted = interpreters.minor(environment.get("python") or "")
        if environment.get("python_edited") and wanted != "%d.%d" % sys.version_info[:2]:
            raise RunError(f"The task was edited to run with Python {wanted}; this worker runs tasks with "
                           f"its own Python {sys.version_info[0]}.{sys.version_info[1]} (--env current). "
                           "Run it with a worker started with --env venv, which builds the environment on "
                           "that interpreter.")
        return sys.executable


class VenvEnvironment(Environment):
    """A cached virtual environment built from the recorded packages (offline from ``wheels``)."""

    name = "venv"

    def prepare(self, store: Store, task_row: dict[str, Any], say: Say) -> str:
        """The python of the cached venv for the task's packages, built when missing on the
        interpreter of the task's Python version (RunError when it is not installed)."""
        environment = task_row["environment"] or {}
        base = interpreters.find_python(environment["python"]) if environment.get("python") else None
        if base and base != sys.executable:
            say(f"localtask: Python {interpreters.minor(environment['python'])} from {base}")
        return env_mod.ensure_venv(store, environment, say, self.wheels, base)

    def provided(self, store: Store) -> dict[str, str]:
        """The worker's own packages linked into every venv, at the worker's versions."""
        from .capture import dist_index
        from .packages import normal

        versions = {normal(d["name"]): d["version"] for d in dist_index(store.cache_dir)["dists"].values()}
        return {name: versions.get(name, "") for name in env_mod.LINKED}


#: the strategies ``Worker(env=...)`` accepts, by name
ENVIRONMENTS: dict[str, type[Environment]] = {
    CurrentEnvironment.name: CurrentEnvironment,
    VenvEnvironment.name: VenvEnvironment,
}


def make_environment(name: str, wheels: str | None = None) -> Environment:
    """The strategy called ``name``; a :class:`LocaltaskError` naming the allowed ones otherwise."""
    try:
        cls = ENVIRONMENTS[name]
    except (KeyError, TypeError):
        allowed = [repr(known) for known in ENVIRONMENTS]
        choices = " or ".join(allowed) if len(allowed) <= 2 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
        raise LocaltaskError(f"env must be {choices} (got {name!r}).") from None
    return cls(wheels)
