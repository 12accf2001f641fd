"""ClearML's Task calls about what a task is called, where it sits and what its run says of
itself: rename, project, type, progress, lookups by name, the queue and worker that ran it, and
the server/offline notions (localtask is always local).

Projects have no ids in localtask: a project's name is its id. :class:`TaskIdentity` is a mixin
of :class:`localtask.task.Task` through :class:`localtask.task_clearml.ClearMLExtras`.
"""
from __future__ import annotations

import os
from typing import Any

from ._logging import get_logger
from .exceptions import LocaltaskError

log = get_logger("localtask.task_identity")


class TaskIdentity:
    """Name, project, type, progress and lookups (a mixin of Task)."""

    # ------------------------------------------------------------------ name, project, type
    def rename(self, new_name: str) -> None:
        """Rename the task (ClearML's ``rename``, as :meth:`set_name`)."""
        self.set_name(new_name)  # type: ignore[attr-defined]

    def move_to_project(self, new_project_id: str | None = None, new_project_name: str | None = None,
                        system_tags: Any = None) -> bool:
        """Move the task to another project (a project's name is its id in localtask; ClearML's
        nested ``a/b`` names are kept as written). Raises LocaltaskError without a project."""
        from .task import _check_text

        project = new_project_name or new_project_id
        if not project:
            raise LocaltaskError("move_to_project needs new_project_name (or new_project_id, the same here).")
        self._store.update_task(self.id, project=_check_text("project name", project))  # type: ignore[attr-defined]
        return True

    def set_project(self, project_id: str | None = None, project_name: str | None = None) -> None:
        """As :meth:`move_to_project` (ClearML's ``set_project``)."""
        self.move_to_project(new_project_id=project_id, new_project_name=project_name)

    def get_project_id(self, project_name: str | None = None, search_hidden: bool = True) -> str:
        """The project's id: its name in localtask (of ``project_name``, else of this task)."""
        return str(project_name) if project_name else self.project  # type: ignore[attr-defined]

    @classmethod
    def get_projects(cls, home: str | os.PathLike | None = None, **_ignored: Any) -> list[dict[str, Any]]:
        """The store's projects as ``[{"id": name, "name": name, "tasks": n}]`` (ids are names)."""
        from .store import Store

        return [{"id": p["name"], "name": p["name"], "tasks": p["tasks"]}
                for p in Store.open(home).project_summary()]

    def set_task_type(self, task_type: Any) -> None:
        """Set the task's type (a ``Task.TaskTypes`` member or its name). Raises LocaltaskError
        naming the types allowed."""
        from .task import _task_type

        self._store.update_task(self.id, type=_task_type(task_type))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ identity
    @property
    def task_id(self) -> str:
        """The task's id (ClearML's ``task_id``)."""
        return self.id  # type: ignore[attr-defined]

    def reload(self) -> None:
        """Re-read the task: a no-op, every property reads the store afresh."""

    def is_current_task(self) -> bool:
        """Whether this is the task this process recorded or runs (``Task.current_task()``)."""
        current = type(self).current_task()  # type: ignore[attr-defined]
        return current is not None and current.id == self.id  # type: ignore[attr-defined]

    def is_main_task(self) -> bool:
        """As :meth:`is_current_task` (ClearML: the task of the main process)."""
        return self.is_current_task()

    @classmethod
    def get_by_name(cls, task_name: str, home: str | os.PathLike | None = None) -> Any:
        """The newest task named ``task_name`` in any project. Raises TaskNotFoundError."""
        return cls.get_task(task_name=task_name, home=home)  # type: ignore[attr-defined]

    @classmethod
    def get_all(cls, session: Any = None, log: Any = None, home: str | os.PathLike | None = None,
                **kwargs: Any) -> list[Any]:
        """Tasks matching ClearML's ``tasks.get_all`` filters that localtask knows: ``id`` (a list),
        ``name`` (a part of it), ``project`` (names), ``tags``, ``status``; newest first."""
        ids = kwargs.get("id")
        projects = kwargs.get("project") or [None]
        out: list[Any] = []
        for project in ([projects] if isinstance(projects, str) else projects):
            out += cls.get_tasks(task_ids=[ids] if isinstance(ids, str) else ids,  # type: ignore[attr-defined]
                                 project_name=project, task_name=kwargs.get("name"),
                                 tags=kwargs.get("tags"), status=kwargs.get("status"), home=home)
        return out

    # ------------------------------------------------------------------ progress
    def set_progress(self, progress: int) -> None:
        """Record the run's progress, an int 0..100 (shown by ``localtask show`` and in the page's
        task JSON as ``runtime.progress``). Anything else is a warning, as ClearML, and ignored."""
        if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
            log.warning("task %s: cannot set progress %r: it is not an int between 0 and 100",
                        self.id, progress)  # type: ignore[attr-defined]
            return
        self._store.set_runtime(self.id, {"progress": progress})  # type: ignore[attr-defined]

    def get_progress(self) -> int | None:
        """The progress set with :meth:`set_progress` (None before any)."""
        value = (self._store.get_task(self.id).get("runtime") or {}).get("progress")  # type: ignore[attr-defined]
        return int(value) if isinstance(value, (int, float)) else None

    # ------------------------------------------------------------------ where it ran
    def get_executed_queue(self, return_name: bool = False) -> str | None:
        """The queue the task was last enqueued in (queues have no ids here: its name either way)."""
        return self._store.get_task(self.id)["queue"]  # type: ignore[attr-defined]

    @property
    def last_worker(self) -> str | None:
        """The name of the worker that ran (or runs) the task; None for a run without one."""
        return self._store.get_task(self.id)["worker"]  # type: ignore[attr-defined]

    @classmethod
    def get_num_enqueued_tasks(cls, queue_name: str | None = None, queue_id: str | None = None,
                               home: str | os.PathLike | None = None) -> int:
        """How many tasks wait in the queue (its name; ``queue_id`` is the same here)."""
        from .store import Store

        return Store.open(home).pending([str(queue_name or queue_id or "default")])

    # ------------------------------------------------------------------ offline mode (a server notion)
    @classmethod
    def is_offline(cls) -> bool:
        """False: localtask has no server to be offline from; every run is written locally."""
        return False

    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Accepted and ignored: every run is local already (nothing to upload later)."""

    def get_offline_mode_folder(self) -> None:
        """None: there is no offline session folder (the store is the record)."""
        return None

