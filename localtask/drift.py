"""Environment drift: what a run will use against what was recorded, or two tasks' environments.

An *inventory* is what an interpreter has: ``python``, ``implementation``, ``platform``,
``machine``, ``dists`` (``{name: version}``) and ``modules`` (top-level module -> names of the
distributions providing it). :func:`inventory_here` reads this interpreter's (from the cached
distribution index), :func:`inventory_of` any other's (one process, cached inside a venv).

:func:`compare` gives a *verdict* (plain JSON): each recorded package ``same``,
``other_version``, ``missing`` or ``provided`` (the worker links its own copy, see
:data:`localtask.environment.LINKED`), plus the ``extra`` packages the code imports that were
not recorded; the Python version and the platform; ``differs`` says whether anything that
counts differs. :func:`compare_tasks` compares two recorded environments the same way, and
:func:`warnings` / :func:`summary` put a verdict into words. A worker stores its verdict in
the task's environment under ``drift`` (:data:`KEY`).
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from .exceptions import RunError
from .packages import normal, provided_by

#: where a task's verdict lives in its ``environment`` JSON (a clone and a reset drop it)
KEY = "drift"

#: package states that make a verdict differ
DIFFERING = ("other_version", "missing", "extra")

# Run by any interpreter (a venv, a container's Python): the standard library only.
INVENTORY_SCRIPT = r"""
import json, platform, sys
from importlib import metadata
dists, modules = {}, {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    if not name or name in dists:
        continue
    dists[name] = d.version
    tops = set()
    listed = d.read_text("top_level.txt")
    if listed:
        tops.update(listed.split())
    else:
        for f in d.files or ():
            first = f.parts[0] if f.parts else ""
            if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
                continue
            tops.add(first[:-3] if first.endswith(".py") else first.split(".")[0])
    tops.add(name.lower().replace("-", "_"))
    for top in tops:
        modules.setdefault(top, []).append(name)
print(json.dumps({"python": platform.python_version(), "implementation": sys.implementation.name,
                  "platform": sys.platform, "machine": platform.machine(), "executable": sys.executable,
                  "dists": dists, "modules": modules}))
"""


# --------------------------------------------------------------------- inventories
def inventory_here(cache_dir: Path | None = None) -> dict[str, Any]:
    """This interpreter's inventory, from the cached distribution index."""
    from .capture import dist_index

    index = dist_index(cache_dir)
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": sys.platform, "machine": os.uname().machine, "executable": sys.executable,
            "dists": {name: d["version"] for name, d in index["dists"].items()},
            "modules": index["modules"]}


def _venv_key(python: Path, cache_dir: Path | None) -> tuple[Path, str] | None:
    """The cache file and key of the inventory of a venv the store built (under ``cache_dir``):
    its site folders' modification times. None for any other interpreter."""
    root = python.parent.parent
    if cache_dir is None or not root.is_relative_to(cache_dir) or not (root / "pyvenv.cfg").is_file():
        return None
    parts = [str(python)]
    for site in sorted(root.glob("lib*/python*/site-packages")):
        try:
            parts.append(f"{site}:{site.stat().st_mtime_ns}")
        except OSError:
            return None
    return root / ".localtask-inventory.json", "|".join(parts)


