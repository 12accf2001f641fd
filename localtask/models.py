"""A local model registry with ClearML's API: :class:`OutputModel`, :class:`InputModel`, :class:`Model`.

A model is a row in the store (name, project, framework, design, labels, tags, published) and,
once weights are given, a copy of the weights file under ``<store>/models/<id>/``. A weights URL
that is not local (``register_uri="https://..."``) is recorded as is, never downloaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .exceptions import LocaltaskError
from .model_reports import ModelReports
from .folders import make_dirs

if TYPE_CHECKING:
    from .store import Store
    from .task import Task


def _current_task() -> "Task | None":
    from . import current_run

    return current_run.get()


def _default_store() -> "Store":
    task = _current_task()
    if task is not None:
        return task._store
    from .store import Store

    return Store.open()


def _local_path(url: str | os.PathLike) -> Path | None:
    """The local path a path or ``file://`` URL names, or None for another scheme."""
    from urllib.parse import unquote, urlparse

    text = os.fspath(url)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path (or a Windows drive letter)
        return Path(text).expanduser()
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _labels(labels: Mapping[str, int] | None) -> dict[str, int]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise LocaltaskError(f"Model labels are a dict of label name -> integer; got {type(labels).__name__}.")
    try:
        return {str(k): int(v) for k, v in labels.items()}
    except (TypeError, ValueError):
        raise LocaltaskError("Model labels are a dict of label name -> integer.") from None


