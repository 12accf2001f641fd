"""typer: its commands are click commands, recorded and replayed as click's (see
:mod:`localtask.frameworks.click`): ``Args/<name>`` for the command, ``Args/<sub>.<name>`` for a
subcommand. typer >= 0.20 carries its own copy of click (``typer._click``), patched here; an
older typer runs on click itself, which the click hook patches."""
from __future__ import annotations

import sys


def patch() -> None:
    import typer  # noqa: F401 - its import brings the click copy it runs on

    from .click import patch_core

    core = sys.modules.get("typer._click.core")
    if core is not None:
        patch_core(core, "typer")
    else:
        from .click import patch as patch_click

        patch_click()
