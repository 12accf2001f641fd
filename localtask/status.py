"""Task statuses and the one table of legal transitions."""
from __future__ import annotations

from enum import Enum

from .exceptions import IllegalTransitionError, LocaltaskError


class TaskStatus(str, Enum):
    """Life cycle of a task (names and values as in ClearML).

    ``created`` is the editable draft; ``published`` is read-only forever.
    """

    created = "created"
    queued = "queued"
    in_progress = "in_progress"
    stopped = "stopped"
    failed = "failed"
    completed = "completed"
    published = "published"

    def __str__(self) -> str:
        return self.value


S = TaskStatus


def parse(value: object) -> str:
    """The status named ``value`` (a TaskStatus or its value); LocaltaskError for any other."""
    try:
        return TaskStatus(value).value
    except ValueError:
        allowed = ", ".join(s.value for s in TaskStatus)
        raise LocaltaskError(f"Unknown task status {value!r}; use one of: {allowed}.") from None

#: operation -> statuses it is allowed from (without force).
ALLOWED_FROM: dict[str, frozenset[TaskStatus]] = {
    # ClearML's rule: only a draft, or a run that ended badly, can be put on a queue.
    "enqueue": frozenset({S.created, S.stopped, S.failed}),
    "dequeue": frozenset({S.queued}),
    "start": frozenset({S.created, S.queued}),
    "claim": frozenset({S.queued}),
    "complete": frozenset({S.in_progress}),
    "fail": frozenset({S.created, S.queued, S.in_progress}),
    "stop": frozenset({S.queued, S.in_progress}),
    "abort": frozenset({S.queued, S.in_progress}),
    "publish": frozenset({S.completed, S.stopped}),
    "reset": frozenset({S.created, S.stopped, S.failed, S.completed}),
    "edit": frozenset({S.created}),
    "delete": frozenset({S.created, S.stopped, S.failed, S.completed, S.queued}),
}

#: operations that ``force=True`` may apply from any status but these.
FORCE_NEVER: dict[str, frozenset[TaskStatus]] = {
    "reset": frozenset({S.published}),
    "edit": frozenset({S.published}),
    "delete": frozenset({S.published}),
    "enqueue": frozenset({S.published, S.queued, S.in_progress}),
    "complete": frozenset({S.published}),
    "fail": frozenset({S.published}),
    "stop": frozenset({S.published}),
    "start": frozenset({S.published, S.in_progress}),
    "publish": frozenset({S.published, S.queued, S.in_progress}),
}

HINTS = {
    "reset": "published tasks are read-only: clone it instead",
    "edit": "only a draft (created) task can be edited: clone it, or reset it first",
    "enqueue": "reset or clone it first",
}


def check(task_id: str, status: str, operation: str, force: bool = False) -> None:
    """Raise :class:`IllegalTransitionError` unless ``operation`` is legal from ``status``."""
    current = TaskStatus(status)
    allowed = ALLOWED_FROM[operation]
    if current in allowed:
        return
    forceable = operation in FORCE_NEVER and current not in FORCE_NEVER[operation]
    if force and forceable:
        return
    raise IllegalTransitionError(task_id=task_id, status=current.value, operation=operation,
                                 allowed=tuple(sorted(s.value for s in allowed)), forceable=forceable,
                                 reason=HINTS.get(operation))
