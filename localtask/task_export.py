"""A task's configuration as ClearML's task dictionary (``export_task``), and back
(``import_task``, ``update_task``).

The shape is ClearML's ``tasks.Task``: ``script`` (``repository``, ``branch``, ``version_num``,
``entry_point`` relative to ``working_dir``, ``diff``, ``requirements.pip``), ``hyperparams``
(``{section: {name: {section, name, value, type, description}}}``, values as text),
``configuration`` (``{name: {name, value, type, description}}``), ``container``, ``models``.
A ``localtask`` key carries what ClearML's shape has no field for (argv, module, the structured
package list, a snapshot of files outside git, binary diff bytes), so an export imports back
to the same task; a ClearML export without it imports too.
"""
from __future__ import annotations

import base64
import datetime
import json
import posixpath
from typing import Any

from . import params as P
from ._logging import get_logger
from .exceptions import LocaltaskError, ParameterError, TaskDataError

log = get_logger("localtask.task_export")

#: stored kinds whose value is a JSON string: exported as the bare text, as ClearML shows it
_TEXT_KINDS = ("str", "datetime", "date", "path")
#: ClearML's configuration type of a dict (its text is HOCON; JSON is valid HOCON)
_DICT_TYPE = "dictionary"
#: the ClearML API version whose task shape this follows
API_VERSION = "2.23"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


def _entry_from_working_dir(entry: str | None, working_dir: str | None) -> str | None:
    """ClearML's entry point is relative to the working directory; ours to the repository root."""
    if not entry or not working_dir or working_dir == "." or posixpath.isabs(working_dir):
        return entry
    return posixpath.relpath(entry, working_dir)


def _entry_from_root(entry: str | None, working_dir: str | None) -> str | None:
    if not entry or not working_dir or working_dir == "." or posixpath.isabs(working_dir):
        return entry
    return posixpath.normpath(posixpath.join(working_dir, entry))


def pip_line(pkg: dict[str, Any]) -> str:
    """A recorded package as a requirement line."""
    if pkg.get("requirement"):
        return pkg["requirement"]
    if pkg.get("editable") and (pkg.get("path") or pkg.get("url")):
        return f"-e {pkg.get('path') or pkg.get('url')}"
    if pkg.get("vcs") and pkg.get("url"):
        return f"{pkg['vcs']}+{pkg['url']}@{pkg.get('commit') or ''}".rstrip("@")
    return f"{pkg['name']}=={pkg['version']}"


def _pip_text(packages: list[dict[str, Any]]) -> str:
    return "".join(pip_line(p) + "\n" for p in packages)


def _value_text(text: str) -> str:
    value = json.loads(text)
    return value if isinstance(value, str) else text


def export_task(task: Any) -> dict[str, Any]:
    """``task``'s configuration in ClearML's dictionary shape (no outputs: no scalars, plots,
    artifacts or output models, as ClearML)."""
    store = task.store
    row = store.get_task(task.id)
    script, env = row["script"] or {}, row["environment"] or {}
    code = store.get_code(task.id) or b""
    is_git = script.get("kind") == "git"
    diff_text = code.decode("utf-8", "replace") if is_git else ""
    hyperparams: dict[str, dict[str, Any]] = {}
    for r in store.get_parameters(task.id):
        hyperparams.setdefault(r["section"], {})[r["name"]] = {
            "section": r["section"], "name": r["name"], "value": _value_text(r["value"]),
            "type": r["type"], "description": r["description"]}
    configuration = {c["name"]: {"name": c["name"], "value": c["value"],
                                 "type": _DICT_TYPE if c["kind"] == "dict" else c["kind"],
                                 "description": c["description"]}
                     for c in store.get_configurations(task.id)}
    extra: dict[str, Any] = {"kind": script.get("kind"), "argv": script.get("argv") or [],
                             "module": script.get("module"), "remote": script.get("remote"),
                             "local_path": script.get("local_path"), "environment": env,
                             "pip": _pip_text(env.get("packages") or [])}
    if is_git and diff_text.encode("utf-8") != code:  # bytes that are not UTF-8 (a binary file's lines)
        extra["diff_base64"] = base64.b64encode(code).decode()
    if not is_git and code:
        extra["code_base64"] = base64.b64encode(code).decode()
        extra["files"] = script.get("files") or []
    models = store.get_task_models(task.id)
    return {
        "id": row["id"], "name": row["name"], "type": row["type"], "status": row["status"],
        "comment": row["comment"], "tags": list(row["tags"]), "system_tags": [],
        "parent": row["parent"], "project": row["project"], "project_name": row["project"],
        "created": _iso(row["created"]), "started": _iso(row["started"]),
        "completed": _iso(row["completed"]), "last_update": _iso(row["last_update"]),
        "script": {
            "binary": "python3", "repository": script.get("repository") or "", "tag": "",
            "branch": script.get("branch") or "", "version_num": script.get("commit") or "",
            "entry_point": ("-m " + script["module"]) if script.get("module") else
            (_entry_from_working_dir(script.get("entry_point"), script.get("working_dir")) or ""),
            "working_dir": script.get("working_dir") or ".", "diff": diff_text,
            "requirements": {"pip": extra["pip"]},
        },
        "hyperparams": hyperparams,
        "configuration": configuration,
        "execution": {"queue": row["queue"], "parameters": {}, "artifacts": [], "framework": None},
        "container": {"image": env.get("image") or "", "arguments": env.get("image_arguments") or "",
                      "setup_shell_script": env.get("image_setup") or ""},
        "models": {role: [{"name": m["name"], "model": m["model_id"]} for m in models if m["role"] == role]
                   for role in ("input", "output")},
        "runtime": {},
        "session_api_version": API_VERSION,
        "localtask": extra,
    }


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, dicts key by key (ClearML's ``merge_dicts``)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaskDataError(f"Task data: {key!r} must be a dict (ClearML's export_task shape), "
                            f"not {type(value).__name__}.")
    return value


