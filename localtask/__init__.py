"""localtask: record, clone, edit, reset, enqueue and re-run ML tasks with no server."""
from .exceptions import (
    AmbiguousTaskIdError,
    ArtifactError,
    CaptureError,
    IllegalTransitionError,
    LocaltaskError,
    ParameterError,
    QueueError,
    RunError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreVersionError,
    TaskNotFoundError,
)
from .logger import Logger
from .status import TaskStatus
from .store import Store
from .task import Task, TaskTypes

__version__ = "0.1.0"

__all__ = [
    "Task", "TaskTypes", "TaskStatus", "Logger", "Store", "Worker",
    "LocaltaskError", "StoreError", "StoreVersionError", "StoreCorruptError", "StoreLockedError",
    "StoreFullError",
    "TaskNotFoundError", "AmbiguousTaskIdError", "IllegalTransitionError", "ParameterError",
    "ArtifactError", "CaptureError", "QueueError", "RunError",
]


def __getattr__(name):
    if name == "Worker":  # imported on demand: the worker pulls in watchdog and more
        from .worker import Worker

        return Worker
    raise AttributeError(name)
