"""Hydra / OmegaConf: the composed config and the command-line overrides of each job.

Recorded: the overrides as ``Hydra/<key>`` parameters (text, as typed: ``lr=0.1`` is
``Hydra/lr = "0.1"``, ``~key`` is ``Hydra/~key`` with no value), the config the job got as the
configuration object ``OmegaConf`` (YAML, interpolations kept). Each job of a multirun is a
task of its own. Replayed under a worker: the stored overrides replace the command line's
(a multirun job runs as a single run), so Hydra composes the edited config; a config object
edited in the draft (its text no longer matches the digest in its description) is what the
job gets instead, as it is (as with ClearML's ``Hydra/_allow_omegaconf_edit_`` set to true,
which is understood too).
"""
from __future__ import annotations

import argparse
import functools
import inspect
import sys
from typing import TYPE_CHECKING, Any

from .. import argparse_hook, current_run
from . import digest, pending, record, replaying, stored, stored_section

if TYPE_CHECKING:
    from ..task import Task

SECTION = "Hydra"
CONFIG = "OmegaConf"
#: ClearML's switch: true makes the stored config the job's, edited or not; never an override
ALLOW_EDIT = "_allow_omegaconf_edit_"


def patch() -> None:
    import hydra.main  # noqa: F401 - the module, which ``hydra.main`` (the decorator) hides
    from hydra._internal import utils

    hydra_main = sys.modules["hydra.main"]

    original = utils._run_hydra
    signature = inspect.signature(original)

    def _run_hydra(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["task_function"] = _wrap(bound.arguments["task_function"])
        # Hydra finds the app's file (and its config_path) this many frames up: one more now
        bound.arguments["caller_stack_depth"] = bound.arguments.get("caller_stack_depth", 2) + 1
        return original(*bound.args, **bound.kwargs)

    utils._run_hydra = hydra_main._run_hydra = _run_hydra
    argparse_hook.handlers.append(_on_parsed)


def _on_parsed(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> bool:
    """Hydra's own parser: never recorded as ``Args``; under a worker its overrides are the
    stored ones (and a multirun job runs alone)."""
    if parser.description != "Hydra" or not hasattr(ns, "overrides"):
        return False
    if replaying() and CONFIG in stored().get("configs", {}):
        ns.overrides = [_override(name, value) for name, value in stored_section(SECTION).items()
                        if name != ALLOW_EDIT]
        ns.multirun = False
    return True


def _override(name: str, value: Any) -> str:
    if value is None:
        return name
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{name}={value}"


def _split(override: str) -> tuple[str, str | None]:
    name, sep, value = override.partition("=")
    return (name, value) if sep else (override, None)


def _edited_config(cfg: Any) -> Any:
    """The job's config, or the stored one where the draft's config object was edited."""
    conf = stored().get("configs", {}).get(CONFIG)
    allowed = str(stored_section(SECTION).get(ALLOW_EDIT, "")).strip().lower() in ("true", "1", "yes")
    if conf is None or (digest(conf["value"]) in (conf["description"] or "") and not allowed):
        return cfg
    from omegaconf import DictConfig, OmegaConf

    from ..exceptions import ParameterError

    try:
        edited = OmegaConf.create(conf["value"])
    except Exception as exc:
        raise ParameterError(
            f"The configuration object {CONFIG} of task {replaying()} is not a config OmegaConf can "
            f"read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); fix its YAML "
            f"in a new clone (set_configuration_object('{CONFIG}', config_text=...)).") from None
    if not isinstance(edited, DictConfig):
        raise ParameterError(f"The configuration object {CONFIG} of task {replaying()} is not a mapping "
                             "of keys to values; give it YAML such as 'lr: 0.1'.")
    OmegaConf.set_struct(edited, bool(OmegaConf.is_struct(cfg)))
    return edited


def _record(task: "Task", cfg: Any, overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    values = dict(_split(o) for o in overrides)
    if ALLOW_EDIT in stored_section(SECTION):  # a replay keeps the switch it was given
        values[ALLOW_EDIT] = stored_section(SECTION)[ALLOW_EDIT]
    task._write_params(SECTION, values, dict.fromkeys(values, "Hydra override"))
    text = OmegaConf.to_yaml(cfg)
    task.set_configuration_object(CONFIG, config_text=text, description=(
        f"the config Hydra composed ({digest(text)}); edit it to run the whole config as edited"))


def _exclude_run_folder(hydra_cfg: Any) -> None:
    """Hydra writes each run into a folder under the launch folder (``outputs/<date>/<time>``,
    ``multirun/...``) before the job starts: the top one of it is output, never the run's code."""
    from pathlib import Path

    from .. import capture

    try:
        launch = Path(hydra_cfg.runtime.cwd).resolve()
        parts = Path(hydra_cfg.runtime.output_dir).resolve().relative_to(launch).parts
    except (ValueError, AttributeError, TypeError):  # outside the launch folder: not in the diff anyway
        return
    if parts and (launch / parts[0]) not in capture.RUN_OUTPUT_FOLDERS:
        capture.RUN_OUTPUT_FOLDERS.append(launch / parts[0])


def _wrap(task_function: Any) -> Any:
    @functools.wraps(task_function)
    def job(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
        _exclude_run_folder(hydra_cfg)
        overrides = [str(o) for o in hydra_cfg.overrides.task]
        multirun = hydra_cfg.mode == RunMode.MULTIRUN
        if replaying():
            cfg = _edited_config(cfg)
        before = current_run.get()
        entry = ("hydra", functools.partial(_record, cfg=cfg, overrides=overrides))
        record(*entry)
        try:
            result = task_function(cfg)
        except BaseException:
            if multirun:
                _end_job(before, error=sys.exc_info())
            raise
        finally:
            if entry in pending:  # the job never called Task.init: nothing to record
                pending.remove(entry)
        if multirun:
            _end_job(before)
        return result

    return job


def _end_job(before: Any, error: Any = None) -> None:
    """A multirun job's own task ends with its job: the next job records a task of its own."""
    task = current_run.get()
    if task is None or task is before or task._attached:
        return
    if error is not None:
        current_run.note_error(*error)
    task.close()
