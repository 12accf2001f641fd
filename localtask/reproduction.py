"""Verified reproduction: clone a task, run the clone, and judge it against the original.

:func:`reproduce` makes the clone (named and parented after the original), marks it as a
reproduction with a ``pending`` verdict, and enqueues it. The verdict is filled in once the
clone has run, by the worker that ran it, by whoever waits for it, or at the next look
(:func:`verdict_of`), so it is never lost with a process.
"""
from __future__ import annotations

import os
from typing import Any

from .compare import Comparison, compare_tasks
from .store_verdicts import PENDING

#: the tag every reproduction carries
TAG = "reproduction"
#: a reproduction is judged once it is in one of these
ENDED = {"completed", "failed", "stopped", "published"}


def reproduce(task_id: str, *, queue: str = "default", wait: bool = False, timeout: float | None = None,
              rtol: float = 0.0, atol: float = 0.0, home: str | os.PathLike | None = None) -> dict[str, Any]:
    """Clone ``task_id`` as its reproduction, enqueue it on ``queue``, and with ``wait`` block until
    it has run (``timeout`` seconds at most: TimeoutError) and return the verdict. Without
    ``wait``, returns the pending verdict at once: ``{task_id, reference_id, verdict, details}``."""
    from .task import Task

    if rtol < 0 or atol < 0:
        raise ValueError(f"tolerances must be >= 0 (got rtol={rtol}, atol={atol})")
    original = Task.get_task(task_id=task_id, home=home)
    store = original.store
    clone = Task.clone(original, name=f"Reproduction of {original.name}", parent=original,
                       comment=f"reproduction of {original.id}", home=store.home)
    clone.add_tags([TAG])
    store.set_verdict(clone.id, original.id, PENDING, {"rtol": rtol, "atol": atol})
    Task.enqueue(clone, queue_name=queue, home=store.home)
    if not wait:
        return store.get_verdict(clone.id)
    clone.wait_for_status(timeout=timeout)
    return verdict_of(store, clone.id)


def judge(store, task_id: str) -> Comparison | None:
    """Compare the reproduction ``task_id`` with its original and store the verdict; None when
    ``task_id`` is no reproduction or has not ended."""
    mark = store.get_verdict(task_id)
    if mark is None or store.get_task(task_id)["status"] not in ENDED:
        return None
    tolerances = mark["details"]
    comparison = compare_tasks(store, mark["reference_id"], task_id, rtol=float(tolerances.get("rtol", 0.0)),
                               atol=float(tolerances.get("atol", 0.0)))
    store.set_verdict(task_id, mark["reference_id"], comparison.verdict, comparison.to_dict())
    return comparison


def verdict_of(store, task_id: str) -> dict[str, Any] | None:
    """The stored verdict of the reproduction ``task_id``, judged now if it has ended and is still
    pending; None when it is no reproduction."""
    mark = store.get_verdict(task_id)
    if mark is not None and mark["verdict"] == PENDING:
        judge(store, task_id)
        mark = store.get_verdict(task_id)
    return mark
