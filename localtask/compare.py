"""Compare two tasks aspect by aspect: code, parameters, configuration, environment, console,
scalars, plots, debug samples, single values, artifacts and models.

Each aspect gets one verdict (``identical``, ``close`` when every scalar difference is within
the tolerances, ``differ``) with the lines that say where; the whole comparison is as good as
its worst aspect. ``localtask compare A B`` and ``localtask reproduce`` print this table.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

IDENTICAL, CLOSE, DIFFER = "identical", "close", "differ"
_RANK = {IDENTICAL: 0, CLOSE: 1, DIFFER: 2}
#: how many differences each aspect lists before it says "... and N more"
MAX_DETAILS = 8

#: what changes between two runs of the same code and is not a result: times, durations, ids,
#: temporary and working-copy paths, memory addresses, process ids
_NOISE = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms|sec|seconds)\b"), "<duration>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{8}\b(?=\))"), "<id>"),
    (re.compile(r"0x[0-9a-f]{6,16}"), "<address>"),
    (re.compile(r"\b(pid|PID)([ =:]+)\d+\b"), r"\1\2<pid>"),
    (re.compile(r"(?:/[\w.+-]+)*/(?:tmp|cache/work|pytest-of-\w+)/[^\s'\":]*"), "<path>"),
]


@dataclass
class Aspect:
    """One aspect's verdict and the differences that made it."""

    name: str
    verdict: str = IDENTICAL
    details: list[str] = field(default_factory=list)

    def note(self, verdict: str, text: str) -> None:
        if _RANK[verdict] > _RANK[self.verdict]:
            self.verdict = verdict
        self.details.append(text)

    def to_dict(self) -> dict[str, Any]:
        shown = self.details[:MAX_DETAILS]
        if len(self.details) > MAX_DETAILS:
            shown.append(f"... and {len(self.details) - MAX_DETAILS} more")
        return {"aspect": self.name, "verdict": self.verdict, "details": shown}


@dataclass
class Comparison:
    """The comparison of task ``a`` (the reference) with task ``b``."""

    a: str
    b: str
    aspects: list[Aspect]
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def verdict(self) -> str:
        return max((x.verdict for x in self.aspects), key=_RANK.__getitem__, default=IDENTICAL)

    def aspect(self, name: str) -> Aspect:
        return next(x for x in self.aspects if x.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "verdict": self.verdict, "rtol": self.rtol, "atol": self.atol,
                "aspects": [x.to_dict() for x in self.aspects]}

    def table(self) -> str:
        """The verdict as the CLI prints it: one line per aspect, its differences indented."""
        lines = [f"{self.a[:8]} vs {self.b[:8]}: {self.verdict}"]
        for x in self.aspects:
            lines.append(f"  {x.name:<14} {x.verdict}")
            lines.extend(f"      {d}" for d in x.to_dict()["details"])
        return "\n".join(lines)


