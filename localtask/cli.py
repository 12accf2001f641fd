"""The ``localtask`` command line: thin commands that parse, call one library function, print.

Every :class:`~localtask.exceptions.LocaltaskError` becomes ``Error: <message>`` on stderr
and exit code 1 (see :class:`LocaltaskGroup`); read commands take ``--json``.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from typing import Any

import click

from .exceptions import IllegalTransitionError, LocaltaskError
from .status import TaskStatus
from .task_view import parameter_rows, task_view

#: seconds between two looks at the console log and the status in ``log --follow``.
FOLLOW_INTERVAL = 0.2
NAME_WIDTH = 40
RUNNING = (TaskStatus.queued.value, TaskStatus.in_progress.value)


class LocaltaskGroup(click.Group):
    """A group that prints library errors as ``Error: ...`` (exit 1) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IllegalTransitionError as exc:
            raise click.ClickException(self._refusal(ctx, exc)) from None
        except LocaltaskError as exc:
            raise click.ClickException(str(exc)) from None

    def _refusal(self, ctx: click.Context, exc: IllegalTransitionError) -> str:
        """The refusal with the hint this command can act on: ``--force`` only where it exists."""
        command = self.get_command(ctx, ctx.invoked_subcommand or "")
        has_force = command is not None and any(p.name == "force" for p in command.params)
        if exc.forceable:
            hint = "pass --force to do it anyway" if has_force else "the Python API can force it"
            if exc.operation == "enqueue" and exc.status in ("completed", "published"):
                # re-running a finished task is usually meant as a new run of it
                hint = (f"to run it again, clone it (localtask clone {exc.task_id[:8]}) and enqueue the clone, "
                        f"or reset it first (localtask reset {exc.task_id[:8]}); or {hint}")
        else:
            hint = exc.reason
        return exc.summary() + (f"; {hint}" if hint else "")


# --------------------------------------------------------------------- helpers
def _home(ctx: click.Context) -> str | None:
    return ctx.find_root().obj.get("home")


def _store(ctx: click.Context):
    from .store import Store

    return Store.open(_home(ctx))


def _get_task(ctx: click.Context, prefix: str):
    """The Task whose id starts with ``prefix`` (TaskNotFoundError / AmbiguousTaskIdError)."""
    from .task import Task

    full_id = _store(ctx).resolve_id(prefix)
    return Task.get_task(task_id=full_id, home=_home(ctx))


def _short(task_id: str | None) -> str:
    return task_id[:8] if task_id else "-"


def _fmt_time(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _fmt_size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _parse_sets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``('Args/lr=0.1', ...)`` -> ``{'Args/lr': '0.1'}`` (values stay strings)."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not of the form Section/name=value (as in Args/lr=0.01).",
                                     ctx=ctx, param=param)
        parsed[name.strip()] = value
    return parsed


def _param_line(full: str, raw_value: str, kind: str) -> str:
    return f"{full} = {raw_value} ({kind})"


def _print_set(store, task_id: str, names: list[str]) -> None:
    """Print the stored (parsed, typed) value of each parameter in ``names``."""
    from .params import split_name

    rows = {(r["section"], r["name"]): r for r in store.get_parameters(task_id)}
    for full in names:
        row = rows[split_name(full)]
        click.echo(f"Set {_param_line(row['section'] + '/' + row['name'], row['value'], row['type'])}")


def _param_names(task) -> list[str]:
    """The task's parameter names, read from the store rows (decoding every value would import
    the module of a recorded Enum, which the CLI's interpreter may not have)."""
    return [f"{r['section']}/{r['name']}" for r in task.store.get_parameters(task.id)]


def _new_params(task, names: list[str]) -> list[str]:
    """Those of ``names`` the task does not have yet (a typo adds a parameter silently)."""
    from .params import split_name

    existing = set(_param_names(task))
    full_names = ["/".join(split_name(full)) for full in names]
    return [full for full in full_names if full not in existing]


def _refuse_new_params(task, new: list[str]) -> None:
    """Refuse parameter names the task does not have (a typo), naming the close matches."""
    import difflib

    if not new:
        return
    existing = _param_names(task)
    parts = []
    for full in new:
        close = difflib.get_close_matches(full, existing, n=3, cutoff=0.8)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        parts.append(f"{full}{hint}")
    noun = "parameter" if len(new) == 1 else "parameters"
    raise click.ClickException(f"task {_short(task.id)}\u2026 has no {noun} {', '.join(parts)} "
                               "(--new adds it)")


def _note_new_params(task_id: str, new: list[str]) -> None:
    for full in new:
        click.echo(f"Note: {full} is a new parameter of task {_short(task_id)} "
                   "(not recorded by the original run).", err=True)


class Seconds(click.FloatRange):
    """A finite number of seconds in a range (click's FloatRange lets nan and inf through)."""

    def __init__(self, min: float = 0, max: float = 365 * 86400):
        super().__init__(min=min, max=max)

    def convert(self, value, param, ctx):
        seconds = super().convert(value, param, ctx)
        if seconds != seconds:  # nan compares false with both bounds
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return seconds


# --------------------------------------------------------------------- the group
@click.group(cls=LocaltaskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", metavar="DIR", type=click.Path(file_okay=False),
              help="Store folder (default: $LOCALTASK_HOME, else the user data folder).")
