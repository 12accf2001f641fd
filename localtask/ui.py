"""The local web page (``localtask ui``): the task table, task pages and comparisons of one store.

A Starlette app over the same library calls as the CLI; it needs the ``ui`` extra
(``pip install 'localtask[ui]'``). Everything the page loads is shipped in
``localtask/static``: nothing is fetched from the internet.

Security, for a page on a shared machine:

* it binds 127.0.0.1 unless told otherwise (and then warns);
* every request whose ``Host`` header is not one of the page's own names is refused, so a
  web site whose name is made to resolve to 127.0.0.1 (DNS rebinding) reaches nothing;
* a token made at launch is printed inside the page's address. Opening that address
  stores it in an HttpOnly, SameSite=Strict cookie, and the page keeps it to send in the
  ``X-Localtask-Token`` header. Every ``/api`` request needs the token (header or cookie);
  a state-changing request needs the header itself, so that no other page can forge one,
  and is refused when its ``Origin`` is not the page's own. Browsers send a cookie to every
  port of a host, so the cookie's path is a secret prefix of this server (``/s/<scope>/``,
  under which the page and its API are served too): another server on this machine never
  receives it, and the cookie is honoured only under that prefix;
* no request names a file path: artifacts are downloaded by task id and artifact name,
  looked up in the store, always as attachments; static files come from a fixed list;
* debug sample files are served in a sandbox: html ones run their own scripts in an opaque
  origin that reaches neither the cookie nor the API nor the internet (``localtask.html_samples``).
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import secrets
import shlex
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any, Callable

from . import __version__, params as P, status as status_rules
from .exceptions import (ExecutionEditError, IllegalTransitionError, LocaltaskError, ParameterError,
                         TaskNotFoundError)
from .html_samples import outside_refs, sample_csp
from .status import TaskStatus
from .store import Store
from .task_view import allowed_actions, parameter_rows, task_view

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # the optional extra is not installed
    _MISSING: ImportError | None = exc
else:
    _MISSING = None

log = logging.getLogger("localtask.ui")

STATIC = Path(__file__).parent / "static"
#: the only files served from STATIC: name -> media type.
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "view-plots.js": "text/javascript; charset=utf-8",
    "view-drift.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dialogs.js": "text/javascript; charset=utf-8",
    "view-projects.js": "text/javascript; charset=utf-8",
    "view-tasks.js": "text/javascript; charset=utf-8",
    "view-task.js": "text/javascript; charset=utf-8",
    "view-compare.js": "text/javascript; charset=utf-8",
    "execution-edit.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
TOKEN_HEADER = "x-localtask-token"
COOKIE = "localtask_token_{port}"  # cookies ignore ports: one name per server
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
#: the Host names a page bound to a loopback address answers to.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "ip6-localhost"})
PAGE_SIZES = (20, 50, 100, 200)
MAX_PARAM_COLUMNS = 12
MAX_DIFF_BYTES = 2 * 1024 * 1024
CONSOLE_CHUNK = 512 * 1024
MAX_POINTS = 2000
#: operations the page offers, checked with the status rules (clone is always allowed).
# plotly.js writes its own <style> rules at run time: inline styles are allowed, scripts never
# (the page builds nodes, never HTML strings, so a style cannot come from a task's data)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _require_starlette() -> None:
    if _MISSING is not None:
        raise LocaltaskError(f"The web page needs the 'ui' extra ({_MISSING}): "
                             "pip install 'localtask[ui]'.")


# --------------------------------------------------------------------- JSON helpers
PLOTLY_JS = "plotly.min.js"


def plotly_js() -> Path | None:
    """The plotly.js bundle inside the installed ``plotly`` Python package (the page's charts;
    nothing is fetched from the internet), or None without that package."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / PLOTLY_JS
        if path.is_file():
            return path
    return None


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as strings ('nan', 'inf'): JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json(data: Any, status_code: int = 200) -> "Response":
    body = json.dumps(_plain(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type="application/json",
                    headers=SECURITY_HEADERS)


def _error(message: str, status_code: int) -> "Response":
    return _json({"error": message}, status_code)


def _int_arg(request: "Request", name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return min(high, max(low, int(raw)))
    except ValueError:
        raise LocaltaskError(f"Query argument {name}={raw!r} is not an integer.") from None


def _cookie(request: "Request") -> str:
    return COOKIE.format(port=request.url.port or 80)


def _text_field(body: dict, key: str) -> str:
    """``body[key]`` as text ('' when absent or null); anything else is a clear 400."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LocaltaskError(f"The field {key!r} must be text, not {type(value).__name__}.")
    return value


def _differing(values: dict[str, dict[str, str]], ids: list[str]) -> list[str]:
    """Parameter keys whose stored text is not the same in every one of ``ids``."""
    keys = sorted({k for i in ids for k in values.get(i, {})})
    return [k for k in keys if len({values.get(i, {}).get(k) for i in ids}) > 1]


def _complete_utf8(data: bytes) -> int:
    """How many leading bytes of ``data`` end on a UTF-8 character boundary."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): is its sequence complete?
            need = 1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if need <= back else len(data) - back
    return len(data)


def _downsample(series: dict[str, list]) -> dict[str, list]:
    n = len(series["x"])
    if n <= MAX_POINTS:
        return series
    step = n / MAX_POINTS
    picks = sorted({int(i * step) for i in range(MAX_POINTS)} | {n - 1})
    return {key: [values[i] for i in picks] for key, values in series.items()}


def _scalars(store: Store, task_id: str) -> dict[str, Any]:
    """``{title: {series: {x: iterations, y: values (None: not finite), t: wall times}}}``."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for row in store.get_scalars(task_id, with_time=True):
        line = out.setdefault(row["title"], {}).setdefault(row["series"], {"x": [], "y": [], "t": []})
        value = row["value"]
        line["x"].append(row["iteration"])
        line["y"].append(value if value is not None and math.isfinite(value) else None)
        line["t"].append(row["ts"])
    return {title: {name: _downsample(line) for name, line in lines.items()} for title, lines in out.items()}


# --------------------------------------------------------------------- the application
class UI:
    """The page's request handlers over one store (``home``), guarded by ``token``."""

    def __init__(self, home: str | Path | None, token: str, scope: str):
        self.store = Store.open(home)
        self.home = self.store.home
        self.token = token
        self.prefix = f"/s/{scope}"

    def _under_scope(self, request: "Request") -> bool:
        return request.url.path.startswith(self.prefix + "/")

    # ---------------------------------------------------------------- guards
    def _token_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def check(self, request: "Request", write: bool) -> "Response | None":
        """None if the request may go on, else the refusal (403)."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return _error(f"Refused: a request from another site ({site}).", 403)
        if write:
            origin = request.headers.get("origin")
            if origin is not None and origin not in self._own_origins(request):
                return _error(f"Refused: a request from another origin ({origin}).", 403)
            if not self._token_ok(request.headers.get(TOKEN_HEADER)):
                return _error("Refused: this request needs the token of this 'localtask ui' (header "
                              "X-Localtask-Token); open the address the command printed.", 403)
            return None
        cookie = request.cookies.get(_cookie(request)) if self._under_scope(request) else None
        if self._token_ok(request.headers.get(TOKEN_HEADER)) or self._token_ok(cookie):
            return None
        return _error("Refused: open the address printed by 'localtask ui' (it carries the access "
                      "token).", 403)

    @staticmethod
    def _own_origins(request: "Request") -> set[str]:
        host = request.headers.get("host", "")
        return {f"http://{host}", f"https://{host}"}

    def route(self, fn: Callable[..., Any], write: bool = False) -> Callable:
        """An endpoint that checks the request, runs ``fn(request, body)`` in a thread (SQLite
        blocks) and turns library errors into JSON errors the page shows."""

        async def endpoint(request: "Request") -> "Response":
            refused = self.check(request, write)
            if refused is not None:
                return refused
            body: dict[str, Any] = {}
            if write:
                raw = await request.body()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return _error("The request body is not JSON.", 400)
                    if not isinstance(body, dict):
                        return _error("The request body must be a JSON object.", 400)
            try:
                result = await run_in_threadpool(fn, request, body)
            except TaskNotFoundError as exc:
                return _error(str(exc), 404)
            except IllegalTransitionError as exc:  # the page has no force option: no such hint
                hint = f"; {exc.reason}" if exc.reason and not exc.forceable else "."
                return _error(exc.summary() + hint, 409)
            except LocaltaskError as exc:
                return _error(str(exc), 400)
            except Exception as exc:  # a bug: say so in the page rather than fail silently
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(f"Internal error in localtask ui ({type(exc).__name__}: {exc}); "
                              "see the terminal that runs it.", 500)
            return result if isinstance(result, Response) else _json(result)

        return endpoint

    def _task(self, request: "Request"):
        from .task import Task

        return Task.get_task(task_id=self.store.resolve_id(request.path_params["task_id"]), home=self.home)

    def _task_id(self, request: "Request") -> str:
        return self.store.resolve_id(request.path_params["task_id"])

    # ---------------------------------------------------------------- pages and files
    async def index(self, request: "Request") -> "Response":
        response = FileResponse(STATIC / "index.html", media_type=STATIC_FILES["index.html"],
                                headers=SECURITY_HEADERS)
        token = request.query_params.get("token")
        if token and self._token_ok(token):
            response.set_cookie(_cookie(request), self.token, httponly=True, samesite="strict",
                                path=self.prefix + "/")
        return response

    async def static(self, request: "Request") -> "Response":
        name = request.path_params["name"]
        if name == PLOTLY_JS:
            path = plotly_js()
            if path is None:
                return _error("plotly is not installed: pip install 'localtask[ui]' to see charts.", 404)
            return FileResponse(path, media_type="text/javascript; charset=utf-8",
                                headers={**SECURITY_HEADERS, "Cache-Control": "max-age=86400"})
        if name not in STATIC_FILES:
            return _error("Not found.", 404)
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers=SECURITY_HEADERS)

    # ---------------------------------------------------------------- reading
    def session(self, request, body) -> dict:
        """The header token, for a page opened without it in its address (the cookie is valid)."""
        return {"token": self.token}

    def meta(self, request, body) -> dict:
        return {
            "home": str(self.home), "version": __version__,
            "statuses": [s.value for s in TaskStatus],
            "allowed_from": {op: sorted(s.value for s in st) for op, st in status_rules.ALLOWED_FROM.items()},
            "page_sizes": list(PAGE_SIZES), "sorts": list(Store.PAGE_SORTS),
            "base": self.prefix,  # where the cookie is sent: the prefix of <img> and download URLs
        }

    def projects(self, request, body) -> dict:
        return {"projects": self.store.project_summary(), "total": self.store.count_tasks(),
                "tags": self.store.all_tags()}

    def queues(self, request, body) -> dict:
        return {"queues": self.store.queue_counts()}

    def tasks(self, request, body) -> dict:
        q = request.query_params
        per_page = _int_arg(request, "per_page", 50, 1, max(PAGE_SIZES))
        page = _int_arg(request, "page", 1, 1, 10 ** 9)
        statuses = [s for s in q.getlist("status") if s]
        for s in statuses:
            if s not in TaskStatus.__members__:
                raise LocaltaskError(f"Unknown status {s!r}; use one of: "
                                     f"{', '.join(t.value for t in TaskStatus)}.")
        rows, total = self.store.task_page(
            project=q.get("project") or None, status=statuses or None,
            tags=[t for t in q.getlist("tag") if t] or None, name_contains=q.get("name") or None,
            sort=q.get("sort") or "created", descending=q.get("desc", "1") != "0",
            limit=per_page, offset=(page - 1) * per_page,
            archived=None if q.get("archived") == "1" else False)
        ids = [r["id"] for r in rows]
        params = self.store.parameters_of(ids)
        texts = {i: {f"{p['section']}/{p['name']}": p["value"] for p in params[i]} for i in ids}
        typed = {i: {f"{p['section']}/{p['name']}": P.plain(p["value"], p["type"]) for p in params[i]}
                 for i in ids}
        columns = _differing(texts, ids) if len(ids) > 1 else []
        parents = self.store.task_names(r["parent"] for r in rows)
        out = []
        for r in rows:
            parent = r["parent"]
            out.append({
                **{k: r[k] for k in ("id", "project", "name", "type", "tags", "comment", "status",
                                     "status_reason", "created", "started", "completed", "last_update",
                                     "queue", "worker", "parent")},
                "parent_name": parents.get(parent, {}).get("name") if parent else None,
                "params": {k: typed[r["id"]][k] for k in columns[:MAX_PARAM_COLUMNS] if k in typed[r["id"]]},
                "allowed": allowed_actions(r["id"], r["status"]),
            })
        return {"tasks": out, "total": total, "page": page, "per_page": per_page,
                "param_columns": columns[:MAX_PARAM_COLUMNS],
                "param_columns_hidden": max(0, len(columns) - MAX_PARAM_COLUMNS), "now": time.time()}

    def task(self, request, body) -> dict:
        view = task_view(self.store, self._task_id(request))
        return {
            **{k: view[k] for k in ("id", "project", "name", "type", "tags", "comment", "status",
                                    "status_reason", "created", "started", "completed", "last_update",
                                    "queue", "worker", "host", "pid", "parent", "parent_task", "children",
                                    "allowed", "parameters", "reproduction", "reproductions")},
            "editable": view["allowed"]["edit"] is None,
            "edit_reason": view["allowed"]["edit"],
            "configurations": [{k: c[k] for k in ("name", "kind", "text", "description")}
                               for c in view["configurations"]],
            "artifacts": view["outputs"]["artifacts"],
            "models": view["models"],
            "console_size": view["outputs"]["console_log"]["size"],
            "scalar_count": view["outputs"]["scalars"],
            "plot_count": view["outputs"]["plots"],
            "sample_count": view["outputs"]["debug_samples"],
            "single_values": view["outputs"]["single_values"],
            "script_kind": view["script"].get("kind"),
        }

    def execution(self, request, body) -> dict:
        view = task_view(self.store, self._task_id(request), diff_limit=MAX_DIFF_BYTES)
        script, env, code = view["script"], view["environment"], view["code"]
        git = script.get("kind") == "git"
        return {
            "script": script,
            "diff": code.get("diff", ""), "diff_size": code["size"] if git else 0,
            "diff_truncated": code.get("truncated", False), "code_error": code["error"],
            "snapshot_size": code["size"] if script.get("kind") == "files" else 0,
            "environment": {k: env.get(k) for k in ("python", "implementation", "platform", "machine",
                                                    "executable", "image", "image_arguments",
                                                    "python_edited", "packages_edited")},
            "packages": env.get("packages") or [],
            "index": env.get("index"),
            "drift": env.get("drift"),  # the verdict of the worker that last ran it (localtask.drift)
        }

    def console(self, request, body) -> dict:
        """The console log from byte ``offset`` (a negative one: the last ``-offset`` bytes)."""
        task_id = self._task_id(request)
        status = self.store.get_task(task_id)["status"]
        offset = _int_arg(request, "offset", 0, -(1 << 40), 1 << 50)
        path = self.store.console_path(task_id)
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                start = max(0, size + offset) if offset < 0 else min(offset, size)
                fh.seek(start)
                data = fh.read(CONSOLE_CHUNK)
        except FileNotFoundError:
            return {"text": "", "offset": 0, "size": 0, "start": 0, "status": status, "more": False}
        if start > 0 and offset < 0:  # began mid-file: drop the partial first line
            cut = data.find(b"\n")
            if cut >= 0:
                data, start = data[cut + 1:], start + cut + 1
        keep = _complete_utf8(data)
        data = data[:keep]
        end = start + len(data)
        return {"text": data.decode("utf-8", "replace"), "start": start, "offset": end, "size": size,
                "status": status, "more": end < size}

    def scalars(self, request, body) -> dict:
        return {"scalars": _scalars(self.store, self._task_id(request))}

    def plots(self, request, body) -> dict:
        """The last report of each plot (title, series), with its plotly figure."""
        task_id = self._task_id(request)
        return {"plots": [{k: _plain(p[k]) for k in ("title", "series", "iteration", "kind", "figure")}
                          for p in self.store.get_plots(task_id, last_only=True)]}

    def samples(self, request, body) -> dict:
        """Every debug sample (title, series, iteration, mime, size, file name to fetch; ``url``
        for a sample that is a link to a remote file; ``outside`` for an html one: the hosts and
        files its scripts and styles come from, which the page does not fetch)."""
        from .report_writer import samples_dir
        from .reporting import LINK_MIME

        task_id = self._task_id(request)
        out = []
        for r in self.store.get_samples(task_id):
            sample = {k: r[k] for k in ("title", "series", "iteration", "filename", "mime", "size")}
            if r["mime"] == LINK_MIME:
                try:
                    sample["url"] = (samples_dir(self.store, task_id) / r["filename"]).read_text("utf-8").strip()
                except OSError:
                    sample["url"] = None
            elif r["mime"] == "text/html":
                sample["outside"] = outside_refs(samples_dir(self.store, task_id) / r["filename"])
            out.append(sample)
        return {"samples": out}

    def sample(self, request, body) -> "Response":
        from .report_writer import samples_dir

        task_id = self._task_id(request)
        filename = request.path_params["filename"]
        row = self.store.sample_named(task_id, filename)
        if row is None and self.store.plot_image_named(task_id, filename):
            row = {"mime": "image/png"}
        if row is None or "/" in filename or filename.startswith("."):
            raise TaskNotFoundError(f"Task {task_id} has no debug sample file {filename!r}.")
        path = samples_dir(self.store, task_id) / filename
        if not path.is_file():
            raise TaskNotFoundError(f"The file of debug sample {filename!r} of task {task_id} is missing.")
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": sample_csp(row["mime"]),
                   "Cache-Control": "max-age=3600"}
        headers.pop("X-Frame-Options")
        return FileResponse(path, media_type=row["mime"], headers=headers)

    def artifact(self, request, body) -> "Response":
        from .artifacts import artifacts_dir

        task_id = self._task_id(request)
        name = request.path_params["name"]
        row = next((a for a in self.store.get_artifacts(task_id) if a["name"] == name), None)
        if row is None:
            raise TaskNotFoundError(f"Task {task_id} has no artifact named {name!r}.")
        folder = artifacts_dir(self.store, task_id).resolve()
        path = (folder / row["filename"]).resolve()
        # The name comes from the store, but never follow a row (or a link) out of the task's folder
        # (a re-uploaded artifact's file is in a version subfolder of it).
        if folder not in path.parents or not path.is_file():
            raise TaskNotFoundError(f"The file of artifact {name!r} of task {task_id} is missing.")
        return FileResponse(path, media_type="application/octet-stream", filename=path.name,
                            content_disposition_type="attachment", headers=SECURITY_HEADERS)

    def compare(self, request, body) -> dict:
        ids = []
        for part in request.query_params.get("ids", "").split(","):
            if part.strip():
                ids.append(self.store.resolve_id(part.strip()))
        ids = list(dict.fromkeys(ids))
        if len(ids) < 2:
            raise LocaltaskError("Compare needs two or more task ids (ids=a,b).")
        names = self.store.task_names(ids)
        params = self.store.parameters_of(ids)
        texts = {i: {f"{p['section']}/{p['name']}": p["value"] for p in params[i]} for i in ids}
        typed = {i: {f"{p['section']}/{p['name']}": P.plain(p["value"], p["type"]) for p in params[i]}
                 for i in ids}
        keys = sorted({k for i in ids for k in texts[i]})
        return {
            "tasks": [{"id": i, **names[i]} for i in ids],
            "keys": keys,
            "values": {k: [typed[i].get(k) for i in ids] for k in keys},
            "present": {k: [k in typed[i] for i in ids] for k in keys},
            "differing": _differing(texts, ids),
            "scalars": {i: _scalars(self.store, i) for i in ids},
        }

    # ---------------------------------------------------------------- actions
    def clone(self, request, body) -> dict:
        from .task import Task

        source = self._task(request)
        new = Task.clone(source, name=_text_field(body, "name").strip() or None,
                         comment=_text_field(body, "comment") or None,
                         parent=source if body.get("set_parent") else None,
                         project=_text_field(body, "project").strip() or None, home=self.home)
        return {"id": new.id, "status": new.status, "parent": new.parent}

    def reset(self, request, body) -> dict:
        task = self._task(request)
        task.reset(delete_artifacts=bool(body.get("delete_artifacts")))
        return {"id": task.id, "status": task.status}

    def enqueue(self, request, body) -> dict:
        from .task import Task

        queue = _text_field(body, "queue").strip() or "default"
        task = Task.enqueue(self._task(request), queue_name=queue, home=self.home)
        return {"id": task.id, "status": task.status, "queue": queue}

    def dequeue(self, request, body) -> dict:
        from .task import Task

        task = Task.dequeue(self._task(request), home=self.home)
        return {"id": task.id, "status": task.status}

    def abort(self, request, body) -> dict:
        task = self._task(request)
        return {"id": task.id, "status": task.abort()}

    def publish(self, request, body) -> dict:
        task = self._task(request)
        task.publish()
        return {"id": task.id, "status": task.status}

    def delete(self, request, body) -> dict:
        task = self._task(request)
        task.delete()
        return {"id": task.id, "deleted": True}

    def save_parameters(self, request, body) -> dict:
        """``{"values": {"Section/name": value}}``: a string is read as the parameter's type (as on
        the command line); JSON numbers, booleans, lists and dicts are taken as they are."""
        values = body.get("values")
        if not isinstance(values, dict) or not values:
            raise ParameterError("Nothing to save: send {\"values\": {\"Section/name\": value}}.")
        task = self._task(request)
        task.update_parameters(values)
        return {"id": task.id, "parameters": parameter_rows(self.store.get_parameters(task.id))}

    def save_configuration(self, request, body) -> dict:
        """``{"name": ..., "text": ...}``; a dict configuration's text must be a JSON object."""
        name, text = body.get("name"), body.get("text")
        if not isinstance(name, str) or not isinstance(text, str):
            raise ParameterError("Send {\"name\": <configuration name>, \"text\": <its new text>}.")
        task = self._task(request)
        kinds = {c["name"]: c["kind"] for c in self.store.get_configurations(task.id)}
        if kinds.get(name) == "dict":
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ParameterError(f"Configuration {name!r} is a dict: its text must be JSON "
                                     f"({exc}).") from None
            if not isinstance(value, dict):
                raise ParameterError(f"Configuration {name!r} is a dict: give a JSON object {{...}}.")
            task.set_configuration_object(name, config_dict=value)
        else:
            task.set_configuration_object(name, config_text=text)
        return {"id": task.id, "name": name}


    def save_execution(self, request, body) -> dict:
        """A draft's execution edit: any of ``repository, branch, commit, entry_point,
        working_dir, python, image, image_arguments`` (text), ``argv`` (a list, or one
        shell-quoted string), ``packages`` (requirement lines), ``diff`` (text; "" drops it)."""
        from .execution_edit import ExecutionEdit, edit_execution

        texts = ("repository", "branch", "commit", "entry_point", "working_dir", "python", "image",
                 "image_arguments")
        unknown = set(body) - set(texts) - {"argv", "packages", "diff"}
        if unknown or not body:
            raise ExecutionEditError(f"Send a JSON object with some of {', '.join(texts)}, argv, packages, "
                                     f"diff{f' (unknown: {sorted(unknown)})' if unknown else ''}.")
        fields: dict[str, Any] = {}
        for key in texts:
            if body.get(key) is not None:
                fields[key] = _text_or_empty(body, key)
        argv = body.get("argv")
        if isinstance(argv, str):
            try:
                argv = shlex.split(argv)
            except ValueError as exc:
                raise ExecutionEditError(f"The arguments cannot be split as a command line: {exc}.") from None
        if argv is not None:
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ExecutionEditError("argv must be a list of strings or one command-line string.")
            fields["argv"] = argv
        packages = body.get("packages")
        if packages is not None:
            if not isinstance(packages, list) or not all(isinstance(line, str) for line in packages):
                raise ExecutionEditError("packages must be a list of requirement lines.")
            fields["packages"] = packages
        if body.get("diff") is not None:
            fields["diff"] = _text_or_empty(body, "diff").encode("utf-8")
        task_id = self._task_id(request)
        changed = edit_execution(self.store, task_id, ExecutionEdit(**fields))
        return {"id": task_id, "changed": changed}


def _text_or_empty(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ExecutionEditError(f"{key} must be a string.")
    return value


async def _not_found(request: "Request", exc: Exception) -> "Response":
    return _error(f"Not found: {request.url.path}", 404)


async def _not_allowed(request: "Request", exc: Exception) -> "Response":
    return _error(f"Method {request.method} is not allowed here.", 405)


def create_app(home: str | Path | None = None, token: str | None = None,
               hosts: "set[str] | frozenset[str] | None" = None, scope: str | None = None) -> "Starlette":
    """The web application for the store at ``home``. ``token`` guards it (default: a new random
    one, in ``app.state.token``); ``hosts`` are the names its ``Host`` header may carry (default:
    the loopback names); ``scope`` is the secret path prefix of its cookie (default: random, in
    ``app.state.scope``). Raises LocaltaskError without the ``ui`` extra."""
    _require_starlette()
    from starlette.routing import Mount

    scope = scope or secrets.token_urlsafe(12)
    ui = UI(home, token or secrets.token_urlsafe(24), scope)
    r, w = ui.route, (lambda fn: ui.route(fn, write=True))
    tid = "/api/tasks/{task_id:str}"
    routes = [
        Route("/", ui.index),
        Route("/static/{name:str}", ui.static),
        Route("/api/session", r(ui.session)),
        Route("/api/meta", r(ui.meta)),
        Route("/api/projects", r(ui.projects)),
        Route("/api/queues", r(ui.queues)),
        Route("/api/tasks", r(ui.tasks)),
        Route("/api/compare", r(ui.compare)),
        Route(tid, r(ui.task)),
        Route(tid + "/execution", r(ui.execution)),
        Route(tid + "/console", r(ui.console)),
        Route(tid + "/scalars", r(ui.scalars)),
        Route(tid + "/plots", r(ui.plots)),
        Route(tid + "/samples", r(ui.samples)),
        Route(tid + "/samples/{filename:str}", r(ui.sample)),
        Route(tid + "/artifacts/{name:str}", r(ui.artifact)),
        *[Route(f"{tid}/{action}", w(getattr(ui, action)), methods=["POST"])
          for action in ("clone", "reset", "enqueue", "dequeue", "abort", "publish", "delete")],
        Route(tid + "/parameters", w(ui.save_parameters), methods=["POST"]),
        Route(tid + "/configuration", w(ui.save_configuration), methods=["POST"]),
        Route(tid + "/execution", w(ui.save_execution), methods=["POST"]),
    ]
    app = Starlette(routes=[*routes, Mount(ui.prefix, routes=routes)],
                    exception_handlers={404: _not_found, 405: _not_allowed})
    app.add_middleware(HostGuard, hosts=frozenset(h.lower() for h in (hosts or LOOPBACK_HOSTS)))
    app.state.token = ui.token
    app.state.scope = scope
    app.state.home = ui.home
    return app


class HostGuard:
    """Refuse (403) every request whose ``Host`` header names another host than this page's
    own: a DNS-rebinding site sends its own name there."""

    def __init__(self, app, hosts: frozenset[str]):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            name = host_name(raw)
            if name not in self.hosts:
                response = _error(f"Refused: the address {raw or '(none)'} is not this page's own "
                                  f"({', '.join(sorted(self.hosts))}); open the address 'localtask ui' "
                                  "printed, or start it with --allow-host NAME for a name of yours.", 403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(host_header: str) -> str:
    """``'127.0.0.1:8080'`` -> ``'127.0.0.1'``, ``'[::1]:80'`` -> ``'::1'``, lower case."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def page_hosts(host: str, extra: "list[str] | tuple[str, ...]" = ()) -> frozenset[str]:
    """The names a page listening on ``host`` answers to: the loopback names, the address itself,
    and for a wildcard address this machine's names and addresses; plus ``extra``."""
    names = set(LOOPBACK_HOSTS) | {host_name(h) for h in extra} | {host.strip("[]").lower()}
    if host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        try:
            names |= {info[4][0].lower() for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return frozenset(n for n in names if n)


# --------------------------------------------------------------------- serving
def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LocaltaskError(f"Cannot listen on {host!r}: {exc.strerror}. Give an address such as "
                             "127.0.0.1 with --host.") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise LocaltaskError(f"Cannot listen on {host} port {port}: {exc.strerror}. Choose another "
                             "port with --port (0 picks a free one).") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def page_url(host: str, port: int, token: str, scope: str | None = None) -> str:
    """The address to print: the page under its cookie's prefix, with the token."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    path = f"/s/{scope}/" if scope else "/"
    return f"http://{shown}:{port}{path}?token={token}"


def serve(home: str | Path | None = None, host: str = "127.0.0.1", port: int = 8080,
          open_browser: bool = False, *, token: str | None = None, ready: threading.Event | None = None,
          log_level: str = "warning", allow_hosts: "list[str] | tuple[str, ...]" = ()) -> None:
    """Serve the page for the store at ``home`` until interrupted (Ctrl+C).

    Prints the page's address, which carries the access token, and warns when ``host`` is not
    a loopback address. ``port`` 0 picks a free port; ``allow_hosts`` are more names the page
    answers to (a tunnel's or a proxy's). Raises LocaltaskError when the ``ui``
    extra is missing or the address cannot be bound.
    """
    _require_starlette()
    import uvicorn

    app = create_app(home, token, hosts=page_hosts(host, allow_hosts))
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    url = page_url(host, port, app.state.token, app.state.scope)
    if not is_loopback(host):
        print(f"Warning: listening on {host}, not only on this machine: anyone who can reach this "
              "address and learns the token can change your tasks. Prefer the default 127.0.0.1 "
              "(with an SSH tunnel to reach it from elsewhere).", file=sys.stderr, flush=True)
    print(f"localtask ui: store {app.state.home}", flush=True)
    print(f"Open {url}", flush=True)
    print("(the address carries this session's access token; Ctrl+C stops)", flush=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    if ready is not None:
        threading.Thread(target=_signal_ready, args=(server, ready), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _signal_ready(server, ready: threading.Event) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    ready.set()