def inventory_of(python: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """The inventory of the interpreter ``python`` (one process; for a venv under the store's
    ``cache_dir``, kept in its folder until its site-packages change). Raises RunError when it
    cannot be read."""
    cached = _venv_key(Path(python), cache_dir)
    if cached:
        try:
            data = json.loads(cached[0].read_text())
            if data.get("key") == cached[1]:
                return data["inventory"]
        except (OSError, ValueError, AttributeError):
            pass
    try:
        proc = subprocess.run([python, "-c", INVENTORY_SCRIPT], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunError(f"Cannot list the packages of {python}: {exc}") from None
    if proc.returncode != 0:
        raise RunError(f"Cannot list the packages of {python}: {proc.stderr.strip()[-500:]}")
    inventory = json.loads(proc.stdout.strip().splitlines()[-1])
    if cached:
        try:
            tmp = cached[0].with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": cached[1], "inventory": inventory}))
            os.replace(tmp, cached[0])
        except OSError:
            pass
    return inventory


def recorded_inventory(environment: dict[str, Any]) -> dict[str, Any]:
    """A recorded environment seen as an inventory (to compare two tasks)."""
    return {k: environment.get(k) for k in ("python", "implementation", "platform", "machine")} | {
        "dists": {p["name"]: p.get("version") for p in environment.get("packages") or []}, "modules": {}}


# --------------------------------------------------------------------- what the code imports
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n#;]+)", re.M)


def _names(text: str) -> list[str]:
    """``a.b as c, d`` -> ``['a.b', 'd']``."""
    out = []
    for part in text.strip("()\\ \t").replace("\n", ",").split(","):
        name = part.strip().split(" ")[0].strip("()\\ \t")
        if name and name != "*" and all(p.isidentifier() for p in name.split(".")):
            out.append(name)
    return out


def _imports_of(source: str) -> tuple[set[str], set[tuple[int, str]]]:
    """The absolute and relative (level, dotted) imports of a module's source. Read with a
    pattern, not ast: this runs between a claim and the task's start, over every local module,
    and a parse of a large package costs a second; a line in a string can only add a name."""
    absolute, relative = set(), set()
    for match in _IMPORT.finditer(source):
        absolute.update(_names(match.group(1)))
    for match in _FROM.finditer(source):
        level, module, names = len(match.group(1)), match.group(2), _names(match.group(3))
        if level:  # the module itself, and each name as a possible submodule of it
            if module:
                relative.add((level, module))
            relative.update((level, f"{module}.{n}".strip(".")) for n in names)
        elif module:
            absolute.add(module)
            absolute.update(f"{module}.{n}" for n in names)
    return absolute, relative


def _local_file(root: Path, dotted: str, memo: dict | None = None) -> Path | None:
    """The file of module ``dotted`` under ``root`` (``a/b.py`` or ``a/b/__init__.py``), or None."""
    key = (root, dotted)
    if memo is not None and key in memo:
        return memo[key]
    base = os.path.join(root, *dotted.split("."))
    found = next((Path(c) for c in (base + ".py", os.path.join(base, "__init__.py")) if os.path.isfile(c)), None)
    if memo is not None:
        memo[key] = found
    return found


def code_imports(workdir: Path, script: dict[str, Any], limit: int = 200) -> set[str]:
    """Top-level names of the modules the task's code imports that are not its own files: read
    (never run) from the entry point and the local modules it imports, up to ``limit`` files."""
    run_dir = workdir / (script.get("working_dir") or ".")
    if script.get("module"):
        roots = [run_dir]
        start = _local_file(run_dir, script["module"]) or _local_file(run_dir, script["module"] + ".__main__")
    elif script.get("entry_point") and not os.path.isabs(script["entry_point"]):
        start = workdir / script["entry_point"]
        roots = [start.parent]
    else:
        return set()
    found: set[str] = set()
    memo: dict = {}
    todo, seen = [start] if start and start.is_file() else [], set()
    while todo and len(seen) < limit:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            absolute, relative = _imports_of(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for dotted in absolute:
            local = next((f for f in (_local_file(r, dotted, memo) for r in roots) if f), None)
            if local is not None:
                todo.append(local)
            elif not any(_local_file(r, dotted.split(".")[0], memo) for r in roots):
                found.add(dotted.split(".")[0])
        for level, dotted in relative:
            base = path.parent
            for _ in range(level - 1):
                base = base.parent
            local = _local_file(base, dotted, memo) if dotted else None
            if local is not None:
                todo.append(local)
    return found


# --------------------------------------------------------------------- verdicts
def _python_state(recorded: dict[str, Any], running: dict[str, Any]) -> dict[str, Any]:
    rec, run = recorded.get("python") or "", running.get("python") or ""
    rec_impl, run_impl = recorded.get("implementation"), running.get("implementation")
    if not rec:
        state = "unknown"
    elif rec_impl and run_impl and rec_impl != run_impl:
        state = "other_implementation"
    elif rec == run:
        state = "same"
    elif rec.split(".")[:2] == run.split(".")[:2]:
        state = "other_patch"  # a bug-fix release: reported, not counted as drift
    else:
        state = "other_version"
    return {"recorded": rec or None, "running": run or None, "implementation": [rec_impl, run_impl],
            "state": state}


def _platform_state(recorded: dict[str, Any], running: dict[str, Any]) -> dict[str, Any]:
    def name(env):
        return " ".join(p for p in (env.get("platform"), env.get("machine")) if p) or None

    rec, run = name(recorded), name(running)
    state = "unknown" if not rec or not run else "same" if rec == run else "other"
    return {"recorded": rec, "running": run, "state": state}


def _meets(pkg: dict[str, Any], version: str) -> bool:
    """Whether an installed ``version`` is what the package entry asks for: its exact version,
    or, for an edited draft's requirement line (``numpy>=1.26``), a version that satisfies it."""
    if pkg.get("requirement"):
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            return Requirement(pkg["requirement"]).specifier.contains(version, prereleases=True)
        except InvalidRequirement:
            return False
    return pkg.get("version") in (None, version)


def compare(recorded: dict[str, Any], running: dict[str, Any], imports: Iterable[str] = (),
            provided: dict[str, str] | None = None) -> dict[str, Any]:
    """The verdict of running a task recorded with the environment ``recorded`` in the
    inventory ``running``. ``imports``: top-level modules the code imports (an installed
    package providing one that was not recorded is ``extra``). ``provided``: ``{name:
    version}`` of the packages the worker supplies itself (linked into a venv)."""
    packages = recorded.get("packages") or []
    installed = {normal(name): (name, version) for name, version in (running.get("dists") or {}).items()}
    worker_provided = provided_by(packages, provided) if provided else set()
    rows: list[dict[str, Any]] = []
    counts = dict.fromkeys(("same", "other_version", "missing", "extra", "provided"), 0)
    for pkg in packages:
        key = normal(pkg["name"])
        here = installed.get(key)
        if key in worker_provided:
            version = (provided or {}).get(key) or (here[1] if here else None)
            state = "provided"
        else:
            version = here[1] if here else None
            state = "missing" if here is None else "same" if _meets(pkg, version) else "other_version"
        counts[state] += 1
        if state != "same":
            row = {"name": pkg["name"], "recorded": pkg.get("version"), "running": version, "state": state}
            if pkg.get("requirement"):  # an edited draft's requirement line instead of a version
                row["requirement"] = pkg["requirement"]
            rows.append(row)
    recorded_names = {normal(p["name"]) for p in packages}
    extras: dict[str, str] = {}
    for top in sorted(set(imports)):
        for name in (running.get("modules") or {}).get(top, ()):
            if normal(name) not in recorded_names and name in (running.get("dists") or {}):
                extras[name] = running["dists"][name]
    for name, version in sorted(extras.items(), key=lambda kv: kv[0].lower()):
        rows.append({"name": name, "recorded": None, "running": version, "state": "extra"})
        counts["extra"] += 1
    python = _python_state(recorded, running)
    plat = _platform_state(recorded, running)
    differs = (any(counts[s] for s in DIFFERING) or python["state"] in ("other_version", "other_implementation")
               or plat["state"] == "other")
    return {"differs": bool(differs), "python": python, "platform": plat, "counts": counts,
            "packages": sorted(rows, key=lambda r: (DIFFERING + ("provided",)).index(r["state"]))}


def compare_tasks(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The verdict between two recorded environments: ``missing`` = only in ``first``,
    ``extra`` = only in ``second`` (every package, imported or not)."""
    running = recorded_inventory(second)
    running["modules"] = {normal(n): [n] for n in running["dists"]}
    return {**compare(first, running, imports=running["modules"]), "between": "tasks"}


# --------------------------------------------------------------------- words
def warnings(verdict: dict[str, Any], prefix: str = "localtask: WARNING: ") -> list[str]:
    """One line per difference of a worker's verdict, as the task's console shows them."""
    lines = []
    python = verdict.get("python") or {}
    if python.get("state") in ("other_version", "other_implementation"):
        lines.append(f"{prefix}the task was recorded with Python {python['recorded']}; running with "
                     f"{python['running']}" + (f" ({python['implementation'][1]}, recorded with "
                                               f"{python['implementation'][0]})"
                                               if python["state"] == "other_implementation" else ""))
    plat = verdict.get("platform") or {}
    if plat.get("state") == "other":
        lines.append(f"{prefix}the task was recorded on {plat['recorded']}; running on {plat['running']}")
    for row in verdict.get("packages") or []:
        if row["state"] in ("other_version", "missing") and row.get("requirement"):
            lines.append(f"{prefix}package {row['requirement']} is wanted; {row['running'] or 'not installed'} here")
        elif row["state"] in ("other_version", "missing"):
            lines.append(f"{prefix}package {row['name']} was {row['recorded']} when recorded; "
                         f"{row['running'] or 'not installed'} here")
        elif row["state"] == "extra":
            lines.append(f"{prefix}package {row['name']} {row['running']} is imported by the code but was "
                         "not recorded")
    return lines


def summary(verdict: dict[str, Any]) -> str:
    """One line: as recorded, or how many differences of which kind."""
    counts = verdict.get("counts") or {}
    python = verdict.get("python") or {}
    tasks = verdict.get("between") == "tasks"
    labels = (("other_version", "at another version"), ("missing", "only in the first" if tasks else "missing"),
              ("extra", "only in the second" if tasks else "imported but not recorded"))
    parts = [f"{counts[k]} {label}" for k, label in labels if counts.get(k)]
    if python.get("state") in ("other_version", "other_implementation"):
        parts.append(f"Python {python['recorded']} -> {python['running']}")
    if (verdict.get("platform") or {}).get("state") == "other":
        parts.append(f"platform {verdict['platform']['recorded']} -> {verdict['platform']['running']}")
    notes = []
    if counts.get("provided"):
        notes.append(f"{counts['provided']} provided by the worker")
    if python.get("state") == "other_patch":
        notes.append(f"Python {python['recorded']} -> {python['running']}")
    tail = f" ({'; '.join(notes)})" if notes else ""
    if not verdict.get("differs"):
        return f"{'the same' if tasks else 'as recorded'}: {counts.get('same', 0)} packages the same{tail}"
    return f"{'they differ' if tasks else 'differs from the record'}: {', '.join(parts)}{tail}"
