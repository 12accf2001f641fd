"""Auto-capture of argparse arguments into the ``Args`` parameter section.

Patched once at import of localtask. When the script runs under a worker, the stored
(possibly edited) values replace the parsed ones, so the unchanged script uses them.
"""
from __future__ import annotations

import argparse
import os
import threading
from typing import Any

from . import current_run

_original = None
_state = threading.local()
#: arguments parsed before Task.init: recorded when the task exists.
pending: tuple[dict[str, Any], dict[str, str]] | None = None
enabled = True


def install() -> None:
    global _original
    if _original is not None:
        return
    _original = argparse.ArgumentParser.parse_known_args
    argparse.ArgumentParser.parse_known_args = _parse_known_args


def _parse_known_args(self, args=None, namespace=None):
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        ns, extra = _original(self, args, namespace)
    finally:
        _state.depth = depth
    if depth == 0 and enabled:  # subparsers call parse_known_args again: only the outer call counts
        _on_parsed(self, ns)
    return ns, extra


def _stored_args() -> dict[str, Any]:
    task = current_run.get()
    if task is not None:
        return task.get_parameters_as_dict().get("Args", {}) if task.is_attached else {}
    task_id = os.environ.get("LOCALTASK_TASK_ID")
    if not task_id:
        return {}
    from .store import Store
    from .params import decode

    store = Store.open(os.environ.get("LOCALTASK_HOME"))
    return {r["name"]: decode(r["value"], r["type"]) for r in store.get_parameters(task_id)
            if r["section"] == "Args"}


def _from_text(parser: argparse.ArgumentParser, name: str, stored: Any, parsed: Any) -> Any:
    """A stored value that is text where the parser gave another type (a draft made by
    Task.create, ``--new`` on the command line) read as the command line would be: through the
    argument's ``type``, else as the parsed value's type. Left as text when it does not parse."""
    if not isinstance(stored, str) or isinstance(parsed, str):
        return stored
    from .params import parse_text, type_name

    action = next((a for a in parser._actions if a.dest == name), None)
    try:
        if action is not None and callable(action.type) and action.nargs in (None, "?"):
            return parser._get_value(action, stored)
        return parse_text(stored, type_name(parsed), name)
    except (argparse.ArgumentError, TypeError, ValueError):
        return stored


def _on_parsed(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    global pending
    helps = {a.dest: (a.help or "") for a in parser._actions
             if a.dest not in (argparse.SUPPRESS, "help") and a.help != argparse.SUPPRESS}
    from .exceptions import ParameterError
    from .params import encode, normalize

    values = dict(vars(ns))
    for name, value in values.items():  # argparse may give any object (type=open, FileType):
        try:                            # stored as its text, as ClearML does, never refused
            encode(value, name)
        except ParameterError:
            values[name] = normalize(value)
    for name, value in _stored_args().items():
        if name in values:
            value = _from_text(parser, name, value, values[name])
            setattr(ns, name, value)
            values[name] = value
    task = current_run.get()
    if task is not None:
        task.record_arguments(values, helps)
    else:
        pending = (values, helps)