@click.version_option(package_name="localtask", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Record, clone, edit, reset, enqueue and re-run ML tasks from a local store.

    Task ids may be shortened to any unique prefix.
    """
    ctx.obj = {"home": home}


@cli.command()
@click.option("--home", "ui_home", metavar="DIR", type=click.Path(file_okay=False),
              help="Store folder (default: the one given to 'localtask --home', else $LOCALTASK_HOME, "
                   "else the user data folder).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any other than a loopback address lets other machines reach "
                   "the page: a warning is printed.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another name the page may be reached by (an SSH tunnel's or a proxy's; repeatable). "
                   "Requests naming any other host are refused.")
@click.option("--open", "open_browser", is_flag=True, help="Also open the page in the default web browser.")
@click.pass_context
def ui(ctx, ui_home, host, port, allow_hosts, open_browser):
    """Serve the task table and task pages as a web page, on this machine only by default.

    Prints the page's address, which carries an access token made for this run; Ctrl+C
    stops. Needs the 'ui' extra: pip install 'localtask[ui]'.
    """
    from .ui import serve

    serve(ui_home or _home(ctx), host=host, port=port, open_browser=open_browser, allow_hosts=allow_hosts)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (click itself exits quietly on a broken pipe)."""
    cli.main(args=argv, prog_name="localtask")


# --------------------------------------------------------------------- reading
@cli.command("list")
@click.option("--project", "-p", help="Only tasks of this project.")
@click.option("--status", "-s", "statuses", multiple=True,
              type=click.Choice([s.value for s in TaskStatus]),
              help="Only tasks with this status (repeat for several).")
@click.option("--tag", "-t", "tags", multiple=True, help="Only tasks with this tag (repeat: all of them).")
@click.option("--name", "-n", "name_contains", help="Only tasks whose name contains this text (any case).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many tasks (0: all).")
@click.option("--archived", "with_archived", is_flag=True, help="Also list archived tasks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx, project, statuses, tags, name_contains, limit, with_archived, as_json):
    """List tasks, newest first (archived ones with --archived)."""
    rows = _store(ctx).find_tasks(project=project, status=statuses or None, tags=tags or None,
                                  name_contains=name_contains, limit=limit or None,
                                  archived=None if with_archived else False)
    if as_json:
        keys = ("id", "project", "name", "type", "status", "status_reason", "tags", "comment", "parent",
                "queue", "worker", "created", "started", "completed", "last_update")
        _print_json([{k: r[k] for k in keys} for r in rows])
        return
    if not rows:
        click.echo(f"No tasks{' match' if project or statuses or tags or name_contains else ''} "
                   f"in the store {_store(ctx).home}.", err=True)
        return
    _print_table(
        ["ID", "PROJECT", "NAME", "STATUS", "TYPE", "QUEUE/WORKER", "CREATED", "PARENT"],
        [[_short(r["id"]), r["project"], _clip(r["name"], NAME_WIDTH), r["status"], r["type"],
          r["worker"] or r["queue"] or "-", _fmt_time(r["created"])[:16], _short(r["parent"])]
         for r in rows])


def _params_json(parameters: list[dict]) -> dict[str, dict[str, Any]]:
    """Parameter rows of a task view keyed by full name: ``{'Args/lr': {value, type, description}}``."""
    return {p["key"]: {"value": p["value"], "type": p["type"], "description": p["description"]}
            for p in parameters}


def _show_json(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "parameters": _params_json(view["parameters"]),
            "configurations": [{k: c[k] for k in ("name", "kind", "value", "description")}
                               for c in view["configurations"]]}


def _print_show(data: dict[str, Any]) -> None:
    def field(label: str, value: Any, indent: int = 0) -> None:
        click.echo(f"{' ' * indent}{label + ':':<{14 - indent}} {value}")

    field("Task", data["id"])
    field("Name", data["name"])
    field("Project", data["project"])
    field("Type", data["type"])
    status = data["status"]
    if data["abort_requested"]:
        status += " (abort requested)"
    field("Status", status)
    if data["status_reason"]:
        lines = data["status_reason"].splitlines()
        field("Reason", lines[0])
        for line in lines[1:]:
            click.echo(" " * 15 + line)
    if data["tags"]:
        field("Tags", ", ".join(data["tags"]))
    if data["comment"]:
        field("Comment", data["comment"])
    field("Parent", data["parent"] or "-")
    repro = data.get("reproduction")
    if repro:
        field("Reproduces", f"{repro['reference_id']}: {repro['verdict']}")
        for aspect in repro["details"].get("aspects", []):
            if aspect["verdict"] != "identical":
                details = aspect["details"]
                more = f"; more: localtask compare {repro['reference_id'][:8]} {data['id'][:8]}" if len(details) > 1 else ""
                click.echo(" " * 15 + f"{aspect['aspect']}: {aspect['verdict']}"
                           + (f" ({details[0]}{more})" if details else ""))
    for r in data.get("reproductions") or []:
        field("Reproduced", f"by {r['task_id']}: {r['verdict']}")
    field("Created", _fmt_time(data["created"]))
    field("Started", _fmt_time(data["started"]))
    completed = _fmt_time(data["completed"])
    if data["started"] and data["completed"]:
        completed += f" (ran {_fmt_duration(data['completed'] - data['started'])})"
    field("Completed", completed)
    field("Last update", _fmt_time(data["last_update"]))
    if data["queue"]:
        field("Queue", data["queue"])
    if data["worker"]:
        field("Worker", data["worker"])
    if data["host"]:
        field("Host", f"{data['host']} (pid {data['pid']})" if data["pid"] else data["host"])

    script, code = data["script"], data["code"]
    click.echo("Script:")
    if script.get("kind") == "git":
        repo = script.get("repository") or "-"
        if not script.get("remote"):
            repo += " (local path, no remote)"
        field("Repository", repo, 2)
        field("Branch", script.get("branch") or "- (detached)", 2)
        field("Commit", script.get("commit") or "- (no commit yet)", 2)
    elif script.get("kind") == "files":
        field("Source", f"{script.get('local_path')} (not in git: files stored)", 2)
    else:
        field("Source", "none (interactive session)", 2)
    if script.get("module"):
        field("Module", script["module"], 2)
    field("Entry point", script.get("entry_point") or "-", 2)
    field("Working dir", script.get("working_dir") or "-", 2)
    field("Arguments", shlex.join(script.get("argv") or []) or "-", 2)
    if code["kind"] == "diff":
        if code["size"]:
            files = code["files"]
            shown = ", ".join(files[:5]) + (f", ... (+{len(files) - 5})" if len(files) > 5 else "")
            summary = f"{len(files)} file{'s' if len(files) != 1 else ''}, {_fmt_size(code['size'])}: {shown}"
        else:
            summary = "none (the code is the commit as it is)"
        field("Diff", summary, 2)
    elif code["kind"] == "snapshot":
        field("Snapshot", f"{len(code['files'])} files, {_fmt_size(code['size'])}", 2)
    if code.get("error"):
        field("Code", code["error"], 2)

    env = data["environment"] or {}
    click.echo("Environment:")
    if env.get("python"):
        field("Python", f"{env['python']} ({env.get('implementation', '?')}) on "
                        f"{env.get('platform', '?')} {env.get('machine', '')}".rstrip()
              + (" (edited)" if env.get("python_edited") else ""), 2)
    if env.get("image"):
        field("Image", " ".join(filter(None, (env["image"], env.get("image_arguments")))), 2)
    packages = env.get("packages") or []
    click.echo(f"  Packages ({len(packages)}{', edited' if env.get('packages_edited') else ''}):")
    for pkg in packages:
        line = pkg.get("requirement") or (f"{pkg['name']}=={pkg['version']}" if pkg.get("version") else pkg["name"])
        if pkg.get("editable") and not pkg.get("requirement"):
            line += f" (editable: {pkg.get('path') or pkg.get('url', '?')})"
        elif pkg.get("vcs"):
            line += f" ({pkg['vcs']}: {pkg.get('url', '?')}@{pkg.get('commit', '?')})"
        elif pkg.get("url"):
            line += f" ({pkg['url']})"
        if pkg.get("required_by"):
            line += f" (required by {', '.join(pkg['required_by'])})"
        click.echo(f"    {line}")
    if env.get("drift"):
        _print_drift_summary(env["drift"])

    click.echo(f"Parameters ({len(data['parameters'])}):")
    for p in data["parameters"]:
        click.echo(f"  {_param_line(p['key'], p['text'], p['type'])}")
    names = [f"{c['name']} ({c['kind']})" for c in data["configurations"]]
    click.echo(f"Configuration objects ({len(names)}){':' if names else ''} {', '.join(names)}".rstrip())

    out = data["outputs"]
    click.echo("Outputs:")
    field("Scalars", f"{out['scalars']} point{'s' if out['scalars'] != 1 else ''}", 2)
    field("Plots", str(out["plots"]), 2)
    field("Samples", f"{out['debug_samples']} debug sample{'s' if out['debug_samples'] != 1 else ''}", 2)
    if out["single_values"]:
        click.echo("  Single values:")
        for name, value in out["single_values"].items():
            field(name, "-" if value is None else f"{value:g}", 4)
    click.echo(f"  Artifacts ({len(out['artifacts'])}):")
    for art in out["artifacts"]:
        click.echo(f"    {art['name']} ({art['type']}, {_fmt_size(art['size'])})")
    field("Console log", _fmt_size(out["console_log"]["size"]), 2)
    for role in ("input", "output"):
        models = data["models"][role]
        if models:
            click.echo(f"{role.capitalize()} models ({len(models)}):")
        for m in models:
            bits = [m["framework"], m["file"] or "no weights", _fmt_size(m["size"]) if m["size"] else "",
                    "tags " + ",".join(m["tags"]) if m["tags"] else "", "published" if m["published"] else "",
                    "missing from the store" if m["missing"] else ""]
            label = m["name"] if m["name"] == m["model_name"] else f"{m['name']} = {m['model_name']}"
            click.echo(f"  {label} {m['id'][:8]} ({', '.join(b for b in bits if b)})")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def show(ctx, task_id, as_json):
    """Show everything recorded for a task.

    Status, times, script, diff summary, packages, parameters, configuration objects and
    outputs.
    """
    store = _store(ctx)
    full_id = store.resolve_id(task_id)
    view = task_view(store, full_id)
    if as_json:
        _print_json(_show_json(view))
    else:
        _print_show(view)


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--set", "sets", multiple=True, metavar="SECTION/NAME=VALUE", callback=_parse_sets,
              help="Set a parameter (repeatable); the value is parsed as the parameter's type.")
@click.option("--force", is_flag=True,
              help="With --set: edit a task that is not a draft (never a published one).")
@click.option("--new", "allow_new", is_flag=True,
              help="With --set: allow adding a parameter the task does not have (else refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the parameters as JSON.")
@click.pass_context
def params(ctx, task_id, sets, force, allow_new, as_json):
    """Print a task's typed parameters, or change them with --set."""
    task = _get_task(ctx, task_id)
    if sets:
        new = _new_params(task, list(sets))
        if not allow_new:
            _refuse_new_params(task, new)
        task.edit_parameters(sets, force=force)
        _note_new_params(task.id, new)
        if not as_json:
            _print_set(_store(ctx), task.id, list(sets))
            return
    rows = _store(ctx).get_parameters(task.id)
    if as_json:
        _print_json(_params_json(parameter_rows(rows)))
    elif not rows:
        click.echo(f"Task {_short(task.id)} has no parameters.", err=True)
    else:
        for r in rows:
            click.echo(_param_line(f"{r['section']}/{r['name']}", r["value"], r["type"]))


def _emit_new(path, position: int, decoder, final: bool) -> int:
    """Print what was appended to ``path`` since ``position``; returns the new position.
    ``final``: no more bytes will come, so print an incomplete character too."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() < position:  # the log was truncated or replaced (reset): start again
                position = 0
            fh.seek(position)
            data = fh.read()
    except FileNotFoundError:
        return 0
    text = decoder.decode(data, final)
    if text:
        click.echo(text, nl=False)
        sys.stdout.flush()
    return position + len(data)


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing new output until the task is no longer queued or running.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (task id, status, log path and text).")
@click.pass_context
def log(ctx, task_id, follow, as_json):
    """Print a task's console output (stdout and stderr of its run)."""
    import codecs

    if follow and as_json:
        raise click.UsageError("--follow and --json cannot be used together.")
    store = _store(ctx)
    full_id = store.resolve_id(task_id)
    path = store.console_path(full_id)
    if as_json:
        status = store.get_task(full_id)["status"]
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        _print_json({"id": full_id, "status": status, "path": str(path), "text": text})
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    if not follow:
        if not _emit_new(path, 0, decoder, final=True):
            click.echo(f"No console output recorded for task {_short(full_id)}.", err=True)
        return
    position = 0
    try:
        while True:
            status = store.get_task(full_id)["status"]
            # Read after the status: whatever was written before the run ended is printed.
            position = _emit_new(path, position, decoder, final=status not in RUNNING)
            if status not in RUNNING:
                break
            time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("task_id", metavar="ID")
@click.pass_context
def diff(ctx, task_id):
    """Print the uncommitted diff recorded with a task.

    Apply it on the recorded commit with 'git apply'.
    """
    task = _get_task(ctx, task_id)
    script = task.get_script()
    if script.get("kind") != "git":
        kept = (f"a snapshot of {len(script.get('files', []))} file(s)" if script.get("kind") == "files"
                else "no code")
        click.echo(f"Task {_short(task.id)} was not recorded in a git repository: it has {kept}, "
                   "not a diff.", err=True)
        return
    data = task.get_diff()
    if not data:
        click.echo(f"Task {_short(task.id)} has no uncommitted changes: it ran at commit "
                   f"{(script.get('commit') or '?')[:12]} as committed.", err=True)
        return
    sys.stdout.flush()
    out = sys.stdout.buffer  # bytes as recorded: a diff may hold binary or non-UTF-8 text
    out.write(data)
    out.flush()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def queues(ctx, as_json):
    """List queues and how many tasks wait on each."""
    rows = _store(ctx).queue_counts()
    if as_json:
        _print_json([{"name": r["name"], "queued": r["queued"]} for r in rows])
        return
    _print_table(["QUEUE", "QUEUED"], [[r["name"], str(r["queued"])] for r in rows])


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--all", "include_kept", is_flag=True,
              help="Also remove the working copies kept by 'worker --keep-workdirs'.")
