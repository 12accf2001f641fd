"""Recording and replay for configuration frameworks: Hydra/OmegaConf, click, typer, fire and
jsonargparse, one module each; and joblib's model files (scikit-learn's), which the same
import hook patches.

Nothing here imports a framework: :func:`install` (at the import of localtask) patches the
frameworks the script already imported and patches each of the others right after its own
import (:mod:`localtask.import_hooks`). A framework parses the command
line before the script's ``Task.init`` (which usually runs inside the decorated function), so
what it parsed is kept in :data:`pending` and recorded by ``Task.init``; under a worker the
stored (possibly edited) values replace the parsed ones before the script sees them.

A recording failure of any kind is a warning on stderr, never a failed or lost run.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from .. import current_run, import_hooks

if TYPE_CHECKING:
    from ..task import Task

#: the frameworks' top-level modules, each patched by the module of that name here.
FRAMEWORKS = frozenset(("hydra", "click", "typer", "fire", "jsonargparse", "joblib"))
#: (framework, record(task)) waiting for Task.init.
pending: list[tuple[str, Callable[["Task"], None]]] = []
_patched: set[str] = set()
_waiting: set[str] = set()  # the frameworks whose import is awaited
_stored_cache: dict[str, Any] = {}


def warn(framework: str, exc: BaseException) -> None:
    """The one console line for a capture that failed: the run goes on without it."""
    try:
        sys.stderr.write(f"localtask: could not record the {framework} configuration "
                         f"({type(exc).__name__}: {exc}); the run goes on without it\n")
    except (OSError, ValueError):
        pass


def storable(value: Any, name: str = "") -> Any:
    """``value`` where it has a stored form, else its JSON-able equivalent (a file object, a
    custom type: its text), else its text (or its type's name when even ``str()`` fails)."""
    from ..argparse_hook import as_text
    from ..params import encode, normalize

    try:
        encode(value, name)
        return value
    except Exception:
        pass
    try:
        value = normalize(value)
        encode(value, name)
        return value
    except Exception:
        return as_text(value)


def digest(text: str) -> str:
    """A short digest of a recorded text, kept in its description: a draft whose text no longer
    matches it was edited."""
    import hashlib

    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record(framework: str, fn: Callable[["Task"], None]) -> None:
    """Record with ``fn(task)`` now if this process has an open task, else at its Task.init."""
    task = current_run.get()
    if task is not None and not task._closed:
        _call(framework, fn, task)
    else:
        pending.append((framework, fn))


def forget(framework: str) -> None:
    """Drop what ``framework`` left for Task.init: a new run of the app (a second ``main()`` in
    one process, as in a test) replaces what an earlier one parsed."""
    pending[:] = [entry for entry in pending if entry[0] != framework]


def flush(task: "Task", enabled: Callable[[str], bool]) -> None:
    """Record what the frameworks parsed before Task.init (each switched on in ``enabled``)."""
    waiting = list(pending)
    pending.clear()
    for framework, fn in waiting:
        if enabled(framework):
            _call(framework, fn, task)


def _call(framework: str, fn: Callable[["Task"], None], task: "Task") -> None:
    try:
        fn(task)
    except Exception as exc:
        warn(framework, exc)


def replaying() -> str | None:
    """The id of the task a worker runs in this process (its stored values are replayed), or None."""
    return os.environ.get("LOCALTASK_TASK_ID") or None


def stored() -> dict[str, Any]:
    """The worker's task as stored before this run changed it: ``{"params": {section: {name:
    value}}, "configs": {name: row}}`` ({} when no worker runs this process). Read once: the run
    re-records what it uses, and a replay must see the edited values, not its own."""
    task_id = replaying()
    if not task_id:
        return {}
    if _stored_cache.get("id") != task_id:
        from ..params import decode
        from ..store import Store

        store = Store.open(os.environ.get("LOCALTASK_HOME"))
        params: dict[str, dict[str, Any]] = {}
        for r in store.get_parameters(task_id):
            params.setdefault(r["section"], {})[r["name"]] = decode(r["value"], r["type"], r["name"])
        configs = {c["name"]: c for c in store.get_configurations(task_id)}
        _stored_cache.clear()
        _stored_cache.update(id=task_id, params=params, configs=configs)
    return {"params": _stored_cache["params"], "configs": _stored_cache["configs"]}


def stored_section(section: str) -> dict[str, Any]:
    return stored().get("params", {}).get(section, {})


def _patch_at_import(module) -> None:
    _waiting.discard(module.__name__)
    _patch(module.__name__)


def _patch(top: str) -> None:
    if top in _patched:
        return
    _patched.add(top)
    import importlib

    try:
        importlib.import_module(f"{__name__}.{top}").patch()
    except Exception as exc:  # an unknown version of the framework: run it unpatched
        warn(top, exc)


def install() -> None:
    """Patch the frameworks already imported; patch the others at their import.
    ``LOCALTASK_NO_FRAMEWORKS=1`` leaves them all alone."""
    if os.environ.get("LOCALTASK_NO_FRAMEWORKS", "").strip() not in ("", "0"):
        return
    for top in FRAMEWORKS:
        if top in sys.modules:
            _patch(top)
        elif top not in _waiting:
            _waiting.add(top)
            import_hooks.after_import(top, _patch_at_import)
