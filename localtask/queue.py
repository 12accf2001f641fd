"""Queues: enqueue / dequeue / abort on the store, and the wake-up signal for workers.

Enqueue commits first, then touches ``<home>/queue.notify``; a worker waits on that file
with watchdog and also polls, since file events do not cross NFS clients.
"""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from ._logging import get_logger
from .exceptions import QueueError
from .params import shown
from .status import TaskStatus
from .store import Store

log = get_logger("localtask.queue")

QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,99}")


def check_queue_name(name: object) -> str:
    if not isinstance(name, str) or not QUEUE_NAME.fullmatch(name):
        raise QueueError(f"Invalid queue name {shown(name)}: use 1-100 letters, digits and _ . : @ + -, "
                         "starting with a letter or digit (for example 'default' or 'gpu-a100').")
    return name


def check_priority(priority: object) -> int:
    value = None
    if isinstance(priority, str) and priority.strip().lstrip("+-").isdigit():
        value = int(priority)
    elif isinstance(priority, int) and not isinstance(priority, bool):  # 1.9 is not quietly 1
        value = priority
    if value is None or not -2**63 <= value < 2**63:
        raise QueueError(f"Invalid priority {shown(priority)}: give an integer (higher runs sooner), "
                         "such as 0 or 10.")
    return value


def notify(store: Store) -> None:
    """Wake up workers watching this store (best effort)."""
    try:
        with open(store.notify_path, "a"):
            os.utime(store.notify_path)
    except OSError as exc:
        log.debug("cannot touch %s: %s", store.notify_path, exc)


def enqueue(store: Store, task_id: str, queue: str = "default", *, priority: int = 0,
            force: bool = False) -> None:
    check_queue_name(queue)
    priority = check_priority(priority)
    store.enqueue(task_id, queue, priority=priority, force=force)
    notify(store)


def abort(store: Store, task_id: str) -> str:
    """Stop a queued task at once; ask a running task's worker to kill it (a run without a
    worker on this host gets SIGTERM). Returns the task's status afterwards."""
    row = store.get_task(task_id)
    if row["status"] == TaskStatus.queued.value:
        store.stop_task(task_id, "aborted while queued", operation="abort")
        return TaskStatus.stopped.value
    if row["status"] == TaskStatus.in_progress.value and row["worker"]:
        store.request_abort(task_id)
        notify(store)
        return TaskStatus.in_progress.value
    store.stop_task(task_id, "aborted", operation="abort")
    pid = row.get("pid")
    if pid and row.get("host") == os.uname().nodename and pid != os.getpid():
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    return TaskStatus.stopped.value


class Waker:
    """Waits until the store's notification file changes or ``timeout`` passes.

    Uses watchdog (inotify on Linux) when it can, and is always bounded by the timeout so that
    polling covers shared disks where file events from other hosts never arrive.
    """

    def __init__(self, store: Store, use_events: bool = True):
        self._event = threading.Event()
        self._observer = None
        if use_events:
            try:
                self._start_observer(store.notify_path)
            except Exception as exc:  # no inotify slots, unsupported fs...: polling still works
                log.debug("file events unavailable (%s); polling only", exc)

    def _start_observer(self, path: Path) -> None:
        import logging

        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        # watchdog logs its own shutdown races ("called when the thread is inactive") as
        # warnings; with no logging configured Python would print them on stderr.
        watchdog_log = logging.getLogger("watchdog")
        if not watchdog_log.handlers:
            watchdog_log.addHandler(logging.NullHandler())

        event = self._event
        name = path.name

        class Handler(FileSystemEventHandler):
            def on_any_event(self, ev):
                if Path(getattr(ev, "src_path", "")).name == name or Path(
                        getattr(ev, "dest_path", "") or "").name == name:
                    event.set()

        observer = Observer()
        observer.schedule(Handler(), str(path.parent), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float, stop: "Callable[[], bool] | None" = None) -> bool:
        """Wait up to ``timeout`` s for a wake-up; with ``stop``, also return within 0.1 s of it
        turning true (a signal handler sets a flag: calling ``wake`` from one could deadlock on
        the event's lock, held by the very thread the handler interrupted)."""
        deadline = time.monotonic() + timeout
        woke = False
        while not woke:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            woke = self._event.wait(min(left, 0.1) if stop is not None else left)
            if stop is not None and stop():
                woke = True
        self._event.clear()
        return woke

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None
