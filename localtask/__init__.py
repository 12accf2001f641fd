"""localtask: record, clone, edit, reset, enqueue and re-run ML tasks with no server."""
from .exceptions import (
    AmbiguousTaskIdError,
    BundleError,
    BundleVersionError,
    ArtifactError,
    CaptureError,
    GpuError,
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
    "ArtifactError", "CaptureError", "QueueError", "RunError", "GpuError",
    "OutputModel", "InputModel", "Model", "StorageManager", "reproduce", "sweep", "compare_tasks",
    "export_tasks", "import_bundle", "BundleError", "BundleVersionError",
]

#: names imported on first use, so that ``import localtask`` stays light.
_LAZY = {"Worker": "worker", "OutputModel": "models", "InputModel": "models", "Model": "models",
         "StorageManager": "storage_manager", "reproduce": "reproduction", "sweep": "sweeps",
         "compare_tasks": "compare", "export_tasks": "bundle", "import_bundle": "bundle"}


def __getattr__(name):
    module = _LAZY.get(name)  # the worker pulls in watchdog and more
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
