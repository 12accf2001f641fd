"""ClearML's Task calls that steer the run: its random seed, the first iteration of its scalars,
an abort callback, a stop request, where its outputs go (``output_uri``) and the switches a
script sets before ``Task.init`` about how its code and packages are recorded.

:class:`RunControls` is a mixin of :class:`localtask.task.Task` through
:class:`localtask.task_clearml.ClearMLExtras`.
"""
from __future__ import annotations

from typing import Any, Callable

from . import seeding
from ._logging import get_logger

log = get_logger("localtask.task_run_controls")

REMOTE_SCHEMES = ("s3://", "gs://", "azure://", "http://", "https://")


def is_remote(uri: str | None) -> bool:
    """Whether ``uri`` names a cloud or web storage (localtask keeps everything in the store)."""
    return bool(uri) and str(uri).lower().startswith(REMOTE_SCHEMES)


class _ClassOrInstance:
    """A method that works called on the class (ClearML's ``Task.get_random_seed()``) or on a task."""

    def __init__(self, fn: Callable):
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type) -> Callable:
        return lambda *a, **k: self._fn(owner, obj, *a, **k)


class RunControls:
    """Seed, initial iteration, abort callback, output URI, recording switches (a mixin of Task)."""

    _initial_iteration: int = 0
    _random_seed_used: int | None = None
    _output_uri: str | None = None

    # ------------------------------------------------------------------ random seed
    @classmethod
    def set_random_seed(cls, random_seed: Any) -> None:
        """The seed the next ``Task.init`` gives ``random``, numpy and torch (default 1337; None
        or False: no seeding; True: 1337), as ClearML. Raises ValueError for a non-integer."""
        seeding.set_seed(random_seed)

    @_ClassOrInstance
    def get_random_seed(cls, task: Any) -> int | None:
        """On a task: the seed its run used (None: not seeded); on the class: the next one."""
        if task is not None and task._random_seed_used is not None:
            return task._random_seed_used
        return seeding.get_seed()

    # ------------------------------------------------------------------ initial iteration
    def set_initial_iteration(self, offset: int = 0) -> int:
        """Add ``offset`` to the iteration of every scalar this process reports from now on (to go
        on from a checkpoint). Returns it. Raises ValueError for a non-integer."""
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise ValueError(f"The initial iteration offset must be an integer, not {offset!r}.")
        self._initial_iteration = offset
        return offset

    def get_initial_iteration(self) -> int:
        """The offset of :meth:`set_initial_iteration` (0 by default)."""
        return self._initial_iteration

    # ------------------------------------------------------------------ stopping
    def register_abort_callback(self, callback_function: Callable[[], Any] | None,
                                callback_execution_timeout: float = 30.0) -> None:
        """Call ``callback_function`` (from another thread) when the run is aborted, before the
        process stops, waiting at most ``callback_execution_timeout`` seconds. Under a worker:
        at the SIGTERM by which the worker stops it (an abort, or the worker's shutdown); the
        worker's ``--grace`` (10 s) bounds the wait too. A local run: at ``localtask abort``'s
        SIGTERM (not at a plain ``kill``, nor Ctrl-C). None removes it. Raises ValueError for a
        timeout that is not positive."""
        from . import termination

        if callback_function is not None and float(callback_execution_timeout) <= 0:
            raise ValueError(f"callback_execution_timeout must be positive seconds, not {callback_execution_timeout!r}.")
        termination.set_abort_callback(callback_function, float(callback_execution_timeout),
                                       attached=self._attached)  # type: ignore[attr-defined]

    def mark_stop_request(self, force: bool = False, status_message: str | None = None) -> None:
        """Ask for the task to stop, as ``localtask abort``: a running task's worker stops it; a
        queued task leaves its queue; a local run is marked stopped (and gets SIGTERM when it is
        another process). ``status_message`` replaces the reason of a task stopped at once."""
        status = self.abort()  # type: ignore[attr-defined]
        if status == "stopped" and status_message:
            self._store.update_task(self.id, status_reason=str(status_message))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ where outputs go
    @property
    def output_uri(self) -> str | None:
        """Where ClearML would upload models and artifacts. Kept and returned; everything is
        stored in the store whatever it says (a remote URI gets one warning)."""
        return self._output_uri

    @output_uri.setter
    def output_uri(self, value: Any) -> None:
        if value is True:  # ClearML: the default files server; here the store
            value = str(self._store.home)  # type: ignore[attr-defined]
        self._output_uri = None if value in (None, False) else str(value)
        if is_remote(self._output_uri):
            log.warning("task %s: output_uri %s is kept but not uploaded to: localtask stores models and "
                        "artifacts in %s", self.id, self._output_uri, self._store.home)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ recording switches
    @classmethod
    def force_requirements_env_freeze(cls, force: bool = True, requirements_file: Any = None) -> None:
        """Accepted: localtask always records the installed distributions with their exact
        versions (a freeze) and their import names; ``requirements_file`` adds its lines, as
        ``Task.add_requirements(path)``."""
        if requirements_file is not None:
            cls.add_requirements(str(requirements_file))  # type: ignore[attr-defined]

    @classmethod
    def force_store_standalone_script(cls, force: bool = True) -> None:
        """Accepted: in a git repository localtask records the commit and the diff; outside one
        it stores the script and the local files it imported (there is no single-file mode)."""
