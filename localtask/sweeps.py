"""Sweeps: one clone of a base task per combination of parameter values, each enqueued, and the
table of their parameters against their last scalar values.

Every clone of a sweep is tagged ``sweep:<id>`` and parented to the base, so a sweep is found
again by its id alone (``localtask compare --sweep ID``).
"""
from __future__ import annotations

import itertools
import os
import random as random_mod
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .exceptions import LocaltaskError

TAG_PREFIX = "sweep:"


class SweepError(LocaltaskError, ValueError):
    """A sweep asked for something that cannot be made (no values, an unknown parameter...)."""


@dataclass
class Sweep:
    """A sweep's id, its base task and its clones (ids, in combination order)."""

    id: str
    base_id: str
    task_ids: list[str] = field(default_factory=list)
    combinations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return TAG_PREFIX + self.id


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """``['Args/lr=0.1,0.01', 'seed=1,2']`` -> ``{'Args/lr': ['0.1', '0.01'], 'General/seed': [...]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SweepError(f"{item!r} is not of the form Section/name=v1,v2,... (as in Args/lr=0.1,0.01).")
        if "/" not in name:  # as --set: a bare name is a General/ parameter
            name = f"General/{name}"
        parts = [v.strip() for v in values.split(",")]
        if not any(parts):
            raise SweepError(f"{name} has no values: give them comma-separated, as in {name}=1,2,3.")
        grid[name] = parts
    return grid


def combinations(grid: Mapping[str, Sequence[Any]], random: int | None = None,
                 seed: int | None = None) -> list[dict[str, Any]]:
    """Every combination of ``grid``'s values (the first name varies slowest), or ``random`` of
    them drawn without repetition (with ``seed``, the same ones each time)."""
    if not grid:
        raise SweepError("A sweep needs at least one parameter with values (--grid Section/name=v1,v2).")
    for name, values in grid.items():
        if not values:
            raise SweepError(f"{name} has no values.")
    names = list(grid)
    every = [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]
    if random is None:
        return every
    if random < 1:
        raise SweepError(f"--random must be at least 1 (got {random}).")
    return random_mod.Random(seed).sample(every, min(random, len(every)))


def sweep(base: str, grid: Mapping[str, Sequence[Any]], *, random: int | None = None, seed: int | None = None,
          queue: str | None = "default", allow_new: bool = False,
          home: str | os.PathLike | None = None) -> Sweep:
    """Clone ``base`` once per combination of ``grid`` (``{'Args/lr': [0.1, 0.01], ...}``; string
    values are parsed as the parameter's type), name each after its values, and enqueue each on
    ``queue`` (None: leave them drafts). A parameter the base does not have is refused unless
    ``allow_new``. Nothing is left behind when a clone cannot be made."""
    from .task import Task

    source = Task.get_task(task_id=base, home=home)
    known = set(source.get_parameters())
    unknown = [n for n in grid if n not in known]
    if unknown and not allow_new:
        raise SweepError(f"Task {source.id[:8]} has no parameter {', '.join(unknown)}; its parameters are "
                         f"{', '.join(sorted(known)) or 'none'} (allow_new=True / --new adds them).")
    combos = combinations(grid, random, seed)
    if queue is not None:
        from .queue import check_queue_name

        check_queue_name(queue)
    result = Sweep(secrets.token_hex(4), source.id)
    made: list[Task] = []
    try:
        for combo in combos:
            label = " ".join(f"{name.rsplit('/', 1)[-1]}={value}" for name, value in combo.items())
            clone = Task.clone(source, name=f"{source.name} [{label}]", parent=source, home=source.store_home)
            made.append(clone)
            clone.add_tags([result.tag])
            clone.update_parameters(dict(combo))
            result.task_ids.append(clone.id)
            result.combinations.append(dict(combo))
        if queue is not None:
            for clone in made:
                Task.enqueue(clone, queue_name=queue, home=source.store_home)
    except BaseException:
        for clone in made:
            clone.delete(force=True)
        raise
    return result


def sweep_tasks(store, sweep_id: str) -> list[dict[str, Any]]:
    """The rows of a sweep's tasks, oldest first. Raises SweepError when there are none."""
    tag = sweep_id if sweep_id.startswith(TAG_PREFIX) else TAG_PREFIX + sweep_id
    rows = store.find_tasks(tags=[tag])
    if not rows:
        raise SweepError(f"No task carries the tag {tag!r}: is {sweep_id!r} the id that "
                         "'localtask sweep' printed?")
    return sorted(rows, key=lambda r: (r["created"], r["seq"]))


def sweep_table(store, sweep_id: str, metrics: Sequence[str] = ()) -> dict[str, Any]:
    """``{columns, rows}``: per task its id, status, the swept parameters, and the last value of
    each metric (``title/series``; all of them when none is named)."""
    from .task import Task

    rows = sweep_tasks(store, sweep_id)
    base = rows[0]["parent"]
    base_params = Task.get_task(task_id=base, home=store.home).get_parameters() if base else {}
    table = []
    swept: set[str] = set()
    for row in rows:
        task = Task.get_task(task_id=row["id"], home=store.home)
        params = task.get_parameters()
        changed = {k: v for k, v in params.items() if base_params.get(k, object()) != v}
        swept |= set(changed)
        last = {f"{title}/{series}": v["last"] for title, by_series in task.get_last_scalar_metrics().items()
                for series, v in by_series.items()}
        table.append({"id": row["id"], "name": row["name"], "status": row["status"], "params": params,
                      "metrics": last})
    names = sorted(swept)
    reported = {m for r in table for m in r["metrics"]}
    chosen = list(metrics) or sorted(reported)
    return {"sweep": sweep_id, "base": base, "parameters": names, "metrics": chosen,
            "unreported": [m for m in chosen if m not in reported],
            "rows": [{"id": r["id"], "name": r["name"], "status": r["status"],
                      **{n: r["params"].get(n) for n in names},
                      **{m: r["metrics"].get(m) for m in chosen}} for r in table]}
