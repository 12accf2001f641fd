"""click: the options and arguments of the command (and subcommands) that ran, as ``Args/...``.

A parameter of the top command is ``Args/<name>``, one of a subcommand ``Args/<sub>.<name>``
(``Args/<group>.<sub>.<name>`` deeper down), with the values click gave the callback (their
types kept) and ``option --lr (float): help`` as description. Not recorded: options read from
an environment variable and hidden-input prompts (passwords), as localtask never records the
environment. Under a worker the stored values are given to click as if typed on the command
line, so they go through the option's type and callback again, and no prompt fires.

:func:`patch_core` serves any copy of click's ``core`` module (typer carries its own).
"""
from __future__ import annotations

from typing import Any

from . import forget, record, replaying, storable, stored_section, warn

SECTION = "Args"


def patch() -> None:
    import click.core

    patch_core(click.core, "click")


def patch_core(core: Any, framework: str) -> None:
    """Patch ``core.Parameter.consume_value`` (replay) and ``core.Command.invoke`` (record)."""
    if getattr(core, "_localtask_patched", False):
        return
    core._localtask_patched = True
    consume_value, invoke = core.Parameter.consume_value, core.Command.invoke
    source = core.ParameterSource

    def replayed_consume_value(self, ctx, opts):
        if (replaying() and self.name and not getattr(ctx, "resilient_parsing", False)
                and not _own(ctx.command)):
            values = stored_section(SECTION)
            key = name_of(ctx, self.name)
            if key in values:
                return values[key], source.COMMANDLINE
        return consume_value(self, ctx, opts)

    def recorded_invoke(self, ctx):
        if _own(self):
            return invoke(self, ctx)
        if ctx.parent is None:
            forget(framework)
        try:
            values, helps = _arguments(ctx, self, source)
            if values:
                record(framework, lambda task: task.record_arguments(values, helps))
        except Exception as exc:
            warn(framework, exc)
        return invoke(self, ctx)

    core.Parameter.consume_value = replayed_consume_value
    core.Command.invoke = recorded_invoke


def _own(command: Any) -> bool:
    """localtask's own command line is no script's configuration."""
    return getattr(getattr(command, "callback", None), "__module__", "").startswith("localtask.")


def name_of(ctx: Any, name: str) -> str:
    """``name`` for the top command, ``sub.name`` for a subcommand's parameter."""
    path = []
    while ctx.parent is not None:
        path.append(ctx.info_name or "")
        ctx = ctx.parent
    return ".".join([*reversed(path), name])


def _type_name(param: Any) -> str:
    """click's name of the type (``float``, ``choice``), or typer's annotation (``list[str]``)."""
    from ..argparse_hook import as_text

    ptype = getattr(param, "type", None)
    if ptype is not None:
        return as_text(getattr(ptype, "name", None) or type(ptype).__name__)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type):
        return annotation.__name__
    return as_text(annotation).replace("typing.", "") if annotation is not None else "?"


def _arguments(ctx: Any, command: Any, source: Any) -> tuple[dict[str, Any], dict[str, str]]:
    from ..argparse_hook import as_text

    values, helps = {}, {}
    for param in command.params:
        if not param.name or param.name not in ctx.params or getattr(param, "hide_input", False):
            continue
        if ctx.get_parameter_source(param.name) == source.ENVIRONMENT:
            continue
        key = name_of(ctx, param.name)
        values[key] = storable(ctx.params[param.name], key)
        opts = [o for o in getattr(param, "opts", ()) if o.startswith("-")]
        kind, label = ("option", opts[0]) if opts else ("argument", param.name)
        type_name = _type_name(param)
        text = as_text(getattr(param, "help", None))
        helps[key] = f"{kind} {label} ({type_name})" + (f": {text}" if text else "")
    return values, helps