def _tags(tags: Iterable[str] | str | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    return [str(t) for t in tags]


class BaseModel(ModelReports):
    """What every model offers: its stored fields, its weights and its reports."""

    _localtask_model = True  # Task.connect hands such objects to _connect_to

    def __init__(self, store: "Store", model_id: str):
        self._store = store
        self._id = model_id

    # ------------------------------------------------------------------ fields
    @property
    def data(self) -> dict[str, Any]:
        row = self._store.get_model(self._id)
        if row is None:
            raise LocaltaskError(f"No model with id {self._id!r} in the store {self._store.home}.")
        return row

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self.data["name"]

    @name.setter
    def name(self, value: str) -> None:
        self._store.update_model(self._id, name=str(value))

    @property
    def project(self) -> str:
        return self.data["project"]

    @property
    def task(self) -> str | None:
        """The id of the task that created the model."""
        return self.data["task_id"]

    @property
    def url(self) -> str | None:
        return self.data["uri"]

    @property
    def framework(self) -> str:
        return self.data["framework"]

    @property
    def comment(self) -> str:
        return self.data["comment"]

    @comment.setter
    def comment(self, value: str) -> None:
        self._store.update_model(self._id, comment=str(value))

    @property
    def tags(self) -> list[str]:
        return self.data["tags"]

    @tags.setter
    def tags(self, value: Iterable[str]) -> None:
        self._store.update_model(self._id, tags=_tags(value))

    @property
    def labels(self) -> dict[str, int]:
        return self.data["labels"]

    @property
    def config_text(self) -> str | None:
        data = self.data
        if data["config_text"] is None and data["config_dict"] is not None:
            return json.dumps(data["config_dict"], indent=2, sort_keys=True)
        return data["config_text"]

    @property
    def config_dict(self) -> dict | None:
        data = self.data
        if data["config_dict"] is None and data["config_text"]:
            try:
                parsed = json.loads(data["config_text"])
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
        return data["config_dict"]

    @property
    def published(self) -> bool:
        return self.data["published"]

    @property
    def iteration(self) -> int | None:
        return self.data["iteration"]

    def publish(self) -> None:
        self._store.update_model(self._id, published=True)

    def get_labels(self) -> dict[str, int]:
        return self.labels

    # ------------------------------------------------------------------ weights
    def get_weights(self, raise_on_error: bool = False, force_download: bool = False) -> str | None:
        """The path of the weights file: the store's copy, or the local file the URL names.
        None (or LocaltaskError with ``raise_on_error``) when there is no local file."""
        data = self.data
        path = None
        if data["filename"]:
            path = self._store.models_dir / self._id / data["filename"]
        elif data["uri"]:
            path = _local_path(data["uri"])
        if path is not None and path.exists():
            return str(path)
        if raise_on_error:
            raise LocaltaskError(
                f"Model {self._id} ({data['name']!r}) has no local weights file"
                + (f": {data['uri']} is not on this machine (localtask is local-only; download it "
                   "yourself and pass the file to update_weights or InputModel.import_model)"
                   if data["uri"] else "") + ".")
        return None

    def get_local_copy(self, extract_archive: bool = True, raise_on_error: bool = False,
                       force_download: bool = False) -> str | None:
        """The stored weights path (a weights zip, ``is_package``, is extracted into the cache)."""
        path = self.get_weights(raise_on_error=raise_on_error)
        if path is None or not extract_archive:
            return path
        from .storage_manager import StorageManager

        return StorageManager.get_local_copy(path, extract_archive=True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseModel) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def _connect_to(self, task: "Task", name: str | None, role: str) -> "BaseModel":
        name = name or self.name
        if role == "input" and task.is_attached:
            # Under a worker the task's own input model wins (as ClearML's agent run): a clone
            # whose input model was changed runs with that one, the script unchanged.
            stored = {r["name"]: r["model_id"] for r in self._store.get_task_models(task.id) if r["role"] == "input"}
            if stored.get(name) and self._store.get_model(stored[name]) is not None:
                self._id = stored[name]
                return self
        self._store.set_task_model(task.id, role, name, self._id)
        return self


class Model(BaseModel):
    """A model of the store by id; :meth:`query_models` finds models."""

    def __init__(self, model_id: str):
        store = _default_store()
        super().__init__(store, str(model_id))
        _ = self.data  # raises for an unknown id

    @classmethod
    def _wrap(cls, store: "Store", model_id: str) -> "Model":
        model = cls.__new__(cls)
        BaseModel.__init__(model, store, model_id)
        return model

    @classmethod
    def query_models(cls, project_name: str | None = None, model_name: str | None = None,
                     tags: Iterable[str] | None = None, only_published: bool = False,
                     include_archived: bool = False, max_results: int | None = None,
                     metadata: Mapping | None = None) -> list["Model"]:
        """Models matching every given filter, newest first."""
        store = _default_store()
        rows = store.find_models(project=project_name, name=model_name, tags=_tags(tags),
                                 only_published=only_published, limit=max_results)
        return [cls._wrap(store, r["id"]) for r in rows]

    def _connect_to(self, task: "Task", name: str | None, role: str = "input") -> "BaseModel":
        return super()._connect_to(task, name, role)

    def connect(self, task: "Task", name: str | None = None) -> "Model":
        """Record the model as ``task``'s input model (as ``task.connect(model)``); under a worker
        the task's stored input model of that name replaces it."""
        return task.connect(self, name)


class InputModel(Model):
    """A model a task uses: found by id, or by name/project/tags (the newest match)."""

    def __init__(self, model_id: str | None = None, name: str | None = None, project: str | None = None,
                 tags: Iterable[str] | None = None, only_published: bool = False):
        store = _default_store()
        if model_id is None:
            if name is None and project is None and not tags:
                raise LocaltaskError("InputModel needs a model_id, or a name, project or tags to find one.")
            rows = store.find_models(project=project, name=name, tags=_tags(tags),
                                     only_published=only_published, limit=1)
            if not rows:
                raise LocaltaskError(
                    f"No model matches name={name!r} project={project!r} tags={_tags(tags)}"
                    f"{' (published only)' if only_published else ''} in the store {store.home}.")
            model_id = rows[0]["id"]
        BaseModel.__init__(self, store, str(model_id))
        _ = self.data  # raises for an unknown id

    @classmethod
    def import_model(cls, weights_url: str, config_text: str | None = None,
                     config_dict: dict | None = None, label_enumeration: Mapping[str, int] | None = None,
                     name: str | None = None, project: str | None = None, tags: Iterable[str] | None = None,
                     comment: str | None = None, is_package: bool = False,
                     create_as_published: bool = False, framework: str | None = None) -> "InputModel":
        """Register weights as a model. A local path or ``file://`` URL is copied into the
        store; another URL is recorded as is (localtask never downloads)."""
        store = _default_store()
        model_id = _new_model(store, None, name=name or Path(str(weights_url)).name or "imported model",
                              project=project or "", framework=framework, config_text=config_text,
                              config_dict=config_dict, labels=label_enumeration, tags=tags,
                              comment=comment)
        local = _local_path(weights_url)
        if local is not None:
            _store_weights(store, model_id, local, None, None)
        else:
            store.update_model(model_id, uri=str(weights_url))
        if create_as_published:
            store.update_model(model_id, published=True)
        return cls(model_id)


def _new_model(store: "Store", task: "Task | None", *, name: str, project: str, framework: str | None,
               config_text: str | None, config_dict: dict | None, labels: Mapping | None,
               tags: Iterable[str] | None, comment: str | None) -> str:
    model_id = uuid.uuid4().hex
    if config_dict is not None:
        json.dumps(config_dict)  # fails early on what JSON cannot hold
    store.add_model({
        "id": model_id, "task_id": task.id if task is not None else None, "name": str(name),
        "project": str(project), "framework": str(framework or ""),
        "config_text": None if config_text is None else str(config_text),
        "config_dict": config_dict, "labels": _labels(labels), "tags": _tags(tags),
        "comment": str(comment or ""),
    })
    return model_id


def _store_weights(store: "Store", model_id: str, source: Path, target_filename: str | None,
                   iteration: int | None) -> str:
    if not source.is_file():
        raise LocaltaskError(f"Cannot store the model weights: {source} is not a file.")
    folder = store.models_dir / model_id
    make_dirs(folder, exist_ok=True)
    filename = Path(target_filename or source.name).name
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, folder / filename)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LocaltaskError(f"Cannot copy the model weights {source} into {folder}: {exc.strerror}.") from None
    target = folder / filename
    store.update_model(model_id, filename=filename, uri=target.as_uri(), sha256=_sha256(target),
                       size=target.stat().st_size, iteration=iteration)
    return target.as_uri()


