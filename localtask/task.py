"""The Task API, named and behaving as ClearML's wherever ClearML has the same call."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import argparse_hook, current_run, frameworks, params as P, seeding, termination
from ._logging import get_logger
from .exceptions import LocaltaskError, ParameterError, TaskNotFoundError
from .logger import Logger
from .status import TaskStatus
from .store import Store, resolve_home
from .store_base import pid_namespace
from .task_clearml import ClearMLExtras
from .task_execution import ExecutionEdits
from .task_outputs import TaskOutputs

log = get_logger("localtask.task")

#: a diff larger than this is kept as a file under <home>/blobs instead of in the database.
INLINE_CODE_LIMIT = 256 * 1024


def new_id() -> str:
    """A random task id: 32 hex characters (uuid4-sized, without importing uuid at start-up)."""
    return os.urandom(16).hex()


#: the lines a run under a worker writes at Task.init and close: the worker's console keeps the
#: whole process's output, and a comparison with a local run takes only what lies between
ATTACH_MARK = "localtask: Task.init attached to task"
CLOSE_MARK = "localtask: Task.close of task"


class TaskTypes(str, Enum):
    """Task types, as in ClearML."""

    training = "training"
    testing = "testing"
    inference = "inference"
    data_processing = "data_processing"
    application = "application"
    monitor = "monitor"
    controller = "controller"
    optimizer = "optimizer"
    service = "service"
    qc = "qc"
    custom = "custom"

    def __str__(self) -> str:
        return self.value


def _task_type(value: Any) -> str:
    try:
        return TaskTypes(str(value.value if isinstance(value, Enum) else value)).value
    except ValueError:
        allowed = ", ".join(t.value for t in TaskTypes)
        raise LocaltaskError(f"Unknown task type {value!r}; use one of: {allowed}.") from None


def _check_text(label: str, value: Any, max_len: int = 1000) -> str:
    if (not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > max_len
            or not P.is_unicode(value)):
        raise LocaltaskError(f"Invalid {label} {P.shown(value)}: give a non-empty string of at most "
                             f"{max_len} characters of valid Unicode, without NUL bytes.")
    return value


def store_code(store: Store, code: bytes | None) -> dict[str, Any]:
    """Columns that keep ``code``: inline when small, else a content-addressed file
    (written under a temporary name and renamed before the row that names it commits)."""
    if code is None or len(code) <= INLINE_CODE_LIMIT:
        return {"code": code, "code_ref": None}
    import hashlib

    digest = hashlib.sha256(code).hexdigest()
    path = store.blobs_dir / digest
    if not path.exists():
        tmp = store.blobs_dir / f".tmp-{new_id()}"
        with open(tmp, "wb") as fh:
            fh.write(code)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return {"code": None, "code_ref": digest}


class ConnectedDict(dict):
    """The mapping returned by :meth:`Task.connect`: every change is written to the task."""

    def __init__(self, task: "Task", section: str, data: Mapping, original: dict | None):
        super().__init__(data)
        self._task, self._section, self._original = task, section, original

    def _sync(self, changed: Mapping) -> None:
        if self._original is not None:
            self._original.update(changed)
        self._task._write_params(self._section, dict(changed))

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._sync({key: value})

    def update(self, *args, **kwargs):
        changed = dict(*args, **kwargs)
        super().update(changed)
        self._sync(changed)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def __delitem__(self, key):
        super().__delitem__(key)
        if self._original is not None:
            self._original.pop(key, None)
        self._task._delete_param(self._section, key)


def _fail_dead_local_runs(store: Store) -> None:
    """End failed this host's runs whose process died unseen (kill -9, the OOM killer)."""
    try:
        for run in store.fail_dead_local_runs(os.uname().nodename):
            log.warning("localtask: task %s: failed: %s", run["id"], run["reason"])
    except LocaltaskError as exc:  # never a reason for this run not to start
        log.warning("could not look for dead runs in %s: %s", store.home, exc)


def _framework_on(auto_connect_frameworks: Any, name: str) -> bool:
    """ClearML's switch: ``True``/``False`` for all frameworks, or ``{name: bool}``."""
    if isinstance(auto_connect_frameworks, dict):
        return bool(auto_connect_frameworks.get(name, True))
    return bool(auto_connect_frameworks)


def _report_figure(title: str, series: str, figure: Any, iteration: int) -> None:
    """A figure shown or saved with matplotlib, reported as ClearML does (a plot of the task)."""
    task = current_run.get()
    if task is not None and not task._closed:
        task.get_logger().report_matplotlib_figure(title, series, figure, iteration)