def compare_tasks(store, a: str, b: str, *, rtol: float = 0.0, atol: float = 0.0,
                  skip_artifacts: tuple[str, ...] = ()) -> Comparison:
    """Compare task ``b`` with the reference ``a`` (ids or unique prefixes) in ``store``."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"tolerances must be >= 0 (got rtol={rtol}, atol={atol})")
    a, b = store.resolve_id(a), store.resolve_id(b)  # unique prefixes, as everywhere
    rows = store.get_task(a), store.get_task(b)
    aspects = [
        _status(*rows),
        _code(store, *rows),
        _mapping("parameters", *(_parameters(store, r["id"]) for r in rows)),
        _mapping("configuration", *({c["name"]: c["value"] for c in store.get_configurations(r["id"])}
                                    for r in rows)),
        _environment(*rows),
        _console(*(store.console_path(r["id"]) for r in rows)),
        _scalars(*(store.get_scalars(r["id"]) for r in rows), rtol=rtol, atol=atol),
        _hashed("plots", *(_plot_hashes(store, r["id"]) for r in rows)),
        _hashed("debug samples", *(_sample_hashes(store, r["id"]) for r in rows)),
        _mapping("single values", *(store.get_single_values(r["id"]) for r in rows), rtol=rtol, atol=atol),
        _hashed("artifacts", *({x["name"]: x["sha256"] for x in store.get_artifacts(r["id"])
                                if x["name"] not in skip_artifacts} for r in rows)),
        _hashed("models", *(_model_hashes(store, r["id"]) for r in rows)),
    ]
    return Comparison(a, b, aspects, rtol, atol)


# ------------------------------------------------------------------ aspects
def _status(ra: dict, rb: dict) -> Aspect:
    out = Aspect("status")
    if ra["status"] != rb["status"]:
        reason = (rb["status_reason"] or "").strip().splitlines()
        out.note(DIFFER, f"{ra['status']} -> {rb['status']}" + (f" ({_short(reason[-1])})" if reason else ""))
    return out


def _code(store, ra: dict, rb: dict) -> Aspect:
    out = Aspect("code")
    sa, sb = ra["script"] or {}, rb["script"] or {}
    for key in ("repository", "branch", "commit", "entry_point", "working_dir", "argv"):
        if key == "repository" and not (sa.get("remote") and sb.get("remote")):
            continue  # two local paths of one repository are the same code when the commits agree
        if sa.get(key) != sb.get(key):
            out.note(DIFFER, f"{key}: {_short(sa.get(key))} -> {_short(sb.get(key))}")
    da, db = (_sha(store.get_code(r["id"]) or b"") for r in (ra, rb))
    if da != db:
        out.note(DIFFER, f"uncommitted diff: sha256 {da[:12]} -> {db[:12]}")
    return out


def _parameters(store, task_id: str) -> dict[str, Any]:
    return {f"{r['section']}/{r['name']}": r["value"] for r in store.get_parameters(task_id)}


def _environment(ra: dict, rb: dict) -> Aspect:
    out = Aspect("environment")
    ea, eb = ra["environment"] or {}, rb["environment"] or {}
    for key in ("python", "implementation", "platform", "machine"):
        if ea.get(key) != eb.get(key):
            out.note(DIFFER, f"{key}: {ea.get(key)} -> {eb.get(key)}")
    pa, pb = (({p["name"].lower(): p.get("version") for p in e.get("packages", [])}) for e in (ea, eb))
    _by_key(out, pa, pb, lambda x, y: DIFFER if x != y else IDENTICAL, lambda k, x, y: f"{k}: {x} -> {y}",
            label=lambda k, v: f"{k} {v}")
    drift = eb.get("drift")  # the worker's check of what ran against what was recorded (drift.py)
    if isinstance(drift, dict) and drift.get("differs"):
        from .drift import summary

        out.note(DIFFER, f"the run's environment {summary(drift)}")
    return out


def normalise_console(text: str) -> list[str]:
    """The console's lines without what differs between runs of the same code (see _NOISE),
    without localtask's own lines, and (under a worker, which keeps the whole process's output)
    only what came between Task.init and close, as a local run records it."""
    from .task import ATTACH_MARK, CLOSE_MARK

    lines = []
    for line in text.splitlines():
        if line.startswith(ATTACH_MARK):
            lines.clear()  # a worker's copy of what the script printed before Task.init
            continue
        if line.startswith(CLOSE_MARK):
            break  # what the process printed after closing the task is not the task's
        if line.startswith("localtask:"):
            continue
        for pattern, mark in _NOISE:
            line = pattern.sub(mark, line)
        lines.append(line.rstrip())
    return lines


def _console(pa, pb) -> Aspect:
    out = Aspect("console")
    la, lb = (normalise_console(p.read_text(encoding="utf-8", errors="replace")) if p.exists() else []
              for p in (pa, pb))
    if la != lb:
        first = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        out.note(DIFFER, f"line {first + 1}: {_short(_at(la, first))} -> {_short(_at(lb, first))}"
                         f" ({len(la)} vs {len(lb)} lines)")
    return out


def _scalars(rows_a: list[dict], rows_b: list[dict], *, rtol: float, atol: float) -> Aspect:
    out = Aspect("scalars")
    sa, sb = _series(rows_a), _series(rows_b)
    for key in sorted(sa.keys() | sb.keys()):
        name = "/".join(key)
        if key not in sb or key not in sa:
            out.note(DIFFER, f"{name}: {'missing' if key not in sb else 'extra'}")
            continue
        a, b = sa[key], sb[key]
        if a == b:
            continue
        worst = IDENTICAL
        first: dict[str, int] = {}  # verdict -> the first iteration with it
        for it in sorted(a.keys() | b.keys()):
            verdict = _value_verdict(a.get(it), b.get(it), rtol, atol, missing=it not in a or it not in b)
            first.setdefault(verdict, it)
            if _RANK[verdict] > _RANK[worst]:
                worst = verdict
        if worst == IDENTICAL:
            continue
        first = first[worst]  # beyond the tolerance: the first point beyond it, not the first inexact one
        out.note(worst, f"{name}: {'within tolerance' if worst == CLOSE else 'differs'} from iteration "
                        f"{first} ({_num(a.get(first))} -> {_num(b.get(first))})")
    return out


def _series(rows: list[dict]) -> dict[tuple[str, str], dict[int, float | None]]:
    out: dict[tuple[str, str], dict[int, float | None]] = {}
    for r in rows:
        out.setdefault((r["title"], r["series"]), {})[r["iteration"]] = r["value"]
    return out


def _value_verdict(x: Any, y: Any, rtol: float, atol: float, missing: bool = False) -> str:
    if missing:
        return DIFFER
    if x == y or (_is_nan(x) and _is_nan(y)):
        return IDENTICAL
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and (rtol or atol) \
            and math.isclose(x, y, rel_tol=rtol, abs_tol=atol):
        return CLOSE
    return DIFFER


def _mapping(name: str, a: dict, b: dict, *, rtol: float = 0.0, atol: float = 0.0) -> Aspect:
    return _by_key(Aspect(name), a, b, lambda x, y: _value_verdict(x, y, rtol, atol),
                   lambda k, x, y: f"{k}: {_short(x)} -> {_short(y)}")


def _hashed(name: str, a: dict[str, str], b: dict[str, str]) -> Aspect:
    return _by_key(Aspect(name), a, b, lambda x, y: DIFFER if x != y else IDENTICAL,
                   lambda k, x, y: f"{k}: content differs (sha256 {x[:12]} -> {y[:12]})")


def _by_key(out: Aspect, a: dict, b: dict, judge, say, label=lambda k, v: k) -> Aspect:
    """Note in ``out`` each key missing from ``b``, extra in ``b``, or whose values ``judge``
    does not find identical (worded by ``say``)."""
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            out.note(DIFFER, f"{label(key, a[key])}: missing")
        elif key not in a:
            out.note(DIFFER, f"{label(key, b[key])}: extra")
        else:
            verdict = judge(a[key], b[key])
            if verdict != IDENTICAL:
                out.note(verdict, say(key, a[key], b[key]))
    return out


def _plot_hashes(store, task_id: str) -> dict[str, str]:
    out = {}
    for p in store.get_plots(task_id):
        figure = json.dumps(p["figure"], sort_keys=True, default=str).encode()
        out[f"{p['title']}/{p['series']} @{p['iteration']}"] = _sha(figure)
    return out


def _model_hashes(store, task_id: str) -> dict[str, str]:
    """``{"<role> <file or URL>": sha256 or URL}``: by file, not by name, as a model is often
    named after its task (and a reproduction has another name)."""
    out = {}
    for link in store.get_task_models(task_id):
        row = store.get_model(link["model_id"]) or {}
        where = row.get("filename") or row.get("uri") or link["name"]
        key = f"{link['role']} {where}"
        while key in out:
            key += "'"
        out[key] = row.get("sha256") or row.get("uri") or "missing"
    return out


def _sample_hashes(store, task_id: str) -> dict[str, str]:
    from .report_writer import samples_dir

    folder = samples_dir(store, task_id)
    out = {}
    for s in store.get_samples(task_id):
        path = folder / s["filename"]
        content = path.read_bytes() if path.exists() else None
        if content is not None and s["mime"] == "text/html":
            # bokeh and plotly give each saved page fresh random element ids
            content = _UUID.sub(b"<uuid>", content)
        out[f"{s['title']}/{s['series']} @{s['iteration']}"] = _sha(content) if content is not None else "missing"
    return out


_UUID = re.compile(rb"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


# ------------------------------------------------------------------ formatting
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _num(x: Any) -> str:
    return "none" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)


def _at(lines: list[str], i: int) -> str:
    return lines[i] if i < len(lines) else "<end>"


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "\u2026"