class OutputModel(BaseModel):
    """A model a task creates: its design, labels and weights (copied into the store)."""

    def __init__(self, task: "Task | None" = None, config_text: str | None = None,
                 config_dict: dict | None = None, label_enumeration: Mapping[str, int] | None = None,
                 name: str | None = None, tags: Iterable[str] | None = None, comment: str | None = None,
                 framework: str | None = None, base_model_id: str | None = None):
        task = task if task is not None else _current_task()
        if task is None:  # as ClearML: an output model belongs to a task
            raise LocaltaskError("OutputModel needs a task: give task=..., or call Task.init first "
                                 "(to register existing weights without a task: InputModel.import_model).")
        store = task._store
        if config_text is not None and config_dict is not None:
            raise LocaltaskError("OutputModel takes config_text or config_dict, not both.")
        base = store.get_model(base_model_id) if base_model_id else None
        if base_model_id and base is None:
            raise LocaltaskError(f"No model with id {base_model_id!r} in the store {store.home}.")
        name = name or (base["name"] if base else None) or (task.name if task is not None else "model")
        if not base:  # the task's design and labels (set_model_config, connect_label_enumeration)
            defaults = task._output_model_defaults()
            if config_text is None and config_dict is None:
                config_text, config_dict = defaults["config_text"], defaults["config_dict"]
            if label_enumeration is None:
                label_enumeration = defaults["labels"]
        model_id = _new_model(
            store, task, name=name, project=task.project if task is not None else "",
            framework=framework or (base["framework"] if base else None),
            config_text=config_text if config_text is not None or config_dict is not None or not base
            else base["config_text"],
            config_dict=config_dict if config_dict is not None or config_text is not None or not base
            else base["config_dict"],
            labels=label_enumeration if label_enumeration is not None else (base["labels"] if base else None),
            tags=tags, comment=comment)
        super().__init__(store, model_id)
        if base and base["filename"]:
            _store_weights(store, model_id, store.models_dir / base["id"] / base["filename"], None, None)
        self._task = task
        if task is not None:
            store.set_task_model(task.id, "output", name, model_id)

    def update_weights(self, weights_filename: str | os.PathLike | None = None, upload_uri: str | None = None,
                       target_filename: str | None = None, auto_delete_file: bool = True,
                       register_uri: str | None = None, iteration: int | None = None,
                       update_comment: bool = True, is_package: bool = False,
                       async_enable: bool = True) -> str:
        """Copy ``weights_filename`` into the store (the given file is left in place), or record
        ``register_uri`` as the weights' URL; returns the URL."""
        if (weights_filename is None) == (register_uri is None):
            raise LocaltaskError("update_weights takes weights_filename or register_uri (one of them).")
        if upload_uri is not None and _local_path(upload_uri) is None:
            _refuse_remote(upload_uri, "upload model weights to")
        if weights_filename is not None:
            return _store_weights(self._store, self._id, Path(weights_filename), target_filename, iteration)
        local = _local_path(register_uri)
        uri = local.absolute().as_uri() if local is not None else str(register_uri)
        self._store.update_model(self._id, uri=uri, filename=None, sha256=None, size=None,
                                 iteration=iteration)
        return uri

    def update_weights_package(self, weights_filenames: list | None = None, weights_path: str | None = None,
                               upload_uri: str | None = None, target_filename: str | None = None,
                               auto_delete_file: bool = True, iteration: int | None = None,
                               async_enable: bool = True) -> str:
        """Zip a folder (or a list of files) and store the zip as the weights."""
        import tempfile
        import zipfile

        files = [Path(f) for f in weights_filenames or []]
        root = Path(weights_path) if weights_path else None
        if root is not None:
            files = [p for p in root.rglob("*") if p.is_file()]
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / (target_filename or "model_package.zip")
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in files:
                    zf.write(f, f.relative_to(root) if root is not None else f.name)
            return self.update_weights(archive, iteration=iteration)

    def update_design(self, config_text: str | None = None, config_dict: dict | None = None) -> None:
        if config_text is not None and config_dict is not None:
            raise LocaltaskError("update_design takes config_text or config_dict, not both.")
        if config_dict is not None:
            json.dumps(config_dict)
        self._store.update_model(self._id, config_text=None if config_text is None else str(config_text),
                                 config_dict=config_dict)

    def update_labels(self, labels: Mapping[str, int]) -> None:
        self._store.update_model(self._id, labels=_labels(labels))

    def set_upload_destination(self, uri: str) -> None:
        """Accepted for ClearML compatibility: weights always go into the store."""
        if _local_path(uri) is None:
            _refuse_remote(uri, "upload model weights to")

    def connect(self, task: "Task", name: str | None = None) -> None:
        self._task = task
        self._store.set_task_model(task.id, "output", name or self.name, self._id)

    def _connect_to(self, task: "Task", name: str | None, role: str = "output") -> "BaseModel":
        return super()._connect_to(task, name, role)


def _refuse_remote(url: str, what: str) -> None:
    from .storage_manager import refuse_remote

    refuse_remote(url, what)


def task_models(task: "Task") -> dict[str, list[Model]]:
    """``{"input": [...], "output": [...]}``: the models a task used and made."""
    result: dict[str, list[Model]] = {"input": [], "output": []}
    for row in task._store.get_task_models(task.id):
        result[row["role"]].append(Model._wrap(task._store, row["model_id"]))
    return result