def _parameter_row(section: str, name: str, item: Any) -> tuple[str, str, str, str, str]:
    if not isinstance(item, dict):
        item = {"value": item}
    value, kind = item.get("value"), item.get("type") or None
    key = f"{section}/{name}"
    P.check_name(section, name)
    try:
        if not isinstance(value, str):  # a hand-written dict may give the value itself
            text, kind = P.encode(value, key)
        elif kind in _TEXT_KINDS or (kind or "").startswith(P.ENUM_PREFIX):
            text = json.dumps(value)  # kept as text: an Enum's module need not be importable here
        elif kind in P.TYPES or kind in P.EXTRA_TYPES:
            text, kind = P.encode(P.parse_text(value, kind, key), key)
        else:  # no type, or ClearML's own names: text, as ClearML keeps it
            text, kind = json.dumps(value), "str"
    except (ValueError, TypeError) as exc:
        raise TaskDataError(f"Task data: hyperparameter {key} = {value!r} is not a {kind}: {exc}.") from None
    except ParameterError as exc:
        raise TaskDataError(f"Task data: {exc}") from None
    return section, name, text, kind or "str", str(item.get("description") or "")


def _parameters(data: dict[str, Any]) -> list[tuple]:
    rows = []
    for section, items in _section(data, "hyperparams").items():
        if not isinstance(items, dict):
            raise TaskDataError(f"Task data: hyperparams[{section!r}] must be a dict of name -> item.")
        rows += [_parameter_row(str(section), str(name), item) for name, item in items.items()]
    return rows


def _configurations(data: dict[str, Any]) -> list[tuple]:
    rows = []
    for name, item in _section(data, "configuration").items():
        item = item if isinstance(item, dict) else {"value": item}
        value, kind = item.get("value"), item.get("type")
        if isinstance(value, (dict, list)):
            rows.append((str(name), "dict", json.dumps(value), str(item.get("description") or "")))
            continue
        text = "" if value is None else str(value)
        if kind in (_DICT_TYPE, "dict"):
            try:
                json.loads(text)
            except ValueError:  # HOCON that is not JSON: kept as text, nothing lost
                kind = "text"
            else:
                kind = "dict"
        else:
            kind = "text"
        rows.append((str(name), kind, text, str(item.get("description") or "")))
    return rows


