"""The CLI's reproduction commands: ``reproduce``, ``compare`` and ``sweep`` (registered on the
``localtask`` group by :mod:`localtask.cli`)."""
from __future__ import annotations

import click

from .cli import _get_task, _home, _print_json, _print_table, _store


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--queue", default="default", show_default=True, help="Queue the reproduction runs from.")
@click.option("--wait", is_flag=True, help="Wait until it has run, then print the verdict (exit 1 unless identical/close).")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS", help="With --wait: give up after this long.")
@click.option("--rtol", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Relative tolerance for scalars and single values ('close' instead of 'differ').")
@click.option("--atol", default=0.0, show_default=True, type=click.FloatRange(min=0), help="Absolute tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reproduce(ctx, task_id, queue, wait, timeout, rtol, atol, as_json):
    """Clone a task, run the clone, and judge it against the original.

    The verdict covers code, parameters, configuration, environment, console (times, ids and
    paths left out), scalars (per series, with the first differing iteration), plots, debug
    samples, single values and artifacts. A worker serving the queue runs the clone and stores
    the verdict; 'localtask show CLONE' prints it.
    """
    from .queue import check_queue_name
    from .reproduction import reproduce as reproduce_task

    check_queue_name(queue)
    original = _get_task(ctx, task_id)
    if wait and not _served(_store(ctx), queue):
        click.echo(f"Note: no live worker serves queue {queue!r} now; the reproduction waits there until "
                   f"one does (localtask worker --queue {queue}).", err=True)
    try:
        mark = reproduce_task(original.id, queue=queue, wait=wait, timeout=timeout, rtol=rtol, atol=atol,
                              home=_home(ctx))
    except TimeoutError as exc:
        clone = getattr(exc, "task_id", None) or "the clone"
        raise click.ClickException(
            f"{exc} It stays queued: the verdict is stored once a worker has run it (localtask show "
            f"{clone}); to give it up: localtask dequeue {clone}, then localtask delete {clone}.") from None
    if as_json:
        _print_json(mark)
    elif mark["verdict"] == "pending":
        click.echo(f"Reproduction {mark['task_id']} of {original.id} enqueued on {queue!r}; its verdict is "
                   f"stored when it has run (localtask show {mark['task_id'][:8]}).")
    else:
        click.echo(_table(mark["details"]))
    if wait and mark["verdict"] not in ("identical", "close"):
        ctx.exit(1)


@click.command()
@click.argument("task_ids", metavar="[A B]", nargs=-1)
@click.option("--sweep", "sweep_id", metavar="SWEEP", help="Tabulate a sweep's tasks instead (the id 'sweep' printed).")
@click.option("--metric", "metrics", multiple=True, metavar="TITLE/SERIES",
              help="With --sweep: the last value of this scalar (repeatable; default: every one).")
@click.option("--rtol", default=0.0, show_default=True, type=click.FloatRange(min=0), help="Relative tolerance.")
@click.option("--atol", default=0.0, show_default=True, type=click.FloatRange(min=0), help="Absolute tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def compare(ctx, task_ids, sweep_id, metrics, rtol, atol, as_json):
    """Compare task B with task A aspect by aspect, or tabulate a sweep.

    Exit status 1 when they differ (beyond the tolerances).
    """
    store = _store(ctx)
    if sweep_id:
        if task_ids:
            raise click.UsageError("Give either two task ids or --sweep, not both.")
        from .sweeps import sweep_table

        table = sweep_table(store, sweep_id, metrics)
        for metric in table["unreported"]:
            click.echo(f"Note: no task of sweep {sweep_id} reported {metric!r} (title/series, as in "
                       "'localtask show ID').", err=True)
        if as_json:
            _print_json(table)
            return
        headers = ["id", "status", *table["parameters"], *table["metrics"]]
        _print_table(headers, [[r["id"][:8], r["status"], *(_cell(r[h]) for h in headers[2:])]
                               for r in table["rows"]])
        return
    if len(task_ids) != 2:
        raise click.UsageError("compare needs two task ids (A B), or --sweep SWEEP.")
    from .compare import compare_tasks

    a, b = (_get_task(ctx, t).id for t in task_ids)
    comparison = compare_tasks(store, a, b, rtol=rtol, atol=atol)
    if as_json:
        _print_json(comparison.to_dict())
    else:
        click.echo(comparison.table())
    if comparison.verdict == "differ":
        ctx.exit(1)


@click.command("sweep")
@click.argument("base_id", metavar="BASE")
@click.option("--grid", "grids", multiple=True, required=True, metavar="SECTION/NAME=V1,V2,...",
              help="A parameter and its values (repeatable: every combination is run).")
@click.option("--random", "random_count", type=click.IntRange(min=1), metavar="N",
              help="Only N combinations drawn at random from the grid.")
@click.option("--seed", type=int, help="With --random: the same draw each time.")
@click.option("--queue", default="default", show_default=True, help="Queue the clones are put on.")
@click.option("--no-enqueue", is_flag=True, help="Leave the clones as drafts.")
@click.option("--new", "allow_new", is_flag=True, help="Allow a parameter the base task does not have.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sweep_command(ctx, base_id, grids, random_count, seed, queue, no_enqueue, allow_new, as_json):
    """Clone BASE once per combination of parameter values, and enqueue the clones.

    Each clone is named after its values, parented to BASE and tagged sweep:<id>;
    'localtask compare --sweep ID' tabulates them.
    """
    from .sweeps import parse_grid, sweep

    base = _get_task(ctx, base_id)
    made = sweep(base.id, parse_grid(grids), random=random_count, seed=seed,
                 queue=None if no_enqueue else queue, allow_new=allow_new, home=_home(ctx))
    count = len(made.task_ids)
    if random_count and random_count > count:
        click.echo(f"Note: the grid has {count} combination(s), fewer than --random {random_count}: "
                   "each is made once.", err=True)
    if as_json:
        _print_json({"sweep": made.id, "base": made.base_id, "tasks": [
            {"id": t, "parameters": c} for t, c in zip(made.task_ids, made.combinations)]})
        return
    for task_id, combo in zip(made.task_ids, made.combinations):
        click.echo(f"{task_id}  " + "  ".join(f"{k}={v}" for k, v in combo.items()))
    where = "drafts" if no_enqueue else f"enqueued on {queue!r}"
    click.echo(f"Sweep {made.id}: {count} clone{'s' if count != 1 else ''} of {base.id[:8]}, {where}. "
               f"See them: localtask compare --sweep {made.id}", err=True)


def _served(store, queue: str) -> bool:
    """Whether a worker that is not lost watches ``queue``."""
    return any(queue in (w.get("queues") or []) and w.get("state") != "lost" for w in store.list_workers())


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _table(details: dict) -> str:
    from .compare import Aspect, Comparison

    aspects = [Aspect(a["aspect"], a["verdict"], list(a["details"])) for a in details.get("aspects", [])]
    return Comparison(details["a"], details["b"], aspects, details.get("rtol", 0.0), details.get("atol", 0.0)).table()


COMMANDS = (reproduce, compare, sweep_command)
