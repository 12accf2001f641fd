"""jsonargparse: the resolved call and the config files it read.

Every value the parser resolved (command line, config files, defaults) is ``Args/<key>``,
with jsonargparse's dotted keys (``Args/model.lr``, ``Args/fit.trainer.epochs``); a config file
given on the command line is the configuration object ``<option>: <path as given>`` (its
text). Under a worker the command line is parsed as recorded, then a config object edited in
the draft is read instead of its file, and every ``Args`` value edited in the draft (one that
differs from what the recorded command line gives) replaces the parsed one.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from typing import Any

from . import digest, record, replaying, storable, stored, stored_section, warn

SECTION = "Args"
_state = threading.local()
#: keys of jsonargparse's own bookkeeping, never the app's configuration
_INTERNAL = ("__path__", "__default_config__")
#: the copies of edited config files read on a replay -> the path given on the command line
_copies: dict[str, str] = {}


def patch() -> None:
    import jsonargparse

    cls = jsonargparse.ArgumentParser
    original = cls.parse_args

    def parse_args(self, args=None, namespace=None, env=None, defaults=True, **kwargs):
        if getattr(_state, "depth", 0):  # a parse inside a parse: only the outer one counts
            return original(self, args, namespace, env, defaults, **kwargs)
        _state.depth = 1
        try:
            argv, blind = list(sys.argv[1:] if args is None else args), False
            if replaying():  # a config file the code copy lacks (no git): its stored text
                argv, blind = _with_stored_files(argv, lambda conf, exists: not exists)
            cfg = original(self, argv, namespace, env, defaults, **kwargs)
            try:
                if replaying():
                    cfg = _replayed(self, argv, cfg, lambda a: original(self, a, namespace, env, defaults,
                                                                         **kwargs), blind)
                _record(self, cfg)
            except Exception as exc:
                warn("jsonargparse", exc)
            return cfg
        finally:
            _state.depth = 0

    cls.parse_args = parse_args


def _config_dests(parser: Any, prefix: str = "") -> list[str]:
    """The keys of the config-file options, a subcommand's (``fit.config``) included."""
    from jsonargparse import ActionConfigFile

    dests = []
    for action in parser._actions:
        if isinstance(action, ActionConfigFile):
            dests.append(prefix + action.dest)
        elif isinstance(getattr(action, "choices", None), dict):  # subcommands: name -> parser
            for name, sub in action.choices.items():
                if hasattr(sub, "_actions"):
                    dests += _config_dests(sub, f"{prefix}{name}.")
    return dests


def _leaves(parser: Any, cfg: Any) -> dict[str, Any]:
    """``{dotted key: value}`` of the app's values (config-file options left out)."""
    skip = set(_config_dests(parser))
    return {key: storable(value, key) for key, value in cfg.items()
            if key not in skip and not any(part in _INTERNAL for part in key.split("."))}


def _config_files(parser: Any, cfg: Any) -> dict[str, str]:
    """``{"<option>: <path as given>": text}`` of the config files given on the command line."""
    files = {}
    for dest in _config_dests(parser):
        for path in cfg.get(dest) or () if dest in cfg else ():
            given = getattr(path, "relative", None) or str(path)
            given = _copies.get(given, given)
            get_content = getattr(path, "get_content", None)
            if callable(get_content):
                files[f"{dest}: {given}"] = get_content()
    return files


def _record(parser: Any, cfg: Any) -> None:
    from ..argparse_hook import as_text

    values = _leaves(parser, cfg)
    helps = {a.dest: as_text(a.help) for a in parser._actions if isinstance(a.dest, str)}
    files = _config_files(parser, cfg)

    def write(task: Any) -> None:
        task.record_arguments(values, {k: helps.get(k, "") for k in values})
        for name, text in files.items():
            task.set_configuration_object(name, config_text=text, description=(
                f"a config file jsonargparse read ({digest(text)}); edit it to run with the edited text"))

    record("jsonargparse", write)


def _edited(conf: dict) -> bool:
    return digest(conf["value"]) not in (conf["description"] or "")


def _replayed(parser: Any, argv: list[str], cfg: Any, parse: Any, blind: bool) -> Any:
    """The parse of the recorded command line ``cfg`` with the draft's edits: its edited config
    files read instead, then its edited values (those that differ from ``cfg``; none when
    ``blind``: ``cfg`` already read an edited file, so what differs is not known)."""
    recorded = _leaves(parser, cfg)
    edits = {} if blind else {k: v for k, v in stored_section(SECTION).items()
                              if k in recorded and recorded[k] != v}
    edited_argv, _ = _with_stored_files(argv, lambda conf, exists: exists and _edited(conf))
    if edited_argv != argv:
        cfg = parse(edited_argv)
    for key, value in edits.items():
        cfg[key] = value
    return cfg


def _with_stored_files(argv: list[str], wanted: Any) -> tuple[list[str], bool]:
    """``argv`` with each config file for which ``wanted(conf, exists)`` replaced by a copy of
    its stored text; and whether one of them was edited."""
    out, edited = list(argv), False
    for name, conf in stored().get("configs", {}).items():
        dest, sep, given = name.partition(": ")
        if not sep or not wanted(conf, os.path.isfile(given)):
            continue
        edited = edited or _edited(conf)
        fd, copy = tempfile.mkstemp(prefix="localtask-config-", suffix=os.path.splitext(given)[1])
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(conf["value"])
        _copies[copy] = given
        own = dest.rpartition(".")[2]  # a subcommand's option is typed after its name
        options = {"--" + own, "--" + own.replace("_", "-"), "--" + dest}
        for i, arg in enumerate(out):
            if arg == given and i and out[i - 1] in options:
                out[i] = copy
            elif arg.partition("=")[0] in options and arg.partition("=")[2] == given:
                out[i] = f"{arg.partition('=')[0]}={copy}"
    return out, edited
