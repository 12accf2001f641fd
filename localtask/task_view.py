"""One view of a task: what ``localtask show``, ``show --json`` and the web page display.

:func:`task_view` reads everything recorded for a task into plain data (JSON-ready);
the CLI and the page only format it. Like rq's ``Job.to_dict``: one path for every caller.
"""
from __future__ import annotations

import json
from typing import Any

from . import params as P
from . import status as status_rules
from .status import TaskStatus

#: the operations whose refusal the page explains (clone is always allowed)
OPERATIONS = ("enqueue", "dequeue", "abort", "publish", "reset", "delete", "edit")


def allowed_actions(task_id: str, status: str) -> dict[str, str | None]:
    """``{operation: None if allowed, else the reason}`` from the one table of status rules."""
    out: dict[str, str | None] = {"clone": None}
    current = TaskStatus(status)
    for operation in OPERATIONS:
        allowed = status_rules.ALLOWED_FROM[operation]
        if current in allowed:
            out[operation] = None
            continue
        names = ", ".join(sorted(s.value for s in allowed))
        hint = status_rules.HINTS.get(operation)
        out[operation] = (f"Cannot {operation} task {task_id[:8]}: it is {current.value} (allowed from: "
                          f"{names})" + (f"; {hint}" if hint else ""))
    return out


def parameter_rows(rows: list[dict]) -> list[dict[str, Any]]:
    """Store parameter rows with their full name (``key``), JSON-ready ``value`` (:func:`params.plain`:
    never imports a recorded Enum's module) and stored ``text``."""
    return [{"key": f"{r['section']}/{r['name']}", "section": r["section"], "name": r["name"],
             "value": P.plain(r["value"], r["type"]), "text": r["value"], "type": r["type"],
             "description": r["description"]} for r in rows]


def artifact_rows(rows: list[dict]) -> list[dict[str, Any]]:
    return [{"name": a["name"], "type": a["kind"], "filename": a["filename"], "size": a["size"],
             "sha256": a["sha256"], "created": a["created"], "metadata": a["meta"]} for a in rows]


def model_rows(store, task_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{"input": [...], "output": [...]}``: each model linked to the task with its link
    ``name`` (as the task connected it), ``id``, ``model_name``, ``framework``, ``file`` (the
    stored weights' name, or the registered URL), ``size``, ``tags``, ``published``."""
    out: dict[str, list[dict[str, Any]]] = {"input": [], "output": []}
    for link in store.get_task_models(task_id):
        model = store.get_model(link["model_id"]) or {}
        out[link["role"]].append({
            "name": link["name"], "id": link["model_id"], "model_name": model.get("name"),
            "project": model.get("project"), "framework": model.get("framework") or "",
            "file": model.get("filename") or model.get("uri") or "", "uri": model.get("uri"),
            "size": model.get("size"), "tags": model.get("tags") or [], "published": bool(model.get("published")),
            "created": model.get("created"), "missing": not model})
    return out


def _code(store, task_id: str, script: dict, diff_limit: int | None) -> dict[str, Any]:
    try:
        code = store.get_code(task_id) or b""
        error = None
    except OSError as exc:
        code, error = b"", f"the recorded code is unreadable ({exc.strerror or exc})"
    if script.get("kind") == "git":
        from .capture import diff_files

        info: dict[str, Any] = {"kind": "diff", "size": len(code), "files": diff_files(code)}
        if diff_limit is not None:
            info["diff"] = code[:diff_limit].decode("utf-8", "replace")
            info["truncated"] = len(code) > diff_limit
    else:
        info = {"kind": "snapshot" if code else "none", "size": len(code),
                "files": list(script.get("files", []))}
    info["error"] = error
    return info


def _configurations(store, task_id: str) -> list[dict[str, Any]]:
    out = []
    for conf in store.get_configurations(task_id):
        value = json.loads(conf["value"]) if conf["kind"] == "dict" else conf["value"]
        out.append({"name": conf["name"], "kind": conf["kind"], "value": value, "text": conf["value"],
                    "description": conf["description"]})
    return out


def _relatives(store, row: dict) -> tuple[dict | None, list[dict]]:
    children, _ = store.task_page(parent=row["id"], limit=200, sort="created", descending=False)
    kids = [{"id": c["id"], "name": c["name"], "status": c["status"], "project": c["project"],
             "created": c["created"]} for c in children]
    if not row["parent"]:
        return None, kids
    parent = store.task_names([row["parent"]]).get(row["parent"])
    if parent is None:
        return {"id": row["parent"], "name": None, "missing": True}, kids
    return {"id": row["parent"], **parent}, kids


def _reproduction(store, task_id: str) -> dict[str, Any] | None:
    from .exceptions import LocaltaskError
    from .reproduction import verdict_of

    try:
        return verdict_of(store, task_id)  # judged now if it ended while no one was looking
    except LocaltaskError:  # a read-only or busy store: show what is stored
        return store.get_verdict(task_id)


def task_view(store, task_id: str, *, diff_limit: int | None = None) -> dict[str, Any]:
    """Everything recorded for ``task_id`` (a full id) as plain data.

    Keys: the task's row (status, times, ``script``, ``environment``, ...), ``code`` (kind,
    size, files, error; the diff text itself when ``diff_limit`` bytes are asked for),
    ``parameters`` (rows, see :func:`parameter_rows`), ``configurations``, ``models`` (see
    :func:`model_rows`), ``parent_task``,
    ``children``, ``allowed`` (operation -> None or the reason it is refused) and ``outputs``
    (scalar count, artifacts, console log path and size). Raises TaskNotFoundError.
    """
    row = store.get_task(task_id)
    script = row["script"] or {}
    parent, children = _relatives(store, row)
    console = store.console_path(task_id)
    return {
        **{k: v for k, v in row.items() if k not in ("code_ref", "seq")},
        "script": script,
        "environment": row["environment"] or {},
        "code": _code(store, task_id, script, diff_limit),
        "parameters": parameter_rows(store.get_parameters(task_id)),
        "configurations": _configurations(store, task_id),
        "parent_task": parent,
        "children": children,
        "models": model_rows(store, task_id),
        "allowed": allowed_actions(task_id, row["status"]),
        "reproduction": _reproduction(store, task_id),
        "reproductions": store.reproductions_of(task_id),
        "outputs": {
            "scalars": store.count_scalars(task_id),
            "plots": store.count_plots(task_id),
            "debug_samples": len(store.get_samples(task_id)),
            "single_values": store.get_single_values(task_id),
            "artifacts": artifact_rows(store.get_artifacts(task_id)),
            "console_log": {"path": str(console), "size": console.stat().st_size if console.exists() else 0},
        },
    }
