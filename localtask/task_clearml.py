"""The parts of ClearML's Task API that are about reading a task or its side records rather than
its life: user properties, registered artifacts, last metrics, requirements, queries, its page.

:class:`ClearMLExtras` is a mixin of :class:`localtask.task.Task`; it only calls the store's and
the task's public methods.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from . import params as P
from . import status as status_rules
from .exceptions import ParameterError
from .task_design import TaskDesign
from .task_identity import TaskIdentity
from .task_run_controls import RunControls

#: the parameter section of user properties (ClearML keeps them as the "properties" section)
PROPERTIES = "properties"


class ClearMLExtras(TaskIdentity, TaskDesign, RunControls):
    """ClearML Task calls beyond the life cycle (a mixin of Task; more in its three bases)."""

    # ------------------------------------------------------------------ drafts from code
    @classmethod
    def create(cls, project_name: str | None = None, task_name: str | None = None,
               task_type: str | None = None, repo: str | None = None, branch: str | None = None,
               commit: str | None = None, script: str | None = None, working_directory: str | None = None,
               packages: bool | Sequence[str] | None = None, requirements_file: str | os.PathLike | None = None,
               docker: str | None = None, docker_args: str | None = None,
               docker_bash_setup_script: str | None = None, argparse_args: Sequence[Any] | None = None,
               base_task_id: str | None = None, add_task_init_call: bool = True,
               force_single_script_file: bool = False, home: str | os.PathLike | None = None) -> Any:
        """A new draft (status ``created``, never run here) from a repository and a script, as
        ClearML's ``Task.create``; enqueue it and a worker runs it.

        ``repo``: a local clone or a URL (without it: the script's own repository, or the script
        alone outside git); ``commit``, else the tip of ``branch``, else the clone's HEAD with its
        uncommitted changes. ``script`` is relative to the repository root (or to
        ``working_directory``), or a path on this machine inside the clone; ``-m module`` runs a
        module. Packages: ``packages`` (requirement lines, or True for the installed
        distributions the script imports), else ``requirements_file``, else the repository's
        ``requirements.txt``. ``argparse_args`` ``[(name, value)]`` become ``Args/`` parameters,
        read through the script's parser on the run. ``docker`` is recorded as the image.
        Raises CreateError."""
        from .exceptions import CreateError
        from .store import Store
        from .task_create import create_draft

        if base_task_id:
            raise CreateError("Task.create(base_task_id=...) is not supported: use Task.clone(base_task_id) "
                              "and set_parameters() on the clone.")
        if not project_name:
            current = cls.current_task()  # type: ignore[attr-defined]
            project_name = current.project if current is not None else None
        store = Store.open(home)
        task_id = create_draft(store, project_name=project_name or "default", task_name=task_name,
                               task_type=task_type or "training", repo=repo, branch=branch, commit=commit,
                               script=script, working_directory=working_directory, packages=packages,
                               requirements_file=requirements_file, argparse_args=argparse_args,
                               docker=docker, docker_args=docker_args,
                               docker_setup=docker_bash_setup_script)
        return cls(store, task_id)  # type: ignore[call-arg]

    # ------------------------------------------------------------------ input models
    def set_input_model(self, model_id: str | None = None, model_name: str | None = None,
                        update_task_design: bool = True, update_task_labels: bool = True,
                        name: str | None = None) -> None:
        """Make a model of the store this draft's input model (by id, or the newest with
        ``model_name``): the run's ``task.connect(InputModel(...))`` of that name gets it. ``name``:
        the link's name (default: the draft's only input link, else the model's name). Drafts
        only. Raises LocaltaskError for an unknown model, IllegalTransitionError."""
        from .exceptions import LocaltaskError

        store = self._store
        if model_id:
            model = store.get_model(str(model_id))
        else:
            found = store.find_models(name=model_name, limit=1) if model_name else []
            model = found[0] if found else None
        if model is None:
            raise LocaltaskError(f"No model {model_id or model_name!r} in the store {store.home}: see "
                                 "Model.query_models() for the models there.")
        status_rules.check(self.id, store.get_task(self.id)["status"], "edit")
        links = [r["name"] for r in store.get_task_models(self.id) if r["role"] == "input"]
        store.set_task_model(self.id, "input", name or (links[0] if len(links) == 1 else model["name"]), model["id"])

    # ------------------------------------------------------------------ export / import
    def export_task(self) -> dict[str, Any]:
        """The task's configuration as ClearML's task dictionary (``script.repository``,
        ``branch``, ``version_num``, ``entry_point``, ``working_dir``, ``diff``,
        ``requirements.pip``, ``hyperparams``, ``configuration``, ``container``, ``models``);
        no outputs. :meth:`import_task` makes a task from it again."""
        from .task_export import export_task

        return export_task(self)

    def update_task(self, task_data: dict[str, Any]) -> bool:
        """Merge ``task_data`` (the :meth:`export_task` shape, or a part of it) into this draft's
        configuration. Raises TaskDataError, IllegalTransitionError (not a draft)."""
        return bool(type(self).import_task(task_data, target_task=self, update=True))

    @classmethod
    def import_task(cls, task_data: dict[str, Any], target_task: Any = None, update: bool = False,
                    home: str | os.PathLike | None = None) -> Any:
        """A new draft from ``task_data`` (the :meth:`export_task` shape, ClearML's or ours), or
        ``target_task`` (a draft, by id or Task) overwritten with it (``update``: merged into its
        current configuration). Input models and a parent missing from this store are left out
        with a warning. Raises TaskDataError; nothing is written when the data is refused."""
        from .exceptions import TaskDataError
        from .status import TaskStatus
        from .store import Store
        from .task_export import apply, export_task, merge

        if not isinstance(task_data, dict):
            raise TaskDataError(f"Task data must be a dict (as export_task gives), not {type(task_data).__name__}.")
        if target_task is not None:
            target = cls._resolve(target_task, home)  # type: ignore[attr-defined]
            data = merge(export_task(target), task_data) if update else task_data
            apply(target, data)
            return target
        import time

        from .task import new_id

        store = Store.open(home)
        task_id = new_id()
        store.insert_task({"id": task_id, "project": "default", "name": "imported",
                           "status": TaskStatus.created.value, "created": time.time()})
        target = cls(store, task_id)  # type: ignore[call-arg]
        try:
            apply(target, task_data)
        except BaseException:
            store.delete_task(task_id, force=True)  # a refused dict leaves no task behind
            raise
        return target

    # ------------------------------------------------------------------ where it runs
    @staticmethod
    def running_locally() -> bool:
        """True unless this process runs under a localtask worker."""
        return not os.environ.get("LOCALTASK_TASK_ID")

    def get_output_log_web_page(self) -> str:
        """The address of this task in the local web page (``localtask ui``, default port)."""
        return f"http://127.0.0.1:8080/#/task/{self.id}/console"

    # ------------------------------------------------------------------ user properties
    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        """Set user properties: ``name=value`` keywords, dicts ``{name: value}`` or
        ``{"name": n, "value": v, "description": d}``, or lists of those; a keyword's value may be
        ``{"value": v, "description": d}``. Values are kept as text, as ClearML does. Allowed in any status
        but published (they describe the task, they do not configure its run)."""
        self._check_properties_editable()
        rows = []
        items: list[tuple[str, Any, str]] = [
            (k, v.get("value"), v.get("description") or "") if isinstance(v, dict) and "value" in v else (k, v, "")
            for k, v in properties.items()]
        for item in iterables:
            for entry in (item if isinstance(item, (list, tuple)) else [item]):
                if isinstance(entry, dict) and "name" in entry:
                    items.append((entry["name"], entry.get("value"), entry.get("description") or ""))
                elif isinstance(entry, dict):
                    items.extend((k, v, "") for k, v in entry.items())
                else:
                    raise ParameterError(f"set_user_properties: {entry!r} is not a dict or a name=value "
                                         "keyword.")
        for name, value, description in items:
            text, kind = P.encode("" if value is None else str(value), f"{PROPERTIES}/{name}")
            rows.append((PROPERTIES, str(name), text, kind, str(description)))
        self._store.set_parameters(self.id, rows, check_edit=False)
        return True

    def _check_properties_editable(self) -> None:
        # any status but published, as an edit with force (the status table's one rule)
        status_rules.check(self.id, self._store.get_task(self.id)["status"], "edit", force=True)

    def get_user_properties(self, value_only: bool = False) -> dict[str, Any]:
        """``{name: {"name", "value", "description", "type"}}`` (``value_only``: ``{name: value}``)."""
        out = {}
        for r in self._store.get_parameters(self.id):
            if r["section"] != PROPERTIES:
                continue
            value = P.decode(r["value"], r["type"])
            out[r["name"]] = value if value_only else {"name": r["name"], "value": value,
                                                       "description": r["description"], "type": r["type"]}
        return out

    def delete_user_properties(self, *iterables: Iterable[str]) -> bool:
        """Delete the user properties named (names, or iterables of names)."""
        self._check_properties_editable()
        for item in iterables:
            for name in ([item] if isinstance(item, str) else item):
                self._store.delete_parameter(self.id, PROPERTIES, str(name), check_edit=False)
        return True

    # ------------------------------------------------------------------ metrics and requirements
    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{title: {series: {"last", "min", "max"}}}`` of the reported scalars (ClearML's shape)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for title, lines in self.get_reported_scalars().items():
            for series, line in lines.items():
                ys = [y for y in line["y"] if y == y]  # NaN is no value
                if ys:
                    out.setdefault(title, {})[series] = {"last": line["y"][-1], "min": min(ys), "max": max(ys)}
        return out

    def get_last_iteration(self) -> int:
        """The largest iteration reported with a scalar (0 before any)."""
        return max((max(line["x"]) for lines in self.get_reported_scalars().values()
                    for line in lines.values() if line["x"]), default=0)

    def get_requirements(self) -> list[str]:
        """The recorded packages as requirement lines (``name==version``; editable ones as
        ``-e path``; a draft made by :meth:`create` gives its lines as written)."""
        from .task_export import pip_line

        return [pip_line(pkg) for pkg in (self.get_environment() or {}).get("packages") or []]

    # ------------------------------------------------------------------ registered artifacts
    def register_artifact(self, name: str, artifact: Any, metadata: dict | None = None,
                          uniqueness_columns: Any = True) -> None:
        """Keep a DataFrame (or any artifact object) whose latest content is stored when the
        task closes (and at each ``flush``), as ClearML's registered artifacts."""
        self._registered_artifacts()[str(name)] = (artifact, metadata)

    def unregister_artifact(self, name: str) -> None:
        """Stop storing the registered artifact ``name`` (what was stored stays)."""
        self._registered_artifacts().pop(str(name), None)

    def get_registered_artifacts(self) -> dict[str, Any]:
        """``{name: object}`` of the registered artifacts."""
        return {name: obj for name, (obj, _) in self._registered_artifacts().items()}

    def _registered_artifacts(self) -> dict[str, tuple[Any, dict | None]]:
        if not hasattr(self, "_registered"):
            self._registered: dict[str, tuple[Any, dict | None]] = {}
        return self._registered

    def _store_registered_artifacts(self) -> None:
        for name, (obj, metadata) in list(self._registered_artifacts().items()):
            self.upload_artifact(name, obj, metadata=metadata)

    # ------------------------------------------------------------------ archive
    def set_archived(self, archive: bool) -> None:
        """Archive the task (hidden from ``localtask list``, the page's table and ``query_tasks``
        unless asked for) or bring it back. Any status; nothing else changes."""
        self._store.update_task(self.id, archived=int(bool(archive)))

    def get_archived(self) -> bool:
        """Whether the task is archived."""
        return bool(self._store.get_task(self.id)["archived"])

    # ------------------------------------------------------------------ queries
    @classmethod
    def query_tasks(cls, project_name: str | None = None, task_name: str | None = None,
                    tags: Iterable[str] | None = None, additional_return_fields: Iterable[str] | None = None,
                    task_filter: dict | None = None, home: str | os.PathLike | None = None) -> list:
        """Task ids matching the filters (``task_name`` is a part of the name, as ClearML's
        pattern); with ``additional_return_fields``, dicts with ``id`` and those fields.
        ``task_filter`` understands ``status`` (a list), ``parent`` and ``archived`` (True:
        archived ones too; by default they are left out)."""
        from .store import Store

        task_filter = dict(task_filter or {})
        rows = Store.open(home).find_tasks(project=project_name, name_contains=task_name, tags=tags,
                                           status=task_filter.get("status"), parent=task_filter.get("parent"),
                                           archived=None if task_filter.get("archived") else False)
        if not additional_return_fields:
            return [r["id"] for r in rows]
        return [{"id": r["id"], **{f: r.get(f) for f in additional_return_fields}} for r in rows]
