"""Wheels of the recorded packages: downloaded for a bundle (pip download, for a target platform
and Python, or out of a local wheel folder), and the store's wheel cache that ``--env venv``
installs from offline."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from .environment import _normal, requirements
from .exceptions import BundleError

Say = Callable[[str], None]


def wheel_cache(store) -> Path:
    """The store's wheel cache: ``<home>/cache/wheels``."""
    return store.cache_dir / "wheels"


def pinned(environment: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(``name==version`` requirements a wheel can satisfy, the others: editable, local and VCS
    installs, which no index holds)."""
    pins, other = [], []
    reqs = requirements(environment.get("packages") or [])
    skip_next = False
    for i, line in enumerate(reqs):
        if skip_next:
            skip_next = False
            continue
        if line == "-e":
            other.append(reqs[i + 1])
            skip_next = True
        elif "==" in line and "/" not in line and "+" not in line.split("==")[0]:
            pins.append(line)
        else:
            other.append(line)
    return pins, other


def download(environments: Iterable[dict[str, Any]], dest: Path, say: Say, *, platform: str | None = None,
             python_version: str | None = None, wheels_from: str | None = None) -> list[str]:
    """Wheels for every pinned package of ``environments`` (and their dependencies) into
    ``dest``: one ``pip download --only-binary=:all:`` per distinct package list, for
    ``platform`` / ``python_version`` when given, from ``wheels_from`` alone when given.
    Returns the requirements no wheel can satisfy (reported, not fatal)."""
    seen: set[tuple[str, ...]] = set()
    unsatisfiable: list[str] = []
    for environment in environments:
        pins, other = pinned(environment)
        unsatisfiable += [o for o in other if o not in unsatisfiable]
        key = tuple(sorted(pins))
        if not pins or key in seen:
            continue
        seen.add(key)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
               "--only-binary=:all:", "--dest", str(dest)]
        if platform:
            cmd += ["--platform", platform]
        if python_version:
            cmd += ["--python-version", python_version]
        if wheels_from:
            cmd += ["--no-index", "--find-links", str(wheels_from)]
        say(f"pip download {len(pins)} package(s)" + (f" for {platform}" if platform else "")
            + (f", Python {python_version}" if python_version else ""))
        proc = subprocess.run(cmd + pins, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            errors = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("ERROR")]
            raise BundleError("Cannot get the wheels of the recorded packages (pip download exit "
                              f"{proc.returncode}: {' | '.join(errors[-3:] or proc.stdout.splitlines()[-3:])}). "
                              "Give a folder of wheels with --wheels-from, or check --platform / "
                              "--python-version. No bundle was written.")
    return unsatisfiable


def _wheel_pins(folder: Path) -> set[tuple[str, str]]:
    pins = set()
    for wheel in folder.glob("*.whl"):
        parts = wheel.name.split("-")
        if len(parts) >= 5:
            pins.add((_normal(parts[0]), parts[1]))
    return pins


def covers(folder: Path, reqs: list[str]) -> bool:
    """Whether the wheel folder holds a wheel for every requirement of ``reqs`` (all pinned)."""
    if not reqs or not folder.is_dir():
        return False
    have = _wheel_pins(folder)
    for line in reqs:
        name, sep, version = line.partition("==")
        if not sep or (_normal(name), version) not in have:
            return False
    return True
