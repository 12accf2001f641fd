"""Auto-capture of argparse arguments into the ``Args`` parameter section.

Patched once at import of localtask. When the script runs under a worker, the stored
(possibly edited) values replace the parsed ones, so the unchanged script uses them.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Callable

from . import current_run

_original = None
_state = threading.local()
#: arguments parsed before Task.init: recorded when the task exists.
pending: tuple[dict[str, Any], dict[str, str]] | None = None
enabled = True
#: parsers of a framework (Hydra's, fire's flags) are its module's business: a handler
#: ``(parser, namespace) -> bool`` that returns True has dealt with the parse.
handlers: list[Callable[[argparse.ArgumentParser, argparse.Namespace], bool]] = []


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
    if depth == 0:  # subparsers call parse_known_args again: only the outer call counts
        try:
            if not any(handler(self, ns) for handler in handlers) and enabled:
                _on_parsed(self, ns)
        except Exception as exc:  # whatever a parser holds, the run goes on
            warn(exc)
    return ns, extra


def warn(exc: BaseException) -> None:
    try:
        sys.stderr.write(f"localtask: could not record the command-line arguments "
                         f"({type(exc).__name__}: {exc}); the run goes on without them\n")
    except (OSError, ValueError):
        pass


def as_text(value: Any) -> str:
    """A help text (or any label) as a str: frameworks give lazy objects (Hydra's
    ``LazyCompletionHelp``); one whose ``str()`` fails is its type's name."""
    if value is None or value is argparse.SUPPRESS:
        return ""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates: not storable


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


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    import copy

    try:
        return copy.deepcopy(values)
    except Exception:
        return dict(values)


def _storable_name(name: Any) -> bool:
    from .exceptions import ParameterError
    from .params import check_name

    try:
        check_name("Args", name)
    except (ParameterError, TypeError):
        return False
    return True


def _on_parsed(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    global pending
    helps = {a.dest: as_text(a.help) for a in parser._actions
             if isinstance(a.dest, str) and a.dest not in (argparse.SUPPRESS, "help")
             and not (isinstance(a.help, str) and a.help == argparse.SUPPRESS)}
    from .exceptions import ParameterError
    from .params import encode, normalize

    values = {k: v for k, v in vars(ns).items() if _storable_name(k)}
    for name, value in values.items():  # argparse may give any object (type=open, FileType):
        try:                            # stored as its text, as ClearML does, never refused
            encode(value, name)
        except ParameterError:
            try:
                values[name] = normalize(value)
                encode(values[name], name)
            except Exception:  # a str() that fails, text that is not Unicode, too deep
                values[name] = as_text(value)
    for name, value in _stored_args().items():
        if name in values:
            value = _from_text(parser, name, value, values[name])
            setattr(ns, name, value)
            values[name] = value
    task = current_run.get()
    if task is not None:
        task.record_arguments(values, helps)
    else:
        pending = (_snapshot(values), helps)  # as parsed: a framework may change them before Task.init