def _text(part: dict[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = part.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise TaskDataError(f"Task data: {where}.{key} must be a string, not {type(value).__name__}.")
    return value


def _texts(part: dict[str, Any], key: str, where: str) -> list[str]:
    value = part.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskDataError(f"Task data: {where}.{key} must be a list of strings.")
    return list(value)


def _b64(part: dict[str, Any], key: str) -> bytes | None:
    text = _text(part, key, "localtask")
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise TaskDataError(f"Task data: localtask.{key} is not base64.") from None


def _environment(extra: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    env = extra.get("environment")
    if env is None:
        return dict(current.get("environment") or {})
    packages = env.get("packages") if isinstance(env, dict) else None
    if not isinstance(env, dict) or not isinstance(packages or [], list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in packages or []):
        raise TaskDataError("Task data: localtask.environment must be a dict whose packages are "
                            "{'name', 'version', ...} dicts (as export_task gives).")
    return dict(env)


def _script_and_code(data: dict[str, Any], current: dict[str, Any]) -> tuple[dict, dict, bytes | None]:
    """(script, environment, code) from the dict's ``script``, ``container`` and ``localtask`` parts."""
    from .task_create import read_requirements

    src = _section(data, "script")
    extra = _section(data, "localtask")
    env = _environment(extra, current)
    entry = _text(src, "entry_point", "script", "")
    module = entry[3:].strip() if entry.startswith("-m ") else _text(extra, "module", "localtask")
    working_dir = _text(src, "working_dir", "script", ".")
    repository = _text(src, "repository", "script")
    kind = _text(extra, "kind", "localtask") or ("git" if repository else "files")
    if kind not in ("git", "files", "none"):
        raise TaskDataError(f"Task data: localtask.kind is git, files or none, not {kind!r}.")
    script: dict[str, Any] = {
        "argv": _texts(extra, "argv", "localtask"), "module": module, "interactive": False, "kind": kind,
        "repository": repository, "remote": bool(extra.get("remote", repository and "://" in repository)),
        "local_path": _text(extra, "local_path", "localtask"), "branch": _text(src, "branch", "script"),
        "commit": _text(src, "version_num", "script"), "working_dir": working_dir,
        "entry_point": None if entry.startswith("-m ") else _entry_from_root(entry, working_dir),
    }
    if _text(src, "tag", "script"):
        script["tag"] = src["tag"]
    code: bytes | None
    if kind == "git":
        diff = _text(src, "diff", "script", "")
        raw = _b64(extra, "diff_base64")
        code = raw if raw is not None and raw.decode("utf-8", "replace") == diff else diff.encode("utf-8")
        from .capture import diff_files
        from .runner import check_diff_paths

        try:
            check_diff_paths(code)
        except LocaltaskError as exc:
            raise TaskDataError(f"Task data: script.diff: {exc}") from None
        script.update(diff_size=len(code), diff_files=diff_files(code))
        if not script["commit"] and code == b"":
            raise TaskDataError("Task data: script.version_num (the commit) is empty and there is no diff: "
                                "give the commit to run.")
    else:
        code = _b64(extra, "code_base64")
        script["files"] = _texts(extra, "files", "localtask")
    pip = _text(_section(src, "requirements"), "pip", "script.requirements", "")
    if pip != (extra.get("pip") or ""):  # edited (or a ClearML export): read its lines
        env["packages"] = read_requirements(pip, "script.requirements.pip")
    container = _section(data, "container")
    for key, field in (("image", "image"), ("arguments", "image_arguments"), ("setup_shell_script", "image_setup")):
        value = _text(container, key, "container")
        if value:
            env[field] = value
        else:
            env.pop(field, None)
    return script, env, code


def _input_models(store: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    links = []
    items = _section(data, "models").get("input") or []
    if not isinstance(items, list):
        raise TaskDataError("Task data: models.input must be a list of {'name', 'model'} items.")
    for item in items:
        name, model_id = (item.get("name"), item.get("model")) if isinstance(item, dict) else (None, None)
        if not model_id or not isinstance(model_id, str):
            raise TaskDataError(f"Task data: models.input items are {{'name', 'model'}}; got {item!r}.")
        if store.get_model(str(model_id)) is None:
            log.warning("localtask: input model %s (%s) is not in the store %s: its link is not imported",
                        model_id, name, store.home)
            continue
        links.append((str(name or model_id), str(model_id)))
    return links


def apply(task: Any, data: dict[str, Any], force: bool = False) -> None:
    """Write ``data`` (the export_task shape) as ``task``'s whole configuration, in one
    transaction; a draft only (unless ``force``). Raises TaskDataError, IllegalTransitionError."""
    from .task import _check_text, _task_type, store_code

    if not isinstance(data, dict):
        raise TaskDataError(f"Task data must be a dict (as export_task gives), not {type(data).__name__}.")
    store = task.store
    current = store.get_task(task.id)
    script, env, code = _script_and_code(data, current)
    tags = data.get("tags") if data.get("tags") is not None else current["tags"]
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise TaskDataError(f"Task data: tags must be a list of strings, not {tags!r}.")
    parent = data.get("parent") or None
    if parent is not None and not isinstance(parent, str):
        raise TaskDataError(f"Task data: parent must be a task id, not {parent!r}.")
    if parent and not store.find_tasks(ids=[parent]):
        log.warning("localtask: parent %s is not in the store %s: the task gets no parent", parent, store.home)
        parent = None
    try:
        fields = {"name": _check_text("task name", data.get("name") or current["name"]),
                  "project": _check_text("project name", data.get("project_name") or data.get("project")
                                         or current["project"]),
                  "type": _task_type(data.get("type") or current["type"]), "tags": list(tags),
                  "comment": str(data.get("comment") or ""), "parent": parent, "script": script,
                  "environment": env, **store_code(store, code)}
    except LocaltaskError as exc:
        raise TaskDataError(f"Task data: {exc}") from None
    store.replace_configuration(task.id, fields=fields, parameters=_parameters(data),
                                configurations=_configurations(data), input_models=_input_models(store, data),
                                force=force)
