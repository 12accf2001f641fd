"""The state of the current run: the task this process records (or runs for a worker), how the
run ended (an uncaught exception, an exit code) and the process hooks that see it end.

The hooks are installed once per process, at the first ``Task.init``: ``sys.excepthook``,
``sys.exit`` and the ``exit``/``quit`` builtins note the outcome of the current task, and an
``atexit`` handler closes it, so that it ends completed or failed with the reason. A run no
worker started also ends its task on SIGTERM and SIGHUP (see ``termination``).
"""
from __future__ import annotations

import atexit
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .console import ConsoleCapture
    from .task import Task

_current: "Task | None" = None
#: how the current task's run ended so far: the traceback text of an uncaught exception, and
#: the code given to sys.exit / exit / quit.
_error: str | None = None
_exit_code: int | None = None
_hooks_installed = False


def get() -> "Task | None":
    """The task this process records or runs, or None."""
    return _current


def set(task: "Task") -> None:  # noqa: A001 - the module is used as ``current_run.set``
    """Make ``task`` the current one; a task that was not current starts with no outcome."""
    global _current, _error, _exit_code
    if task is not _current:
        _error = _exit_code = None
    _current = task


def clear(task: "Task") -> None:
    """Forget the current task, only if it is ``task``."""
    global _current
    if _current is task:
        _current = None


def outcome(task: "Task") -> tuple[str | None, int | None]:
    """``(error, exit_code)`` noted for ``task`` while it is the current one, else ``(None, None)``:
    the traceback text of an uncaught exception (``"KeyboardInterrupt"`` for one) and the code
    the script gave to sys.exit / exit / quit."""
    if task is not _current:
        return None, None
    return _error, _exit_code


def note_exit(code: Any) -> None:
    """Note the exit code that ``sys.exit(code)`` gives (a non-int, non-None code is 1)."""
    global _exit_code
    if _current is not None:
        _exit_code = code if isinstance(code, int) else (0 if code is None else 1)


def note_error(exc_type: type[BaseException], exc: BaseException | None, tb: Any) -> None:
    """Note an uncaught exception of the current task."""
    global _error
    if _current is None:
        return
    if issubclass(exc_type, KeyboardInterrupt):
        _error = "KeyboardInterrupt"
    else:
        import traceback

        _error = "".join(traceback.format_exception(exc_type, exc, tb))


def note_signal(name: str) -> None:
    """Note that the current task's process is being terminated by the signal ``name``."""
    global _error
    if _current is not None:
        _error = f"terminated by signal {name}"


class _RecordingQuitter:
    """Wraps the ``exit``/``quit`` builtins so that the task sees the exit code they give."""

    def __init__(self, quitter: Any):
        self._quitter = quitter

    def __repr__(self) -> str:
        return repr(self._quitter)

    def __call__(self, code: Any = None) -> None:
        note_exit(code)
        self._quitter(code)


def install_hooks(task: "Task", tee_console: bool) -> "ConsoleCapture | None":
    """Install the process hooks (once per process) and, with ``tee_console``, start copying the
    console to ``task``'s log; returns that console capture (None without one, or when its file
    cannot be opened: the run goes on without its console)."""
    console = None
    if tee_console:
        from .console import ConsoleCapture

        try:
            console = ConsoleCapture(task.store.console_path(task.id))
        except OSError as exc:  # a full disk must not stop the run: only its console is lost
            sys.stderr.write(f"localtask: cannot write the console log of task {task.id}: "
                             f"{exc.strerror or exc}; the run goes on, its console is not recorded\n")
    global _hooks_installed
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(_at_exit)
        previous_hook = sys.excepthook

        def excepthook(exc_type, exc, tb):
            note_error(exc_type, exc, tb)
            previous_hook(exc_type, exc, tb)

        sys.excepthook = excepthook
        original_exit = sys.exit

        def exit_(code=0):
            note_exit(code)
            original_exit(code)

        sys.exit = exit_
        # The exit()/quit() builtins raise SystemExit without going through sys.exit.
        import builtins

        for name in ("exit", "quit"):
            quitter = getattr(builtins, name, None)
            if quitter is not None:
                setattr(builtins, name, _RecordingQuitter(quitter))
    return console


def _at_exit() -> None:
    task = _current
    if task is not None:  # close() does nothing for a task already closed
        try:
            task.close()
        except Exception as exc:  # never hide the script's own exit status
            print(f"localtask: could not close task {task.id}: {exc}", file=sys.__stderr__)
