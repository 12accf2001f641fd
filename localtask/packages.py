"""The full dependency record of an environment: requirement graphs and package-index options.

:func:`requirements_of` reads an installed distribution's ``Requires-Dist`` with its
markers evaluated for this interpreter (per extra); the graph of them all is cached with the
distribution index (``capture.dist_index``), and :func:`closure` walks it from the imported
distributions, so a package only a dependency's lazy path imports is still recorded.
:func:`index_options` reads where pip (and uv) would install from: pip's configuration files
and the ``PIP_*`` / ``UV_*`` variables. Both feed :func:`localtask.capture.capture_environment`;
``Task.init`` pays only for the walk.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

_NORMAL = re.compile(r"[-_.]+")


def normal(name: str) -> str:
    """A distribution name in PEP 503 normal form (``Foo_Bar`` -> ``foo-bar``)."""
    return _NORMAL.sub("-", name).lower()


def requirements_of(dist: Any, meta: Any) -> dict[str, list[list[Any]]]:
    """``{extra or '': [[dependency normal name, [extras]], ...]}`` of one distribution
    (``meta``: its parsed metadata, read once by the caller), markers evaluated for this
    interpreter; ``''`` holds what it needs without any extra."""
    from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement

    provided = [normal(e) for e in (meta.get_all("Provides-Extra") or [])]
    lines = meta.get_all("Requires-Dist")
    if lines is None:
        lines = dist.requires or ()  # an egg-info keeps them in requires.txt
    needs: dict[str, list[list[Any]]] = {}
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # a broken line in someone's metadata must not stop Task.init
        dep = [normal(req.name), sorted(normal(e) for e in req.extras)]
        if req.marker is None:
            needs.setdefault("", []).append(dep)
            continue
        text = str(req.marker).lower().replace("_", "-").replace(".", "-")
        # only the extras the marker names: a package with 20 extras would cost 20 evaluations
        # of each of its conditional lines
        for extra in ["", *(e for e in provided if f'"{e}"' in text or f"'{e}'" in text)]:
            try:
                if req.marker.evaluate({"extra": extra}):
                    needs.setdefault(extra, []).append(dep)
                    break  # needed without the extra: not listed again under it
            except (UndefinedComparison, UndefinedEnvironmentName):
                break
    return needs


def closure(graph: dict[str, dict[str, list[list[Any]]]], roots: Iterable[str]) -> dict[str, set[str]]:
    """Every installed distribution ``roots`` need, transitively (extras followed as each
    parent asks for them): ``{normal name: normal names of the parents that need it}``; a root
    maps to the empty set unless another one needs it too. Names missing from ``graph`` (not
    installed) are left out."""
    parents: dict[str, set[str]] = {normal(r): set() for r in roots if normal(r) in graph}
    todo = [(name, ()) for name in parents]
    seen: set[tuple[str, tuple]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        needs = graph.get(name, {})
        for extra in ("", *extras):
            for dep, dep_extras in needs.get(extra, ()):
                if dep not in graph:
                    continue
                if dep != name:
                    parents.setdefault(dep, set()).add(name)
                todo.append((dep, tuple(dep_extras)))
    return parents


# --------------------------------------------------------------------- where packages come from
def pip_config_files() -> list[Path]:
    """pip's configuration files in the order pip reads them (a later one wins); none when
    ``PIP_CONFIG_FILE`` is the null device, as for pip."""
    env_file = os.environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    files = [Path(d) / "pip" / "pip.conf" for d in
             (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    files.append(Path("/etc/pip.conf"))
    try:
        home: Path | None = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no password entry: no user files
        home = None
    if home is not None and not (env_file and os.path.exists(env_file)):  # pip skips them then
        files.append(home / ".pip" / "pip.conf")
        files.append(Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return files


#: option -> (pip config key, pip variable, uv variables); lists are whitespace-separated
_OPTIONS = {
    "index_url": ("index-url", "PIP_INDEX_URL", ("UV_DEFAULT_INDEX", "UV_INDEX_URL")),
    "extra_index_urls": ("extra-index-url", "PIP_EXTRA_INDEX_URL", ("UV_INDEX", "UV_EXTRA_INDEX_URL")),
    "find_links": ("find-links", "PIP_FIND_LINKS", ("UV_FIND_LINKS",)),
    "no_index": ("no-index", "PIP_NO_INDEX", ("UV_NO_INDEX",)),
    "constraints": ("constraint", "PIP_CONSTRAINT", ("UV_CONSTRAINT",)),
}


def read_pip_files(files: Iterable[Path]) -> list[tuple[str, dict[str, str]]]:
    """``[(file, {pip key: value})]`` of the existing files: ``[global]`` then ``[install]``."""
    found = [f for f in files if f.is_file()]
    if not found:
        return []
    import configparser

    out = []
    for path in found:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        values: dict[str, str] = {}
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update(dict(parser.items(section)))
        keys = {key for key, _, _ in _OPTIONS.values()}
        # cleaned here: this answer is cached in the store's cache folder
        values = {k: " ".join(_clean(item) for item in v.split()) for k, v in values.items() if k in keys}
        if values:
            out.append((str(path), values))
    return out


def _clean(item: str) -> str:
    """A URL without its user, password or token; a token can also ride in a query string, so
    the query and fragment go too. A path stays as it is."""
    from .capture import strip_credentials

    if "://" not in item:
        return item
    return strip_credentials(item).split("?", 1)[0].split("#", 1)[0]


def _value(option: str, text: str) -> Any:
    if option == "no_index":
        return text.strip().lower() in ("1", "true", "yes", "on")
    items = [_clean(item) for item in text.replace(",", " ").split()]
    return items[0] if option == "index_url" and items else items


def index_options(pip_files: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """Where this environment installs packages from: ``{"pip": {...}, "uv": {...}}`` with
    ``index_url``, ``extra_index_urls``, ``find_links``, ``no_index``, ``constraints`` and the
    ``sources`` they came from, each tool only when something is set. Credentials in URLs are
    removed. ``pip_files`` is :func:`read_pip_files`' answer (cached by the caller)."""
    pip: dict[str, Any] = {}
    sources: list[str] = []
    for path, values in pip_files:
        for option, (key, _, _) in _OPTIONS.items():
            if key in values:
                pip[option] = _value(option, values[key])
        sources.append(path)
    for option, (_, variable, _) in _OPTIONS.items():
        if os.environ.get(variable):
            pip[option] = _value(option, os.environ[variable])
            sources.append(variable)
    uv: dict[str, Any] = {}
    for option, (_, _, variables) in _OPTIONS.items():
        for variable in variables:
            if os.environ.get(variable):
                uv[option] = _value(option, os.environ[variable])
                uv.setdefault("sources", []).append(variable)
                break
    out: dict[str, Any] = {}
    if pip:
        out["pip"] = {**pip, "sources": sources}
    if uv:
        out["uv"] = uv
    return out


# --------------------------------------------------------------------- what a worker provides
def provided_by(packages: list[dict[str, Any]], linked: Iterable[str]) -> set[str]:
    """Normal names of the recorded ``packages`` that only ``linked`` ones need: the linked
    ones themselves, and the dependencies every recorded parent of which is provided. A worker
    links its own copies of ``linked`` into a venv, so these need no install there."""
    linked = {normal(n) for n in linked}
    parents = {normal(p["name"]): {normal(q) for q in p.get("required_by") or ()} for p in packages}
    provided = {n for n in parents if n in linked}
    changed = True
    while changed:
        changed = False
        for name, needers in parents.items():
            if name not in provided and needers and needers <= provided:
                provided.add(name)
                changed = True
    return provided
