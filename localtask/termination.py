"""A local run stopped by SIGTERM or SIGHUP ends its task before it dies.

Python dies of these signals at once, without atexit: the task of a script stopped by
``kill PID``, a closed terminal or a cluster's scancel would stay in progress forever. So
``Task.init`` of a run no worker started handles them, unless the script handles them itself:
the task ends failed ("terminated by signal SIGTERM") with its scalars and console written, and
the process then dies of the same signal, so its parent still sees 128+N. A worker's run gets
no handler: its worker records how it ended. A run killed by SIGKILL is failed afterwards by
``localtask gc``, a worker's start or the next ``Task.init`` (``Store.fail_dead_local_runs``).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from . import current_run

if TYPE_CHECKING:
    from .task import Task

SIGNALS = ("SIGTERM", "SIGHUP")
#: the process that installed the handlers: a forked child inherits them, but not the run.
_installed_in: int | None = None
#: the task being ended after a signal.
_ending: "Task | None" = None


def install() -> None:
    """Handle SIGTERM and SIGHUP in this process, each only where the script left Python's
    default (a handler of its own, or SIG_IGN as under nohup, stays). Main thread only, as
    Python requires; once per process."""
    global _installed_in
    if threading.current_thread() is not threading.main_thread() or _installed_in == os.getpid():
        return
    _installed_in = os.getpid()
    for name in SIGNALS:
        signum = getattr(signal, name, None)  # Windows has no SIGHUP
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _handle)


def _handle(signum: int, frame) -> None:
    global _ending
    task = current_run.get()
    if os.getpid() != _installed_in or task is None or (_ending is not None and task is not _ending):
        _die(signum)  # a forked child, no run, or its end written: as Python's default
    elif _ending is None:
        _ending = task
        current_run.note_signal(signal.Signals(signum).name)
        # Ended from another thread: this one may be holding a lock the end needs (the console
        # tee's, the logger's), or be inside a store transaction; it goes on meanwhile.
        try:
            threading.Thread(target=_end_then_die, args=(task, signum), name="localtask-terminated").start()
        except RuntimeError:  # no new thread at interpreter shutdown
            _die(signum)
    # else: the end is being written; the thread sends the signal again once it is


def _end_then_die(task: "Task", signum: int) -> None:
    try:
        try:
            task.close()
        except Exception as exc:  # the process dies all the same; gc fails the task later
            _say(f"localtask: could not end task {task.id}: {exc}\n")
        else:
            while current_run.get() is task:  # a close the script began first (at exit) is finishing
                time.sleep(0.01)
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
    finally:
        os.kill(os.getpid(), signum)  # handled in the main thread, which now dies of it


def _die(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _say(text: str) -> None:
    try:
        sys.__stderr__.write(text)
    except (OSError, ValueError, AttributeError):  # a closed terminal (SIGHUP), no stderr at all
        pass


def _flush(stream) -> None:
    try:
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass
