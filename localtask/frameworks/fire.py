"""fire: the resolved call, each function or class fire called with the arguments it got.

The first call's arguments (defaults included) are ``Args/<name>``; a later call in the chain
(a method of the class fire instantiated, a command of a group) has ``Args/<function>.<name>``,
and each description names the function. Under a worker the stored (possibly edited) values
are the arguments of those calls. fire's own flags (``-- --verbose``) are not recorded.
"""
from __future__ import annotations

import argparse
import inspect
import threading
from typing import Any

from .. import argparse_hook
from . import forget, record, replaying, storable, stored_section, warn

SECTION = "Args"
_calls = threading.local()


def patch() -> None:
    import fire.core
    import fire.parser

    make_parse_fn, create_parser, run = fire.core._MakeParseFn, fire.parser.CreateParser, fire.core._Fire

    def _fire(*args, **kwargs):  # not fire.Fire, which reads its caller's frame
        _calls.count = 0  # a new call chain: its first call's arguments are unprefixed again
        forget("fire")
        return run(*args, **kwargs)

    def _make_parse_fn(fn, metadata):
        parse = make_parse_fn(fn, metadata)

        def parse_and_replay(args):
            (varargs, kwargs), consumed, remaining, capacity = parse(args)
            try:
                varargs, kwargs = _replay_and_record(fn, varargs, kwargs)
            except Exception as exc:
                warn("fire", exc)
            return (varargs, kwargs), consumed, remaining, capacity

        return parse_and_replay

    def _create_parser():
        parser = create_parser()
        parser._localtask_skip = True
        return parser

    fire.core._MakeParseFn = _make_parse_fn
    fire.core._Fire = _fire
    fire.parser.CreateParser = _create_parser
    argparse_hook.handlers.append(_fires_own)


def _fires_own(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> bool:
    return bool(getattr(parser, "_localtask_skip", False))


def _replay_and_record(fn: Any, varargs: list, kwargs: dict) -> tuple[list, dict]:
    from ..argparse_hook import as_text

    bound = inspect.signature(fn).bind_partial(*varargs, **kwargs)
    bound.apply_defaults()
    count = getattr(_calls, "count", 0)
    _calls.count = count + 1
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    prefix = "" if count == 0 else f"{getattr(fn, '__name__', name)}."
    if replaying():
        values = stored_section(SECTION)
        for param in bound.signature.parameters:
            if prefix + param in values:
                bound.arguments[param] = values[prefix + param]
    recorded, helps = {}, {}
    for param, value in bound.arguments.items():
        recorded[prefix + param] = storable(value, param)
        helps[prefix + param] = f"argument {param} of {as_text(name)}"
    record("fire", lambda task: task.record_arguments(recorded, helps))
    return list(bound.args), dict(bound.kwargs)