@click.option("--max-age", default=3600.0, show_default=True, type=click.FloatRange(0),
              metavar="SECONDS", help="Temporary files and orphan folders younger than this are left alone.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def gc(ctx, dry_run, include_kept, max_age, as_json):
    """Remove what killed runs left in the store folder.

    Working copies of runs that ended or whose worker died, half-built environments,
    temporary files of interrupted writes, folders of deleted tasks and dead holders of the
    shared-mode lock; and tasks left in progress by a script of this host whose process died
    (kill -9) end failed. Nothing a running task uses is touched. Every worker does this as it starts.
    """
    from . import leftovers

    store = _store(ctx)
    dead_runs = store.fail_dead_local_runs(os.uname().nodename, dry_run=dry_run)
    swept = leftovers.sweep(store, max_age=max_age, include_kept=include_kept, dry_run=dry_run)
    if as_json:
        _print_json({"dry_run": dry_run, "freed_bytes": swept.freed, "dead_locks": swept.dead_locks,
                     "dead_runs": dead_runs,
                     **{k: [str(p) for p in getattr(swept, k)]
                        for k in ("workdirs", "environments", "temp_files", "task_folders")}})
        return
    for run in dead_runs:
        click.echo(f"{'would fail' if dry_run else 'failed'} task {run['id']}: {run['reason']}")
    for path in (*swept.workdirs, *swept.environments, *swept.temp_files, *swept.task_folders):
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    click.echo(("Would remove: " if dry_run else "Removed: ") + swept.summary() + ".", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def workers(ctx, as_json):
    """List workers, their last heartbeat and the tasks they run."""
    now = time.time()
    rows = _store(ctx).list_workers()
    for r in rows:
        r["heartbeat_age"] = round(now - r["last_heartbeat"], 3)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("No workers.", err=True)
        return
    with_gpus = any(r["gpus"] for r in rows)
    _print_table(
        ["WORKER", "HOST", "PID", "QUEUES", "SLOTS", "STATE", "HEARTBEAT", "TASKS"] + (["GPUS"] if with_gpus else []),
        [[r["name"], r["host"], str(r["pid"]), ",".join(r["queues"]), str(r["slots"]), r["state"],
          f"{_fmt_duration(r['heartbeat_age'])} ago", ",".join(_short(t) for t in r["tasks"]) or "-"]
         + ([" ".join(f"{g['index']}:{_short(g['task']) if g['task'] else 'free'}" for g in r["gpus"]) or "-"]
            if with_gpus else [])
         for r in rows])


# --------------------------------------------------------------------- changing
# --------------------------------------------------------------------- create (issue 10: clearml-task)
@cli.command()
@click.option("--project", default="default", show_default=True, help="Project of the new draft.")
@click.option("--name", help="Name of the new draft (default: the script's name).")
@click.option("--repo", help="A local clone or a repository URL (default: the script's own repository).")
@click.option("--branch", help="Take the tip of this branch (default: the clone's HEAD).")
@click.option("--commit", help="Take this commit (default: the tip of --branch, or HEAD with its "
                               "uncommitted changes).")
@click.option("--script", required=True,
              help="The entry point: a path inside the repository, or '-m module'.")
@click.option("--cwd", "working_directory", help="Working directory, relative to the repository root.")
@click.option("--packages", multiple=True, metavar="REQUIREMENT",
              help="A requirement line (repeatable), e.g. 'numpy>=1.26'.")
@click.option("--requirements", "requirements_file", type=click.Path(dir_okay=False),
              help="A requirements file (default: the repository's requirements.txt).")
@click.option("--args", "argparse_args", multiple=True, metavar="NAME=VALUE",
              help="An argparse argument of the script (repeatable), e.g. --args lr=0.01.")
@click.option("--docker", help="Container image the task is meant to run in (recorded).")
@click.option("--task-type", default="training", show_default=True, help="ClearML task type.")
@click.option("--tags", multiple=True, help="A tag of the new draft (repeatable).")
@click.option("--queue", help="Enqueue the draft on this queue.")
@click.option("--json", "as_json", is_flag=True, help="Print the new task's id and status as JSON.")
@click.pass_context
def create(ctx, project, name, repo, branch, commit, script, working_directory, packages, requirements_file,
           argparse_args, docker, task_type, tags, queue, as_json):
    """Make a draft from a repository and a script without running it (as clearml-task).

    The code is pinned to a commit (with the uncommitted changes of a local clone when no
    --branch or --commit is given); a worker runs it once enqueued.
    """
    from .queue import check_queue_name
    from .task import Task

    if queue is not None:
        check_queue_name(queue)
    for pair in argparse_args:
        if "=" not in pair:
            raise click.UsageError(f"--args takes NAME=VALUE, not {pair!r}.")
    task = Task.create(project_name=project, task_name=name, task_type=task_type, repo=repo, branch=branch,
                       commit=commit, script=script, working_directory=working_directory,
                       packages=list(packages) or None, requirements_file=requirements_file,
                       argparse_args=[p.split("=", 1) for p in argparse_args], docker=docker,
                       home=_home(ctx))
    try:
        if tags:
            task.set_tags(list(tags))
        if queue is not None:
            Task.enqueue(task, queue, home=_home(ctx))
    except BaseException:
        task.delete(force=True)  # leave nothing half-made behind
        raise
    row = task.data
    if as_json:
        _print_json({"id": task.id, "status": row["status"], "project": row["project"], "name": row["name"],
                     "script": row["script"], "queue": row["queue"]})
        return
    script_row = row["script"]
    click.echo(f"Created task {task.id} ({row['status']}): {row['name']!r} in project {row['project']!r}")
    where = script_row.get("repository") or script_row.get("local_path")
    commit_text = (script_row.get("commit") or "")[:12]
    diff = f" + {_fmt_size(script_row['diff_size'])} of uncommitted changes" if script_row.get("diff_size") else ""
    click.echo(f"Code: {where} {commit_text}{diff}, entry point {script_row.get('entry_point') or script_row.get('module')}")
    if queue is not None:
        click.echo(f"Enqueued on queue {queue!r}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--name", help="Name of the clone (default: 'Clone of <name>').")
@click.option("--project", help="Project of the clone (default: the original's).")
@click.option("--comment", help="Comment of the clone.")
@click.option("--parent", "parent_id", metavar="ID",
              help="Parent of the clone (default: the original's parent, or the original itself).")
@click.option("--set-parent", is_flag=True, help="Make the original itself the clone's parent.")
@click.option("--set", "sets", multiple=True, metavar="SECTION/NAME=VALUE", callback=_parse_sets,
              help="Set a parameter of the clone (repeatable); the value is parsed as the parameter's type.")
@click.option("--new", "allow_new", is_flag=True,
              help="With --set: allow adding a parameter the task does not have (else refused).")
@click.option("--queue", help="Enqueue the clone on this queue.")
@click.pass_context
def clone(ctx, task_id, name, project, comment, parent_id, set_parent, sets, allow_new, queue):
    """Copy a task into a new draft, optionally edited and enqueued.

    The clone gets the configuration (code, environment, parameters, configuration objects)
    and none of the outputs.
    """
    from .queue import check_queue_name
    from .task import Task

    if parent_id and set_parent:
        raise click.UsageError("--parent and --set-parent cannot be used together.")
    if queue is not None:
        check_queue_name(queue)
    source = _get_task(ctx, task_id)
    if sets and not allow_new:
        _refuse_new_params(source, _new_params(source, list(sets)))
    parent = source if set_parent else (_get_task(ctx, parent_id) if parent_id else None)
    task = Task.clone(source, name=name, comment=comment, parent=parent, project=project,
                      home=_home(ctx))
    new = []
    try:
        if sets:
            new = _new_params(task, list(sets))
            task.update_parameters(sets)
        if queue is not None:
            Task.enqueue(task, queue, home=_home(ctx))
    except BaseException:
        task.delete(force=True)  # leave nothing half-made behind
        raise
    _note_new_params(task.id, new)
    row = task.data
    click.echo(f"Created task {task.id} ({row['status']}): {row['name']!r} in project "
               f"{row['project']!r}, a clone of {source.id}")
    click.echo(f"Parent: {row['parent']}")
    if sets:
        _print_set(_store(ctx), task.id, list(sets))
    if queue is not None:
        click.echo(f"Enqueued on queue {queue!r}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--delete-artifacts", is_flag=True, help="Delete the task's artifacts too.")
@click.option("--force", is_flag=True, help="Reset a queued or running task too (never a published one).")
@click.pass_context
def reset(ctx, task_id, delete_artifacts, force):
    """Make a task a draft again, deleting its outputs.

    The console log and scalars are deleted, artifacts only with --delete-artifacts; the
    configuration (code, environment, parameters) is kept.
    """
    task = _get_task(ctx, task_id)
    task.reset(force=force, delete_artifacts=delete_artifacts)
    kept = "deleted" if delete_artifacts else "kept"
    click.echo(f"Reset task {task.id}: now {task.status}; console log and scalars deleted, "
               f"artifacts {kept}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--queue", "-q", default="default", show_default=True, help="Queue to put the task on.")
@click.option("--priority", default=0, show_default=True, type=int,
              help="Higher runs sooner among the tasks of the queue.")
@click.option("--force", is_flag=True, help="Enqueue a completed task too (without resetting it).")
@click.pass_context
def enqueue(ctx, task_id, queue, priority, force):
    """Put a task on a queue for a worker to run."""
    from .task import Task

    task = Task.enqueue(_get_task(ctx, task_id), queue, priority=priority, force=force, home=_home(ctx))
    suffix = f" (priority {priority})" if priority else ""
    click.echo(f"Enqueued task {task.id} on queue {queue!r}{suffix}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.pass_context
def dequeue(ctx, task_id):
    """Take a queued task off its queue.

    The task gets back the status it had before it was enqueued.
    """
    from .task import Task

    task = Task.dequeue(_get_task(ctx, task_id), home=_home(ctx))
    click.echo(f"Dequeued task {task.id}: now {task.status}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.pass_context
def abort(ctx, task_id):
    """Stop a queued or running task.

    A queued task leaves its queue; a running one is killed by its worker.
    """
    task = _get_task(ctx, task_id)
    status = task.abort()
    if status == TaskStatus.in_progress.value:
        click.echo(f"Abort requested for task {task.id}: its worker will stop it (still {status})")
    else:
        click.echo(f"Aborted task {task.id}: now {status}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--force", is_flag=True, help="Publish a draft or failed task too.")
@click.pass_context
def publish(ctx, task_id, force):
    """Make a completed task read-only (it can still be cloned)."""
    task = _get_task(ctx, task_id)
    task.publish(force=force)
    click.echo(f"Published task {task.id}")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--force", is_flag=True, help="Delete a running task too (never a published one).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx, task_id, force, yes):
    """Delete a task with all its outputs and files."""
    task = _get_task(ctx, task_id)
    if not yes:
        row = task.data
        click.confirm(f"Delete task {task.id} {row['name']!r} ({row['status']}) and all its outputs?",
                      abort=True, err=True)
    task.delete(force=force)
    click.echo(f"Deleted task {task.id}")


# --------------------------------------------------------------------- running
@cli.command()
@click.option("--queue", "-q", "queue_names", multiple=True, default=("default",), show_default=True,
              help="Queue to take tasks from (repeatable; earlier queues first).")
@click.option("--slots", type=click.IntRange(min=1),
              help="Number of tasks to run at the same time (default: 1, or one per GPU with --gpus).")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty and all tasks have ended.")
@click.option("--env", "env", type=click.Choice(["current", "venv"]), default="current", show_default=True,
              help="Run tasks with this interpreter ('current') or in a cached virtual environment "
                   "built from the recorded packages ('venv').")
@click.option("--wheels", type=click.Path(exists=True, file_okay=False),
              help="Folder of wheels to build virtual environments from, offline (default: the store's "
                   "wheel cache, filled by 'localtask import', when it has every package).")
@click.option("--name", help="Worker name (default: host and process id).")
@click.option("--keep-workdirs", is_flag=True, help="Keep each task's working copy after it ends.")
@click.option("--requeue-lost", is_flag=True,
              help="Re-queue tasks of dead workers instead of marking them failed.")
@click.option("--lost-timeout", default=30.0, show_default=True, type=Seconds(min=0),
              metavar="SECONDS", help="A worker silent for this long is considered dead.")
@click.option("--grace", default=10.0, show_default=True, type=Seconds(min=0), metavar="SECONDS",
              help="Time a task gets to exit after SIGTERM before it is killed.")
@click.option("--poll-interval", default=0.5, show_default=True, type=Seconds(min=0.01, max=3600),
              metavar="SECONDS", help="Seconds between two looks at the queues.")
@click.option("--quiet", "quiet", is_flag=True,
              help="Print only warnings and errors, not a line per task started and ended.")
@click.option("--container", type=click.Choice(["docker", "podman"]),
              help="Run each task that has a container image inside it with this engine (without it "
                   "such a task fails: it never runs outside its image).")
@click.option("--strict-env", is_flag=True,
              help="Fail a task before its script starts when its environment differs from the record "
                   "(see 'localtask drift ID').")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="Run tasks in local slots, or submit each as a Slurm job ('slurm').")
@click.option("--partition", help="Slurm: the partition to submit to.")
@click.option("--gres", help="Slurm: generic resources per job, e.g. gpu:1.")
@click.option("--cpus", type=click.IntRange(min=1), help="Slurm: CPUs per job (--cpus-per-task).")
@click.option("--mem", help="Slurm: memory per job, e.g. 8G.")
@click.option("--time", "time_limit", metavar="TIME", help="Slurm: time limit per job, e.g. 4:00:00.")
@click.option("--sbatch-arg", "sbatch_args", multiple=True, metavar="ARG",
              help="Slurm: one more sbatch argument for every job (repeatable), e.g. --sbatch-arg=--qos=long.")
@click.option("--max-jobs", default=16, show_default=True, type=click.IntRange(min=1),
              help="Slurm: jobs submitted and not ended at most (the executor's slots).")
@click.option("--slurm-poll", default=5.0, show_default=True, type=Seconds(min=0.1, max=3600),
              metavar="SECONDS", help="Slurm: seconds between two looks at squeue for jobs that died.")
@click.option("--array-jobs", is_flag=True,
              help="Slurm: submit tasks claimed together with equal resources (a sweep) as one array job.")
@click.option("--gpus", metavar="all|0,1,...",
              help="Give each task its own GPUs (CUDA_VISIBLE_DEVICES) from these devices, as "
                   "nvidia-smi lists them; a task takes Resources/gpus of them (default: devices "
                   "per slot) and waits until that many are free.")
@click.pass_context
def worker(ctx, queue_names, slots, burst, env, wheels, name, keep_workdirs, requeue_lost, lost_timeout,
           grace, poll_interval, quiet, executor, partition, gres, cpus, mem, time_limit, sbatch_args,
           max_jobs, slurm_poll, array_jobs, container, strict_env, gpus):
    """Run queued tasks.

    Prints a line when it starts, and when each task starts and ends (on stderr).
    Ctrl-C (or SIGTERM) once lets running tasks finish; a second time stops them.
    """
    import logging

    from .worker import Worker

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("localtask")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)

    common = {"home": _home(ctx), "queues": list(queue_names), "name": name, "env": env, "wheels": wheels,
              "burst": burst, "keep_workdirs": keep_workdirs, "requeue_lost": requeue_lost,
              "lost_timeout": lost_timeout, "grace": grace, "poll_interval": poll_interval,
              "container": container, "strict_env": strict_env}
    if executor == "slurm":
        if gpus:
            raise click.UsageError("--gpus is for local slots: with --executor slurm, ask Slurm for them "
                                   "(--gres gpu:N, or a task's Slurm/gres).")
        from .slurm import Resources
        from .slurm_worker import SlurmWorker

        resources = Resources(partition=partition, gres=gres, cpus=cpus, mem=mem, time=time_limit,
                              sbatch_args=tuple(sbatch_args))
        sys.exit(SlurmWorker(max_jobs=max_jobs, resources=resources, slurm_poll=slurm_poll, array=array_jobs,
                             **common).run())
    if any((partition, gres, cpus, mem, time_limit, sbatch_args, array_jobs)):
        raise click.UsageError("--partition, --gres, --cpus, --mem, --time, --sbatch-arg and --array-jobs "
                               "need --executor slurm.")
    sys.exit(Worker(slots=slots, gpus=gpus, **common).run())


@cli.command("run-task")
@click.argument("task_id", metavar="ID")
@click.option("--worker", "worker_name", required=True, help="The worker that claimed the task.")
@click.option("--env", "env", type=click.Choice(["current", "venv"]), default="current", show_default=True,
              help="Run the task with this interpreter or a virtual environment of its packages.")
@click.option("--wheels", type=click.Path(exists=True, file_okay=False),
              help="Folder of wheels to build virtual environments from, offline.")
@click.option("--grace", default=10.0, show_default=True, type=Seconds(min=0), metavar="SECONDS",
              help="Time the task gets to exit after SIGTERM before it is killed.")
@click.option("--container", type=click.Choice(["docker", "podman"]),
              help="Run the task in its container image with this engine, if it has one.")
@click.option("--strict-env", is_flag=True,
              help="Fail the task before its script starts when its environment differs from the record.")
@click.pass_context
def run_task(ctx, task_id, worker_name, env, wheels, grace, container, strict_env):
    """Run one task a worker claimed, here (the command of a Slurm job).

    Rebuilds the code and runs it as a worker's slot does, writing the console and the end
    under the worker's name; exit code 0 when the task completed.
    """
    import logging

    from .slurm_job import JobRunner

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("localtask")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    sys.exit(JobRunner(task_id, worker_name, home=_home(ctx), env=env, wheels=wheels, grace=grace,
                       container=container, strict_env=strict_env).run())


# --------------------------------------------------------------------- environment drift
def _print_drift_summary(verdict: dict[str, Any], indent: str = "  ") -> None:
    from . import drift as drift_mod

    who = f"worker {verdict.get('worker')}, --env {verdict.get('env')}, {_fmt_time(verdict.get('checked'))}"
    if verdict.get("error"):
        click.echo(f"{indent}Drift:        not compared ({verdict['error']}; {who})")
        return
    click.echo(f"{indent}Drift:        {drift_mod.summary(verdict)} ({who})")
    for line in drift_mod.warnings(verdict, prefix=""):
        click.echo(f"{indent}  {line}")


def _print_drift(verdict: dict[str, Any], left: str, right: str) -> None:
    from . import drift as drift_mod

    click.echo(drift_mod.summary(verdict))
    python, plat = verdict["python"], verdict["platform"]
    rows = [["Python", python["recorded"] or "-", python["running"] or "-", python["state"].replace("_", " ")],
            ["platform", plat["recorded"] or "-", plat["running"] or "-", plat["state"]]]
    states = {"other_version": "other version", "missing": f"only in {left}", "extra": f"only in {right}",
              "provided": "provided by the worker"}
    if right == "here":
        states.update(missing="missing here", extra="imported, not recorded")
    for row in verdict["packages"]:
        rows.append([row["name"], row["recorded"] or "-", row["running"] or "-", states[row["state"]]])
    _print_table(["", left, right, ""], rows)
    same = verdict["counts"]["same"]
    click.echo(f"({same} package{'s' if same != 1 else ''} the same)")


@cli.command()
@click.argument("task_id", metavar="ID")
@click.argument("other_id", metavar="[OTHER]", required=False)
@click.option("--here", is_flag=True,
              help="Compare the task's record with this interpreter instead of showing the worker's verdict.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.pass_context
def drift(ctx, task_id, other_id, here, as_json):
    """How a task's environment differs from what was recorded.

    ID alone: the verdict of the worker that last ran it (each package the same, at another
    version, missing, or imported by the code but not recorded; Python; platform). With OTHER:
    the recorded environments of the two tasks side by side. --here: the record against this
    interpreter.
    """
    from . import drift as drift_mod

    store = _store(ctx)
    first = store.get_task(store.resolve_id(task_id))
    env = first["environment"] or {}
    if other_id:
        second = store.get_task(store.resolve_id(other_id))
        verdict = drift_mod.compare_tasks(env, second["environment"] or {})
        labels = (_short(first["id"]), _short(second["id"]))
    elif here:
        verdict = drift_mod.compare(env, drift_mod.inventory_here(store.cache_dir))
        labels = ("recorded", "here")
    else:
        verdict = env.get(drift_mod.KEY)
        labels = ("recorded", "ran with")
        if verdict is None:
            if as_json:
                _print_json({"task": first["id"], "drift": None})
                return
            click.echo(f"Task {first['id']} has no verdict: no worker has run it since it was recorded, "
                       f"cloned or reset. Compare its record with this interpreter: localtask drift "
                       f"{_short(first['id'])} --here; with another task: localtask drift "
                       f"{_short(first['id'])} OTHER")
            return
    if as_json:
        _print_json({"task": first["id"], **({"other": store.resolve_id(other_id)} if other_id else {}),
                     "drift": verdict})
        return
    if verdict.get("error"):
        click.echo(f"Not compared when it ran: {verdict['error']}")
        return
    if not other_id and not here:
        click.echo(f"Checked by worker {verdict.get('worker')} (--env {verdict.get('env')}, "
                   f"{verdict.get('executable')}) at {_fmt_time(verdict.get('checked'))}")
    _print_drift(verdict, *labels)


# --------------------------------------------------------------------- edit (a draft's execution)
@cli.command()
@click.argument("task_id", metavar="ID")
@click.option("--repo", help="Repository: a git URL, or the path of a local clone (its checked-out "
                             "commit and branch unless given).")
@click.option("--branch", help="Branch; alone, the task runs the branch's head commit as of now.")
@click.option("--commit", help="Commit (a full id, a unique prefix, or a tag).")
@click.option("--entry-point", help="Script to run, relative to the repository root.")
@click.option("--working-dir", help="Folder to run in, relative to the repository root.")
@click.option("--argv", help="The script's command-line arguments, as one shell-quoted string "
                             "('' for none).")
@click.option("--diff", "diff_file", type=click.Path(exists=True, dir_okay=False),
              help="Replace the uncommitted diff with this patch file (it must apply to the commit).")
@click.option("--no-diff", is_flag=True, help="Drop the uncommitted diff.")
@click.option("--packages", "packages_file", type=click.Path(exists=True, dir_okay=False),
              help="Replace the package list with this requirements file.")
@click.option("--set-package", "set_packages", multiple=True, metavar="REQ",
              help="Add or change a package (numpy==1.26.4, 'torch>=2'); repeatable.")
@click.option("--remove-package", "remove_packages", multiple=True, metavar="NAME",
              help="Remove a package from the list; repeatable.")
@click.option("--python", help="The Python version to run with (3.X): the worker finds that interpreter.")
@click.option("--image", help="Container image to run in ('' removes it); needs a worker with --container.")
@click.option("--image-args", help="Extra arguments of the container run ('-e A=1 --gpus all').")
@click.option("--json", "as_json", is_flag=True, help="Print the changed fields as JSON.")
@click.pass_context
def edit(ctx, task_id, repo, branch, commit, entry_point, working_dir, argv, diff_file, no_diff,
         packages_file, set_packages, remove_packages, python, image, image_args, as_json):
    """Edit a draft's execution: code, packages, Python, container image.

    Every change is checked (the commit or branch exists in the repository, the diff applies,
    the entry point is there, each requirement is well formed, the image name is one) before
    anything is written; on any error nothing changes. Only drafts can be edited.
    """
    from pathlib import Path

    from .execution_edit import ExecutionEdit, edit_execution

    if diff_file and no_diff:
        raise click.UsageError("--diff and --no-diff cannot be combined.")
    try:
        argv_list = None if argv is None else shlex.split(argv)
    except ValueError as exc:
        raise click.BadParameter(f"cannot be split as a command line: {exc}", param_hint="--argv") from None
    diff = Path(diff_file).read_bytes() if diff_file else (b"" if no_diff else None)
    change = ExecutionEdit(repository=repo, branch=branch, commit=commit, entry_point=entry_point,
                           working_dir=working_dir, argv=argv_list, diff=diff, packages=packages_file,
                           set_packages=list(set_packages), remove_packages=list(remove_packages),
                           python=python, image=image, image_arguments=image_args)
    if change.empty():
        raise click.UsageError("Nothing to edit: give at least one option (see --help).")
    store = _store(ctx)
    full_id = store.resolve_id(task_id)
    changed = edit_execution(store, full_id, change, say=lambda text: click.echo(text, err=True))
    args = [f"{r['section']}/{r['name']}" for r in store.get_parameters(full_id) if r["section"] == "Args"]
    if argv_list is not None and args:
        click.echo(f"Note: the draft's {', '.join(args[:5])}{', ...' if len(args) > 5 else ''} are handed to "
                   "the script's argparse over its argv on the run (as ClearML does); change them with "
                   f"'localtask params {_short(full_id)} --set Args/NAME=VALUE'.", err=True)
    if as_json:
        _print_json({"id": full_id, "changed": changed})
    elif changed:
        click.echo(f"edited {_short(full_id)}: {', '.join(changed)} (see: localtask show {_short(full_id)})")
    else:
        click.echo(f"{_short(full_id)}: nothing changed (the values were already those)")


@cli.command()
@click.pass_context
def demo(ctx):
    """Run the whole loop on the store: record the toy task, clone it with an edited
    parameter, enqueue the clone and run it with a burst worker, printing the ids."""
    try:
        from .demo import main as demo_main
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.demo":
            raise
        raise click.ClickException("The demo is not available in this version of localtask.") from None
    demo_main(_home(ctx))


# --------------------------------------------------------------------- bundles (air-gapped labs)
@cli.command("export")
@click.argument("task_ids", nargs=-1)
@click.option("--project", "-p", help="Only tasks of this project.")
@click.option("--status", "-s", "statuses", multiple=True,
              type=click.Choice([s.value for s in TaskStatus]),
              help="Only tasks with this status (repeat for several).")
@click.option("--tag", "-t", "tags", multiple=True, help="Only tasks with this tag (repeat: all of them).")
@click.option("--with-outputs", is_flag=True,
              help="Also the console, scalars, plots, debug samples, artifacts and models.")
@click.option("--wheels", is_flag=True, help="Also wheels of every recorded package (pip download).")
@click.option("--wheels-from", type=click.Path(exists=True, file_okay=False),
              help="Take the wheels from this local folder instead of an index (implies --wheels).")
@click.option("--platform", "platform_", metavar="TAG",
              help="Wheels for this platform, e.g. manylinux2014_x86_64 (default: this machine's).")
@click.option("--python-version", metavar="X.Y", help="Wheels for this Python version (default: this one's).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The bundle file to write.")
@click.pass_context
def export_(ctx, task_ids, project, statuses, tags, with_outputs, wheels, wheels_from, platform_,
            python_version, output):
    """Write tasks into one bundle file for another store (an air-gapped lab).

    TASK_IDS (unique prefixes) and the filters select the tasks: all that match, among the
    ids when given. The bundle holds their rows, code (recorded diffs and a git bundle of
    their commits) and, as asked, outputs and wheels, with a checksum per member.
    """
    from .bundle import export_tasks

    report = export_tasks(task_ids, output=output, project=project, status=statuses, tags=tags,
                          with_outputs=with_outputs, wheels=wheels, wheels_from=wheels_from,
                          platform=platform_, python_version=python_version, home=_home(ctx),
                          say=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {report.path}: {len(report.task_ids)} task(s), {report.commits} commit(s), "
               f"{len(report.wheels)} wheel(s), {_fmt_size(report.size)}")


@cli.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="Replace tasks that exist here with other content.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def import_(ctx, bundle, replace, as_json):
    """Add the tasks of a bundle file to this store, keeping their ids.

    A second import of the same bundle changes nothing; a task that exists here with other
    content is reported and skipped (--replace takes the bundle's). Commits go into the git
    mirror cache, wheels into the wheel cache that 'worker --env venv' uses offline.
    """
    from .bundle import import_bundle

    report = import_bundle(bundle, replace=replace, home=_home(ctx), say=lambda m: click.echo(m, err=True))
    if as_json:
        _print_json({"imported": report.imported, "replaced": report.replaced, "unchanged": report.unchanged,
                     "conflicts": report.conflicts, "commits": report.commits, "wheels": report.wheels})
        return
    for task_id, why in report.conflicts.items():
        click.echo(f"skipped {task_id}: {why}", err=True)
    click.echo(f"imported {len(report.imported)}, replaced {len(report.replaced)}, unchanged "
               f"{len(report.unchanged)}, skipped {len(report.conflicts)} task(s); {report.commits} "
               f"commit(s), {report.wheels} wheel(s) added")


from .cli_repro import COMMANDS as _REPRO_COMMANDS  # noqa: E402  (they use the helpers above)

for _command in _REPRO_COMMANDS:
    cli.add_command(_command)
