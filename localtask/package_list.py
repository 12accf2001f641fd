"""A draft's package list as the user edits it: requirement lines checked with
``packaging.requirements`` and turned into the package entries a task's environment keeps."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from .exceptions import ExecutionEditError


def normal_name(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_line(line: str, where: str = "") -> dict[str, Any] | None:
    """The package entry for one requirement line (None for a blank or comment line).

    ``name==1.2`` keeps ``version`` exact; any other specifier, extra, marker or ``name @ url``
    is kept as the ``requirement`` text pip installs. ``-e PATH`` is an editable local package.
    Raises :class:`ExecutionEditError` naming the line when it is not a requirement.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    text = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
    if not text:
        return None
    label = f"{where}: " if where else ""
    if text.startswith(("-e ", "--editable ", "--editable=")):
        path = text.split("=", 1)[1] if text.startswith("--editable=") else text.split(None, 1)[1]
        path = os.path.abspath(os.path.expanduser(path.strip()))
        return {"name": Path(path).name, "version": None, "editable": True, "path": path}
    if text.startswith("-"):
        raise ExecutionEditError(
            f"{label}{text!r} is a pip option, not a package: a task's package list holds "
            "requirements only (an offline worker takes its wheel folder with --wheels).")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ExecutionEditError(f"{label}{text!r} is not a valid requirement ({exc}); write it as "
                                 "name, name==1.2, name>=1.2,<2 or name @ URL.") from None
    specs = list(req.specifier)
    exact = (len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version
             and not req.extras and req.marker is None and req.url is None)
    entry: dict[str, Any] = {"name": req.name, "version": specs[0].version if exact else None}
    if not exact:
        entry["requirement"] = str(req)
    return entry


def parse_lines(lines: Iterable[str], where: str = "") -> list[dict[str, Any]]:
    """The entries of several requirement lines; a name given twice is refused."""
    entries: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        entry = parse_line(line, f"{where} line {number}" if where else f"line {number}")
        if entry is None:
            continue
        key = normal_name(entry["name"])
        if key in entries:
            raise ExecutionEditError(f"Package {entry['name']!r} is listed twice ({where or 'the list'}, "
                                     f"line {number}); keep one line per package.")
        entries[key] = entry
    return list(entries.values())


def read_file(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of a requirements file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExecutionEditError(f"Cannot read the requirements file {path}: "
                                 f"{getattr(exc, 'strerror', None) or exc}.") from None
    return parse_lines(text.splitlines(), str(path))


def as_line(entry: dict[str, Any]) -> str:
    """The requirement line of an entry, as ``set_packages`` would take it back."""
    if entry.get("requirement"):
        return entry["requirement"]
    if entry.get("editable") and entry.get("path"):
        return f"-e {entry['path']}"
    if entry.get("path"):
        return entry["path"]
    return f"{entry['name']}=={entry['version']}" if entry.get("version") else entry["name"]


def apply(packages: list[dict[str, Any]], *, replace: list[dict[str, Any]] | None = None,
          set_: Iterable[dict[str, Any]] = (), remove: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The package list after replacing it (``replace``), then setting (adding or changing)
    and removing packages by name. Removing a package the list does not have is refused."""
    result = {normal_name(p["name"]): p for p in (packages if replace is None else replace)}
    for entry in set_:
        result[normal_name(entry["name"])] = entry
    for name in remove:
        key = normal_name(name)
        if key not in result:
            have = ", ".join(sorted(p["name"] for p in result.values())) or "none"
            raise ExecutionEditError(f"Cannot remove package {name!r}: the task does not list it "
                                     f"(it lists: {have}).")
        del result[key]
    return sorted(result.values(), key=lambda p: p["name"].lower())
