"""joblib, scikit-learn's model files, as ClearML logs them: ``joblib.dump(model, path)`` in a
run records the file as an output model of its task (weights copied into the store), and
``joblib.load(path)`` records it as an input model. Under a worker, ``joblib.load`` of a file
whose name is one of the task's input models loads that stored model instead, so a draft given
another model (``set_input_model``) runs with it, the script unchanged.

Off with ``Task.init(auto_connect_frameworks={"joblib": False})`` (or ``"scikit": False``).
A recording failure is a warning; the dump or load itself is never changed.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import current_run
from . import warn

if TYPE_CHECKING:
    from ..task import Task


def patch() -> None:
    import joblib

    if getattr(joblib.dump, "_localtask", False):
        return
    original_dump, original_load = joblib.dump, joblib.load

    @functools.wraps(original_dump)
    def dump(value, filename, *args, **kwargs):
        written = original_dump(value, filename, *args, **kwargs)
        task = _recording_task()
        if task is not None and isinstance(filename, (str, os.PathLike)):
            _guarded(_record_output, task, value, Path(filename))
        return written

    @functools.wraps(original_load)
    def load(filename, *args, **kwargs):
        task = _recording_task()
        path = Path(filename) if isinstance(filename, (str, os.PathLike)) else None
        if task is not None and path is not None:
            path = _guarded(_stored_input, task, path) or path
        value = original_load(path if path is not None else filename, *args, **kwargs)
        if task is not None and path is not None:
            _guarded(_record_input, task, value, path)
        return value

    dump._localtask = load._localtask = True
    joblib.dump, joblib.load = dump, load


def _recording_task() -> "Task | None":
    task = current_run.get()
    if task is None or task._closed:
        return None
    switches = getattr(task, "_auto_connect_frameworks", True)
    if isinstance(switches, dict):
        return task if switches.get("joblib", True) and switches.get("scikit", True) else None
    return task if switches else None


def _guarded(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        warn("joblib model", exc)
        return None


def _framework(value: Any) -> str:
    return "ScikitLearn" if type(value).__module__.split(".")[0] == "sklearn" else "Joblib"


def _record_output(task: "Task", value: Any, path: Path) -> None:
    from ..models import OutputModel

    kept = task.__dict__.setdefault("_joblib_outputs", {})
    key = str(path.resolve())
    model = kept.get(key)
    if model is None:
        # the first file takes the task's name, as ClearML names it; others add their file name
        name = task.name if not kept else f"{task.name} ({path.name})"
        model = kept[key] = OutputModel(task=task, name=name, framework=_framework(value))
    model.update_weights(weights_filename=str(path))


def _own_output(task: "Task", path: Path) -> bool:
    return str(path.resolve()) in task.__dict__.get("_joblib_outputs", {})


def _stored_input(task: "Task", path: Path) -> Path | None:
    """Under a worker: the stored weights of the task's input model named as ``path``."""
    if not task.is_attached or _own_output(task, path):
        return None
    store = task.store
    for link in store.get_task_models(task.id):
        if link["role"] == "input" and link["name"] == path.name:
            row = store.get_model(link["model_id"])
            if row and row["filename"]:
                stored = store.models_dir / row["id"] / row["filename"]
                return stored if stored.is_file() else None
    return None


def _record_input(task: "Task", value: Any, path: Path) -> None:
    """Link the loaded file as the task's input model named after the file (a file this run
    dumped itself is its output, not its input)."""
    from ..models import InputModel

    if _own_output(task, path):
        return
    store = task.store
    if path.is_relative_to(store.models_dir):  # a stored model: link it as it is
        store.set_task_model(task.id, "input", path.name, path.parent.name)
        return
    model = InputModel.import_model(weights_url=str(path.absolute()), name=path.name, project=task.project,
                                    framework=_framework(value))
    store.set_task_model(task.id, "input", path.name, model.id)
