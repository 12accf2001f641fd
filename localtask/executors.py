"""Where a worker runs a task's process: one class per execution strategy.

The worker (:mod:`localtask.worker`) rebuilds the task's code, then asks its
:class:`Environment` for the Python executable to run it with, and builds the command with
:meth:`Environment.command`. Each strategy overrides :meth:`Environment.prepare` (and, when the
process must start differently, :meth:`Environment.command`); the helpers that build and check
environments stay in :mod:`localtask.environment`.

Adding a strategy: subclass :class:`Environment`, give it a ``name`` and list it in
:data:`ENVIRONMENTS`; :func:`make_environment` and ``Worker(env=...)`` then accept it. This is
where a container executor plugs in: it prepares (pulls or builds) its image in ``prepare`` and
wraps the command in ``command``, so the worker's process-group, signal and console handling
apply to it unchanged. The Slurm executor is a different shape, a worker whose slots are jobs
(:mod:`localtask.slurm_worker`); inside each job these strategies prepare the task as here.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from . import environment as env_mod, runner
from .exceptions import LocaltaskError
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


class CurrentEnvironment(Environment):
    """The worker's own interpreter; warns about recorded packages that differ here."""

    name = "current"

    def prepare(self, store: Store, task_row: dict[str, Any], say: Say) -> str:
        """This interpreter, after warning about package and Python differences."""
        env_mod.check_current(task_row["environment"], say, store.cache_dir)
        return sys.executable


class VenvEnvironment(Environment):
    """A cached virtual environment built from the recorded packages (offline from ``wheels``)."""

    name = "venv"

    def prepare(self, store: Store, task_row: dict[str, Any], say: Say) -> str:
        """The python of the cached venv for the task's packages, built when missing."""
        return env_mod.ensure_venv(store, task_row["environment"], say, self.wheels)


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
