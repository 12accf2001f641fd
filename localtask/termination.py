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
from typing import TYPE_CHECKING, Any, Callable

from . import current_run

if TYPE_CHECKING:
    from .task import Task

SIGNALS = ("SIGTERM", "SIGHUP")
#: the process that installed the handlers: a forked child inherits them, but not the run.
_installed_in: int | None = None
#: the task being ended after a signal.
_ending: "Task | None" = None
#: (callback, timeout in seconds) of Task.register_abort_callback
_abort_callback: "tuple[Callable[[], Any], float] | None" = None


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
            if task.status == "stopped":  # ended by an abort (localtask abort), not by kill PID
                run_abort_callback()
        except Exception:  # a store that cannot be read: no abort to tell of
            pass
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


# ---------------------------------------------------------------------- abort callback
def set_abort_callback(callback: "Callable[[], Any] | None", timeout: float, attached: bool) -> None:
    """Keep the callback ``Task.register_abort_callback`` gave (None: forget it). A worker stops
    its run with SIGTERM to the run's process group: under a worker, SIGTERM is handled here
    (main thread only, unless the script handles it itself) to call it first; a local run's
    SIGTERM handler (:func:`install`) calls it when the signal came with an abort."""
    global _abort_callback
    _abort_callback = (callback, float(timeout)) if callback is not None else None
    if callback is None or not attached or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _handle_worker_stop)


def run_abort_callback() -> None:
    """Call the abort callback once, from another thread, waiting at most its timeout (the run
    goes on meanwhile, as in ClearML, where a background thread calls it)."""
    global _abort_callback
    taken, _abort_callback = _abort_callback, None
    if taken is None:
        return
    callback, timeout = taken

    def call() -> None:
        try:
            callback()
        except Exception as exc:  # the run is being stopped all the same
            _say(f"localtask: the abort callback raised {type(exc).__name__}: {exc}\n")

    thread = threading.Thread(target=call, name="localtask-abort-callback", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _say(f"localtask: the abort callback did not return within {timeout:g} s; the run stops now\n")


def _handle_worker_stop(signum: int, frame) -> None:
    global _ending
    task = current_run.get()
    if _ending is not None or task is None:
        _die(signum)
        return
    _ending = task
    try:
        threading.Thread(target=_callback_then_die, args=(task, signum), name="localtask-aborted").start()
    except RuntimeError:
        _die(signum)


def _callback_then_die(task: "Task", signum: int) -> None:
    try:
        run_abort_callback()
        try:
            task.flush()  # what the callback reported is written before the worker records the end
        except Exception as exc:
            _say(f"localtask: could not write the outputs of task {task.id}: {exc}\n")
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
    finally:
        os.kill(os.getpid(), signum)  # handled in the main thread (_ending set): it dies of it