class Task(TaskOutputs, ClearMLExtras, ExecutionEdits):
    """A recorded run. Create one with :meth:`Task.init`; find others with :meth:`get_task`."""

    TaskTypes = TaskTypes
    TaskStatusEnum = TaskStatus

    def __init__(self, store: Store, task_id: str, *, owned: bool = False, attached: bool = False):
        self._store = store
        self._id = task_id
        self._owned = owned
        self._attached = attached
        self._logger: Logger | None = None
        self._console = None
        self._closed = False
        self._modules_at_init: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ creation
    @classmethod
    def init(cls, project_name: str | None = None, task_name: str | None = None,
             task_type: str | TaskTypes = TaskTypes.training, tags: Iterable[str] | None = None,
             reuse_last_task_id: bool = False, continue_last_task: bool = False,
             output_uri: str | None = None, auto_connect_arg_parser: bool = True,
             auto_connect_frameworks: Any = True, auto_resource_monitoring: bool = True,
             auto_connect_streams: bool = True, home: str | os.PathLike | None = None,
             **_ignored: Any) -> "Task":
        """Record this process as a task and return it.

        Captures the git state (or the script files), the environment, argparse arguments and
        the console. Under a worker (``LOCALTASK_TASK_ID`` set) it attaches to that task
        instead, and stored parameters replace the script's own values. Without a worker, a
        SIGTERM or SIGHUP ends the task failed before the process dies of it (see
        ``termination``), and this host's runs whose process died unseen are failed first.
        Calling it again in the same process returns the same task.
        Raises StoreError subclasses when the store cannot be used.
        """
        current = current_run.get()
        if current is not None and not current._closed:
            return current
        argparse_hook.enabled = bool(auto_connect_arg_parser)
        attach_id = os.environ.get("LOCALTASK_TASK_ID")
        if attach_id:
            store = Store.open(os.environ.get("LOCALTASK_HOME") or home)
            store.get_task(attach_id)
            from .lifeline import die_with_worker

            # the process the worker started (not a rank it launches): its console gets the marks
            started_by_worker = str(os.getppid()) == os.environ.get("LOCALTASK_WORKER_PID")
            die_with_worker()  # (takes LOCALTASK_WORKER_PID out of the environment)
            task = cls(store, attach_id, owned=True, attached=True)
            task._console_marks = started_by_worker
            task._mark_console(ATTACH_MARK)
        else:
            store = Store.open(home)
            _fail_dead_local_runs(store)
            task = cls._create_recorded(store, project_name, task_name, task_type, tags)
            task._announce()
        task._auto_connect_frameworks = auto_connect_frameworks  # read again by patches at their calls
        current_run.set(task)
        task._console = current_run.install_hooks(task, auto_connect_streams and not task._attached)
        if not task._attached:  # a worker records how its runs end
            termination.install()
        if argparse_hook.pending is not None and auto_connect_arg_parser:
            values, helps = argparse_hook.pending
            argparse_hook.pending = None
            try:
                task.record_arguments(values, helps)
            except Exception as exc:  # a parser's odd contents never cost the run
                argparse_hook.warn(exc)
        if frameworks.pending:
            frameworks.flush(task, lambda name: _framework_on(auto_connect_frameworks, name))
        if _framework_on(auto_connect_frameworks, "matplotlib"):
            from . import mpl_capture

            mpl_capture.install(_report_figure)
        if output_uri is not None:
            task.output_uri = output_uri
        seeding.seed_run(task)
        return task

    def _announce(self) -> None:
        """One line on stderr naming the new task, its store and how to see it (ClearML prints
        one too); written before the console tee starts, so the task's console stays the
        script's own output. Silenced by ``LOCALTASK_QUIET=1``."""
        if os.environ.get("LOCALTASK_QUIET", "").strip() not in ("", "0"):
            return
        home = self._store.home
        where = ""
        if home != resolve_home():
            import shlex

            where = f"--home {shlex.quote(str(home))} "
        try:
            sys.stderr.write(f"localtask: task {self.id} recorded in {home} "
                             f"(see it: localtask {where}show {self.id[:8]})\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # no usable stderr (closed, detached): say nothing
            pass

    @classmethod
    def _create_recorded(cls, store: Store, project_name, task_name, task_type, tags) -> "Task":
        from . import capture

        project = _check_text("project name", project_name or "default")
        main_file, module = capture._main_module()
        default_name = module or (main_file.stem if main_file else "interactive")
        name = _check_text("task name", task_name or default_name)
        # a store inside the repo is never its code, nor a framework's run folders (Hydra's outputs/)
        script, code = capture.capture_script(exclude=[store.home, *capture.RUN_OUTPUT_FOLDERS])
        if script["kind"] == "files":
            log.warning("localtask: %s is not in a git repository; storing the script and the %d "
                        "local file(s) it imported instead", main_file, len(script.get("files", ())))
        environment = cls._record_forced_requirements(capture.capture_environment(store.cache_dir))
        task_id = new_id()
        row = {
            "id": task_id, "project": project, "name": name, "type": _task_type(task_type),
            "tags": list(tags or []), "status": TaskStatus.in_progress.value,
            "script": script, "environment": environment, "host": os.uname().nodename,
            "pid": os.getpid(), "pid_ns": pid_namespace(), **store_code(store, code),
            "runtime": json.dumps({seeding.RUNTIME_KEY: seeding.get_seed()}),
        }
        row["created"] = row["started"] = time.time()
        store.insert_task(row)
        task = cls(store, task_id, owned=True, attached=False)
        task._modules_at_init = capture.imported_top_levels()
        return task

    # ------------------------------------------------------------------ lookup
    @classmethod
    def current_task(cls) -> "Task | None":
        """The task this process recorded or runs, or None."""
        return current_run.get()

    @classmethod
    def get_task(cls, task_id: str | None = None, project_name: str | None = None,
                 task_name: str | None = None, home: str | os.PathLike | None = None,
                 **_ignored: Any) -> "Task":
        """A task by id (or unique id prefix), or the newest one with this project and name.
        Raises TaskNotFoundError / AmbiguousTaskIdError."""
        store = Store.open(home)
        if task_id:
            return cls._from_store(store, store.resolve_id(str(task_id)))
        if not task_name and not project_name:
            raise TaskNotFoundError("Task.get_task needs task_id, or task_name (and project_name).")
        rows = store.find_tasks(project=project_name, name=task_name, limit=1)
        if not rows:
            raise TaskNotFoundError(
                f"No task named {task_name!r}" + (f" in project {project_name!r}" if project_name else "")
                + f" in the store {store.home}.")
        return cls._from_store(store, rows[0]["id"])

    @classmethod
    def get_tasks(cls, task_ids: Iterable[str] | None = None, project_name: str | None = None,
                  task_name: str | None = None, tags: Iterable[str] | None = None,
                  status: Iterable[str] | str | None = None, home: str | os.PathLike | None = None,
                  task_filter: dict | None = None, **_ignored: Any) -> list["Task"]:
        """Tasks matching all filters, newest first (``task_name`` matches a part of the name)."""
        store = Store.open(home)
        if task_filter and "status" in task_filter and status is None:
            status = task_filter["status"]
        if isinstance(status, str):
            status = [status]
        ids = [store.resolve_id(t) for t in task_ids] if task_ids else None
        rows = store.find_tasks(project=project_name, name_contains=task_name, tags=tags,
                                status=status, ids=ids)
        return [cls._from_store(store, r["id"]) for r in rows]

    @classmethod
    def _from_store(cls, store: Store, task_id: str) -> "Task":
        current = current_run.get()
        if current is not None and current.id == task_id and current._store.home == store.home:
            return current
        return cls(store, task_id)

    @classmethod
    def _resolve(cls, task: "Task | str", home=None) -> "Task":
        if isinstance(task, Task):
            return task
        store = Store.open(home)
        return cls._from_store(store, store.resolve_id(str(task)))

    # ------------------------------------------------------------------ properties
    @property
    def id(self) -> str:
        return self._id

    @property
    def data(self) -> dict[str, Any]:
        """The task's row (fresh from the store)."""
        return self._store.get_task(self.id)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def project(self) -> str:
        return self.data["project"]

    def get_project_name(self) -> str:
        return self.project

    @property
    def status(self) -> str:
        return self.data["status"]

    def get_status(self) -> str:
        return self.status

    def get_status_message(self) -> str:
        return self.data["status_reason"]

    @property
    def task_type(self) -> str:
        return self.data["type"]

    @property
    def comment(self) -> str:
        return self.data["comment"]

    @property
    def parent(self) -> str | None:
        return self.data["parent"]

    @property
    def store_home(self) -> Path:
        return self._store.home

    @property
    def store(self) -> Store:
        """The :class:`Store` this task lives in."""
        return self._store

    @property
    def models(self) -> dict[str, list]:
        """``{"input": [Model, ...], "output": [Model, ...]}`` (see localtask.models)."""
        from .models import task_models

        return task_models(self)

    @property
    def is_attached(self) -> bool:
        """True when this process runs the task for a worker (``LOCALTASK_TASK_ID`` set): its
        stored parameters replace the script's own values."""
        return self._attached

    def get_tags(self) -> list[str]:
        return list(self.data["tags"])

    def add_tags(self, tags: Iterable[str] | str) -> None:
        tags = [tags] if isinstance(tags, str) else list(tags)
        current = self.get_tags()
        self._store.update_task(self.id, tags=current + [t for t in tags if t not in current])

    def set_tags(self, tags: Iterable[str]) -> None:
        self._store.update_task(self.id, tags=list(tags))

    def set_name(self, name: str) -> None:
        self._store.update_task(self.id, name=_check_text("task name", name))

    def set_comment(self, comment: str) -> None:
        self._store.update_task(self.id, comment=str(comment))

    def set_parent(self, parent: "Task | str | None") -> None:
        parent_id = None if parent is None else Task._resolve(parent, self._store.home).id
        self._store.update_task(self.id, parent=parent_id)

    def get_script(self) -> dict[str, Any]:
        """Repository, branch, commit, entry point, working directory, argv (and more)."""
        return self.data["script"]

    def get_diff(self) -> bytes:
        """The uncommitted diff recorded for the task (empty outside git)."""
        script = self.get_script()
        if script.get("kind") != "git":
            return b""
        return self._store.get_code(self.id) or b""

    def get_environment(self) -> dict[str, Any]:
        return self.data["environment"]

    def __repr__(self) -> str:
        return f"<Task {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ------------------------------------------------------------------ parameters
    def _can_write_freely(self) -> bool:
        return self._owned and not self._closed

    def _param_kinds(self) -> dict[tuple[str, str], str]:
        return {(r["section"], r["name"]): r["type"] for r in self._store.get_parameters(self.id)}

    def _get_section(self, section: str) -> dict[str, Any]:
        return {r["name"]: P.decode(r["value"], r["type"]) for r in self._store.get_parameters(self.id)
                if r["section"] == section}

    def _write_params(self, section: str, values: Mapping[str, Any],
                      descriptions: Mapping[str, str] | None = None, *, coerce: bool = False) -> None:
        kinds = self._param_kinds() if coerce else {}
        rows = []
        for name, value in values.items():
            name = str(name)
            P.check_name(section, name)
            if coerce:
                text, kind = P.coerce(value, kinds.get((section, name)), f"{section}/{name}")
            else:
                text, kind = P.encode(value, f"{section}/{name}")
            rows.append((section, name, text, kind, (descriptions or {}).get(name, "")))
        self._store.set_parameters(self.id, rows, check_edit=not self._can_write_freely())

    def _delete_param(self, section: str, name: str) -> None:
        self._store.delete_parameter(self.id, section, name, check_edit=not self._can_write_freely())

    def record_arguments(self, values: Mapping[str, Any], descriptions: Mapping[str, str] | None = None) -> None:
        """Record parsed command-line arguments ``{name: value}`` (with their help texts) in the
        ``Args`` section, as the argparse hook does. Raises ParameterError for a name or value
        that cannot be stored."""
        self._write_params("Args", values, descriptions)

    def connect(self, mutable: Any, name: str | None = None) -> Any:
        """Record a dict (section ``name``, default ``General``), an argparse Namespace (``Args``)
        or an object's public attributes as parameters.

        Under a worker the stored (possibly edited) values replace the given ones, in place.
        For a dict, returns a mapping that writes every later change through to the task.
        Raises ParameterError for a name or value that cannot be stored.
        """
        if getattr(mutable, "_localtask_model", False):  # an InputModel / OutputModel: models.py
            return mutable._connect_to(self, name)
        import argparse
        from .task_parameters import TaskParameters, public_attributes

        descriptions = None
        if isinstance(mutable, TaskParameters):
            section = name or "General"
            values, descriptions = mutable.to_dict(), mutable.descriptions()
        elif isinstance(mutable, argparse.Namespace):
            section = name or "Args"
            values = dict(vars(mutable))
        elif isinstance(mutable, dict):
            section = name or "General"
            values = dict(mutable)
        elif hasattr(mutable, "__dict__") and not isinstance(mutable, type):
            section = name or "General"
            values = public_attributes(mutable)
        else:
            raise ParameterError(f"Task.connect takes a dict, an argparse Namespace, a TaskParameters or an "
                                 f"object with attributes; got {type(mutable).__name__}.")
        if self._attached:
            stored = self._get_section(section)
            values.update({k: stored[k] for k in stored if k in values or isinstance(mutable, dict)})
        self._write_params(section, values, descriptions)
        if isinstance(mutable, dict):
            mutable.update(values)
            return ConnectedDict(self, section, values, mutable)
        for key, value in values.items():
            setattr(mutable, key, value)
        return mutable

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = True) -> dict[str, Any]:
        """Flat ``{'Section/name': value}`` with values of their recorded types."""
        return {f"{r['section']}/{r['name']}": P.decode(r["value"], r["type"])
                for r in self._store.get_parameters(self.id)}

    def get_parameters_as_dict(self, cast: bool = True) -> dict[str, dict[str, Any]]:
        """``{section: {name: value}}``."""
        out: dict[str, dict[str, Any]] = {}
        for r in self._store.get_parameters(self.id):
            out.setdefault(r["section"], {})[r["name"]] = P.decode(r["value"], r["type"])
        return out

    def get_parameter(self, name: str, default: Any = None, cast: bool = True) -> Any:
        return self.get_parameters().get(name if "/" in name else f"General/{name}", default)

    def _flat(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for arg in args:
            flat.update(dict(arg))
        flat.update(kwargs)
        return flat

    def _replace_params(self, flat: Mapping[str, Any], *, coerce: bool = True, force: bool = False,
                        update: bool = False) -> None:
        kinds = self._param_kinds()
        rows = []
        for full, value in flat.items():
            section, pname = P.split_name(full)
            if coerce:
                text, kind = P.coerce(value, kinds.get((section, pname)), f"{section}/{pname}")
            else:
                text, kind = P.encode(value, f"{section}/{pname}")
            rows.append((section, pname, text, kind, ""))
        self._store.set_parameters(self.id, rows, replace=not update,
                                   check_edit=not self._can_write_freely(), force=force)

    def set_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Replace all parameters with the flat ``{'Section/name': value}`` given (ClearML semantics;
        use :meth:`update_parameters` to change some). A value for an existing parameter must fit
        its type (a string is parsed as that type). Only a draft can be edited, unless this
        process runs the task. Raises ParameterError / IllegalTransitionError."""
        self._replace_params(self._flat(args, kwargs))

    def update_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Set the given flat ``{'Section/name': value}`` parameters, keeping the others."""
        self._replace_params(self._flat(args, kwargs), update=True)

    def edit_parameters(self, values: Mapping[str, Any], *, replace: bool = False,
                        force: bool = False) -> None:
        """Set the flat ``{'Section/name': value}`` parameters given (all of them with
        ``replace``); ``force`` edits a task that is not a draft (never a published one).
        Raises ParameterError / IllegalTransitionError."""
        self._replace_params(dict(values), force=force, update=not replace)

    def set_parameter(self, name: str, value: Any, description: str | None = None,
                      value_type: Any = None, force: bool = False) -> None:
        """Set one parameter ``'Section/name'`` (no section: ``General``)."""
        section, pname = P.split_name(name)
        kinds = self._param_kinds()
        text, kind = P.coerce(value, kinds.get((section, pname)), f"{section}/{pname}")
        self._store.set_parameters(self.id, [(section, pname, text, kind, description or "")],
                                   check_edit=not self._can_write_freely(), force=force)

    def set_resources(self, *, gpus: int | None = None, partition: str | None = None,
                      gres: str | None = None, cpus: int | None = None, mem: str | None = None,
                      time: str | None = None, sbatch_args: str | None = None) -> None:
        """Record what the task needs to run, as parameters a clone can edit: ``gpus``
        (``Resources/gpus``: the devices a worker started with ``--gpus`` gives it; it waits until
        that many are free) and a Slurm worker's job options for it (``Slurm/partition``, ``gres``,
        ``cpus``, ``mem``, ``time``, ``sbatch_args``; its own options fill the rest), e.g.
        ``set_resources(gres="gpu:2", time="4:00:00")``. Under a worker the call is checked and
        ignored: the stored request, which a clone may have edited, is the one the task got.
        Raises GpuError / SlurmError for a value that does not fit."""
        from .resources import GPUS, SECTION, check_gpus
        from .slurm import Resources

        values = {GPUS: check_gpus(gpus)} if gpus is not None else {}
        slurm = {"partition": partition, "gres": gres, "cpus": cpus, "mem": mem, "time": time,
                 "sbatch_args": sbatch_args}
        Resources.from_parameters(slurm)
        if self._attached:
            return
        if values:
            self._write_params(SECTION, values)
        if any(v is not None for v in slurm.values()):
            self.update_parameters({f"Slurm/{k}": v for k, v in slurm.items() if v is not None})

    def get_resources(self) -> dict[str, Any]:
        """The task's ``Resources/`` parameters, such as ``{'gpus': 2}``."""
        from .resources import SECTION

        return self._get_section(SECTION)

    def delete_parameter(self, name: str, force: bool = False) -> None:
        section, pname = P.split_name(name)
        self._store.delete_parameter(self.id, section, pname, check_edit=not self._can_write_freely(),
                                     force=force)

    # ------------------------------------------------------------------ configuration objects
    def connect_configuration(self, configuration: Any, name: str | None = None,
                              description: str | None = None) -> Any:
        """Record a configuration dict, or a configuration file's text (``str``/``Path``).

        Returns the dict (updated in place with the stored values under a worker), or a path to
        a file with the stored (possibly edited) text.
        """
        name = _check_text("configuration name", name or "General", 255)
        stored = {c["name"]: c for c in self._store.get_configurations(self.id)} if self._attached else {}
        if isinstance(configuration, dict):
            if name in stored and stored[name]["kind"] == "dict":
                configuration.clear()
                configuration.update(json.loads(stored[name]["value"]))
            text = P.encode(configuration, name)[0]
            self._store.set_configuration(self.id, name, "dict", text, description or "",
                                          check_edit=not self._can_write_freely())
            return configuration
        if isinstance(configuration, (str, os.PathLike)):
            path = Path(configuration)
            if name in stored:
                import tempfile

                text = stored[name]["value"]
                fd, tmp = tempfile.mkstemp(prefix="localtask-config-", suffix=path.suffix)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                return Path(tmp) if isinstance(configuration, Path) else tmp
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ParameterError(f"Cannot read configuration file {path}: {exc.strerror}.") from None
            self._store.set_configuration(self.id, name, "text", text, description or "",
                                          check_edit=not self._can_write_freely())
            return configuration
        raise ParameterError("connect_configuration takes a dict or the path of a configuration file; "
                             f"got {type(configuration).__name__}.")

    def get_configuration_object(self, name: str) -> str | None:
        for conf in self._store.get_configurations(self.id):
            if conf["name"] == name:
                return conf["value"]
        return None

    def get_configuration_object_as_dict(self, name: str) -> dict | None:
        for conf in self._store.get_configurations(self.id):
            if conf["name"] == name:
                return json.loads(conf["value"]) if conf["kind"] == "dict" else None
        return None

    def get_configuration_objects(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self._store.get_configurations(self.id)}

    def set_configuration_object(self, name: str, config_text: str | None = None,
                                 description: str | None = None, config_type: str | None = None,
                                 config_dict: dict | None = None) -> None:
        """Replace a configuration object (a draft only, unless this process runs the task); with
        no ``description`` it keeps the one it had."""
        if config_dict is not None:
            kind, text = "dict", P.encode(config_dict, name)[0]
        else:
            kind, text = "text", str(config_text or "")
        name = _check_text("configuration name", name, 255)
        if description is None:
            description = next((c["description"] for c in self._store.get_configurations(self.id)
                                if c["name"] == name), "")
        self._store.set_configuration(self.id, name, kind, text, description or "",
                                      check_edit=not self._can_write_freely())

    # ------------------------------------------------------------------ life cycle
    def _transition(self, operation: str, to: TaskStatus, force: bool = False, **fields: Any) -> None:
        self._store.transition(self.id, operation, to, force=force, **fields)

    def mark_started(self, force: bool = False) -> None:
        # the process that recorded the run still owns it; any other marker's pid says nothing
        # of the run (and is gone soon): no pid, so no sweep ever judges the run dead by it
        mine = self._owned and not self._attached
        self._transition("start", TaskStatus.in_progress, force, started=time.time(),
                         pid=os.getpid() if mine else None, pid_ns=pid_namespace() if mine else None)

    def mark_completed(self, ignore_errors: bool = True, status_message: str | None = None,
                       force: bool = False) -> None:
        self._transition("complete", TaskStatus.completed, force, completed=time.time(),
                         status_reason=status_message or "")

    def mark_failed(self, ignore_errors: bool = True, status_reason: str | None = None,
                    status_message: str | None = None, force: bool = False) -> None:
        self._transition("fail", TaskStatus.failed, force, completed=time.time(),
                         status_reason=status_reason or status_message or "")

    def mark_stopped(self, force: bool = False, status_message: str | None = None) -> None:
        self._store.stop_task(self.id, status_message or "stopped", force=force)

    def publish(self, force: bool = False) -> None:
        """Make the task read-only (from completed or stopped; with ``force`` also from created
        or failed). Raises IllegalTransitionError."""
        self._transition("publish", TaskStatus.published, force)

    def flush(self, wait_for_uploads: bool = False) -> bool:
        """Write buffered scalars to the store now (ClearML's ``Task.flush``; artifacts are
        always written synchronously; registered artifacts are stored again). Raises StoreFullError
        when the store cannot be written."""
        self._store_registered_artifacts()
        if self._logger is not None:
            self._logger.flush()
        return True

    def close(self) -> None:
        """Flush outputs and, for the task this process records, set its final status:
        completed, or failed with the traceback / exit code."""
        if self._closed:
            return
        self._closed = True
        first_error = None
        self._note_run_end("closing")
        if self._owned and self._attached:
            self._mark_console(CLOSE_MARK)
        try:
            self._store_registered_artifacts()  # their latest content, as ClearML at close
            if self._logger is not None:
                self._logger.close()
        except LocaltaskError as exc:
            first_error = exc
        try:
            if self._owned and not self._attached:
                self._finish()
            else:
                self._note_run_end("ended")
        finally:  # even when the end cannot be written (a full disk): stop the tee all the same
            if self._console is not None:
                self._console.stop()
                self._console = None
            current_run.clear(self)
        if first_error is not None:
            raise first_error

    def _finish(self) -> None:
        """End this process's own run in one transaction (a run aborted, reset or marked by
        someone else meanwhile is left as it is)."""
        from . import capture

        environment = None
        if capture.imported_top_levels() != self._modules_at_init:
            try:  # modules imported since Task.init may add packages in use
                environment = self._refreshed_environment()
            except Exception as exc:  # the run's result matters more than a package list
                log.warning("task %s: could not refresh the package list: %s", self.id, exc)
        status, reason = self._outcome()
        self._store.finish_task(self.id, None, status, reason, environment=environment)

    def _outcome(self) -> tuple[TaskStatus, str]:
        error, exit_code = current_run.outcome(self)
        if error:
            lines = error.strip().splitlines()
            return TaskStatus.failed, "\n".join(lines[-20:])
        if exit_code not in (None, 0):
            return TaskStatus.failed, f"exit code {exit_code}"
        return TaskStatus.completed, ""

    def _mark_console(self, mark: str) -> None:
        """Write ``mark`` into the worker's console, from the process the worker started only
        (a rank it launches that attaches too keeps its own output as it was)."""
        if not getattr(self, "_console_marks", False):
            return
        try:
            sys.stderr.flush()  # the worker's pipe carries both streams: keep the order
            sys.stdout.write(f"{mark} {self.id}\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # a closed or broken stdout: the run goes on
            pass

    def _note_run_end(self, stage: str) -> None:
        """Under a worker, tell the store that the script ended (``closing``, then ``ended`` with
        its outcome), so that a worker lost from here on never has it run again. The worker,
        when alive, still records the final status itself."""
        if not (self._owned and self._attached):
            return
        from .lifeline import worker_gone

        status, reason = self._outcome()
        # A script that died of its worker's death (its console pipe broke as the worker went,
        # before the kernel's kill reached it) did not end: it is lost, and may be run again.
        if worker_gone() or (reason.splitlines() or [""])[-1].startswith("BrokenPipeError"):
            return
        if stage != "ended":
            status, reason = None, ""
        try:
            self._store.note_run_end(self.id, os.environ.get("LOCALTASK_WORKER"), stage,
                                     status.value if status else None, reason)
        except LocaltaskError as exc:  # the worker still records the end
            log.warning("task %s: could not note the end of its script: %s", self.id, exc)

    def reset(self, set_started_on_success: bool = False, force: bool = False,
              delete_artifacts: bool = False) -> None:
        """Delete the outputs (console log, scalars, run times, status reason; artifacts only
        with ``delete_artifacts``) and make the task a draft again; configuration is kept.
        Refused on a published task, and on a queued or running one unless ``force``.
        Raises IllegalTransitionError."""
        files = self._store.reset_task(self.id, delete_artifacts=delete_artifacts, force=force)
        if self._console is not None:  # this process was recording it: stop writing its console
            self._console.stop()
            self._console = None
        try:
            self._store.console_path(self.id).unlink()
        except FileNotFoundError:
            pass
        from . import artifacts as artifacts_mod

        folder = artifacts_mod.artifacts_dir(self._store, self.id)
        for name in files:
            artifacts_mod.remove_file(folder, name)
        if delete_artifacts:  # "artifacts and debug samples"
            from .report_writer import samples_dir

            shutil.rmtree(samples_dir(self._store, self.id), ignore_errors=True)

    def delete(self, force: bool = False) -> None:
        """Delete the task, its outputs and its files. Refused on a running or published task."""
        self._store.delete_task(self.id, force=force)
        shutil.rmtree(self._store.task_dir(self.id), ignore_errors=True)

    @classmethod
    def clone(cls, source_task: "Task | str", name: str | None = None, comment: str | None = None,
              parent: "Task | str | None" = None, project: str | None = None,
              home: str | os.PathLike | None = None) -> "Task":
        """A new draft (status ``created``) with the source's configuration (script, environment,
        parameters, configuration objects, tags) and none of its outputs. Its parent is the
        source's parent, or the source itself when it has none; ``parent=`` forces one.
        Raises TaskNotFoundError."""
        source = cls._resolve(source_task, home)
        if source._logger is not None:
            source._logger.flush()
        store = source._store
        parent_id = None if parent is None else cls._resolve(parent, store.home).id
        if name is not None:
            _check_text("task name", name)
        if project is not None:
            _check_text("project name", project)
        clone_id = new_id()
        store.clone_task(source.id, clone_id, name=name, comment=comment, parent=parent_id, project=project)
        return cls(store, clone_id)

    @classmethod
    def enqueue(cls, task: "Task | str", queue_name: str | None = None, queue_id: str | None = None,
                force: bool = False, priority: int = 0, home: str | os.PathLike | None = None) -> "Task":
        """Put a task on a queue (default ``default``): a queue row and status ``queued`` in one
        transaction. Allowed from created, stopped and failed (ClearML's rule).
        Raises IllegalTransitionError / QueueError."""
        from . import queue as queue_mod

        task = cls._resolve(task, home)
        # only a missing name means the default queue: an empty one is refused as invalid
        name = queue_name if queue_name is not None else queue_id if queue_id is not None else "default"
        queue_mod.enqueue(task._store, task.id, name, priority=priority, force=force)
        return task

    @classmethod
    def dequeue(cls, task: "Task | str", home: str | os.PathLike | None = None) -> "Task":
        """Take a queued task off its queue; it returns to the status it had before."""
        task = cls._resolve(task, home)
        task._store.dequeue(task.id)
        return task

    def abort(self) -> str:
        """Stop the task: a queued one leaves its queue; a running one is killed by its worker
        (a run without a worker is marked stopped). Returns the resulting status."""
        from . import queue as queue_mod

        return queue_mod.abort(self._store, self.id)

    def execute_remotely(self, queue_name: str | None = None, clone: bool = False,
                         exit_process: bool = True) -> "Task | None":
        """Stop running here and let a worker run this task (or a clone of it) from queue
        ``queue_name``. A no-op under a worker. With ``exit_process`` the process exits (code 0)."""
        if self._attached:
            return None
        if self._logger is not None:
            self._logger.flush()
        self._store.update_task(self.id, environment=self._refreshed_environment())
        queue_name = queue_name or "default"
        if clone:
            target = Task.clone(self, name=self.name)
            Task.enqueue(target, queue_name)
        else:
            target = self
            self._closed = True
            if self._console is not None:
                self._console.stop()
                self._console = None
            self.reset(force=True)  # the local run's outputs go: the worker's run is the record
            Task.enqueue(self, queue_name)
        if exit_process:
            if clone:
                self.mark_stopped(force=True, status_message=f"execution moved to task {target.id}")
                self._closed = True
            current_run.clear(self)
            sys.stdout.flush()
            sys.exit(0)
        return target

    def reproduce(self, queue_name: str = "default", wait: bool = True, timeout: float | None = None,
                  rtol: float = 0.0, atol: float = 0.0) -> dict[str, Any]:
        """Clone this task as its reproduction, have a worker run it from ``queue_name``, and
        return the verdict (``localtask reproduce``; pending at once without ``wait``)."""
        from .reproduction import reproduce

        return reproduce(self.id, queue=queue_name, wait=wait, timeout=timeout, rtol=rtol, atol=atol,
                         home=self.store_home)

    def wait_for_status(self, status: Iterable[str] = ("completed", "stopped", "failed", "published"),
                        check_interval_sec: float = 0.2, timeout: float | None = None) -> str:
        """Block until the task reaches one of ``status``; returns it. Raises TimeoutError."""
        from .status import parse

        wanted = {parse(s) for s in ([status] if isinstance(status, str) else status)}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.status
            if current in wanted:
                return current
            if deadline is not None and time.monotonic() > deadline:
                error = TimeoutError(f"Task {self.id} is still {current} after {timeout} s.")
                error.task_id = self.id
                raise error
            time.sleep(check_interval_sec)


argparse_hook.install()
frameworks.install()
