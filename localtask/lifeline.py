"""A task run by a worker does not outlive it.

When a worker is killed (kill -9, a crash, a lost machine) another worker fails its tasks, or
re-queues them with ``--requeue-lost``; a task process that ran on would keep writing scalars
and artifacts into a task that is already failed, or that another worker now runs again. So,
on Linux, a task attached to a worker asks the kernel to kill it when the worker dies
(``PR_SET_PDEATHSIG``); a worker already gone by then is caught by comparing the parent pid.
"""
from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
#: the worker this process was started by (set by :func:`die_with_worker`)
_worker_pid: int | None = None


def worker_gone() -> bool:
    """Whether the worker that started this process has died (the process was re-parented)."""
    return _worker_pid is not None and os.getppid() != _worker_pid


def die_with_worker() -> bool:
    """Arrange SIGKILL for this process when its worker (``LOCALTASK_WORKER_PID``) dies.
    Returns whether it could be arranged (Linux, the process a worker started). The processes
    the task starts itself are its own: they get the task's console pipes, which close with
    the worker."""
    # Only the process the worker started (the leader of the session the worker made for it):
    # a process the task starts in turn, calling Task.init too, has the task as its parent.
    global _worker_pid
    worker_pid = os.environ.pop("LOCALTASK_WORKER_PID", "")
    if not sys.platform.startswith("linux") or not worker_pid.isdigit() or os.getsid(0) != os.getpid():
        return False
    _worker_pid = int(worker_pid)
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != int(worker_pid):  # the worker died before the line above
        os.kill(os.getpid(), signal.SIGKILL)
    return True
