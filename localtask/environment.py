"""The Python environment a worker runs a task in: its own interpreter, or a cached venv."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from .folders import make_dirs
from .exceptions import RunError
from .store import Store

Say = Callable[[str], None]
READY = ".localtask-ready"


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def check_current(environment: dict[str, Any], say: Say, cache_dir: Path | None = None) -> int:
    """Warn (through ``say``) about each recorded package whose installed version differs and
    about a Python minor-version mismatch. Returns the number of warnings."""
    from .capture import dist_index

    # The cached index answers for every package at once; per-package metadata lookups cost
    # about a millisecond each, on every task start.
    installed_versions = {_normal(d["name"]): d["version"] for d in dist_index(cache_dir)["dists"].values()}
    warnings = 0
    recorded = environment.get("python") or ""
    here = platform.python_version()
    if recorded and recorded.split(".")[:2] != here.split(".")[:2]:
        say(f"localtask: WARNING: the task was recorded with Python {recorded}; running with {here}")
        warnings += 1
    for pkg in environment.get("packages") or []:
        installed = installed_versions.get(_normal(pkg["name"]))
        if pkg.get("requirement") or not pkg.get("version"):  # an edited draft's requirement
            if not _satisfies(pkg, installed):
                say(f"localtask: WARNING: package {pkg.get('requirement') or pkg['name']} is wanted; "
                    f"{'not installed' if installed is None else installed} here")
                warnings += 1
        elif installed != pkg.get("version"):
            say(f"localtask: WARNING: package {pkg['name']} was {pkg.get('version')} when recorded; "
                f"{'not installed' if installed is None else installed} here")
            warnings += 1
    return warnings


def _satisfies(pkg: dict[str, Any], installed: str | None) -> bool:
    """Whether the installed version meets a package entry without an exact version."""
    if installed is None:
        return False
    if not pkg.get("requirement"):
        return True
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(pkg["requirement"]).specifier.contains(installed, prereleases=True)
    except InvalidRequirement:
        return False


#: the worker's own packages that the task's process needs to talk to the store. They are linked
#: into every venv instead of installed: the child must speak the worker's store schema, and an
#: air-gapped lab has no index to install localtask from.
LINKED = ("localtask", "filelock", "platformdirs")


def requirements(packages: list[dict[str, Any]]) -> list[str]:
    """pip arguments installing the recorded packages (editable/local ones from their path),
    except the linked ones (:data:`LINKED`)."""
    lines = []
    for pkg in packages:
        if _normal(pkg["name"]) in LINKED:
            continue
        if pkg.get("editable") and pkg.get("path"):
            lines += ["-e", pkg["path"]]
        elif pkg.get("path"):
            lines.append(pkg["path"])
        elif pkg.get("vcs") and pkg.get("url"):
            line = f"{pkg['vcs']}+{pkg['url']}@{pkg.get('commit') or ''}".rstrip("@")
            if pkg.get("subdirectory"):
                line += f"#subdirectory={pkg['subdirectory']}"
            lines.append(line)
        elif pkg.get("requirement"):  # edited in a draft: a specifier, extras, a marker or a URL
            lines.append(pkg["requirement"])
        elif pkg.get("version"):
            lines.append(f"{pkg['name']}=={pkg['version']}")
        else:
            lines.append(pkg["name"])
    return lines


def venv_key(environment: dict[str, Any], wheels: str | None, base: str | None = None) -> str:
    base = base or sys.executable
    version = platform.python_version() if base == sys.executable else environment.get("python")
    payload = json.dumps({"python": version, "exe": base,
                          "packages": requirements(environment.get("packages") or []),
                          "wheels": wheels}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _run(cmd: list[str], say: Say, env: dict | None = None) -> None:
    say("localtask: $ " + " ".join(cmd))
    # Its own session, as the task itself: a Ctrl-C meant to drain the worker reaches the whole
    # terminal process group, and must not kill a build the draining worker waits for.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            errors="replace", stdin=subprocess.DEVNULL, start_new_session=True)
    tail: list[str] = []
    errors: list[str] = []  # pip's own "ERROR: ..." lines say why; its closing lines only say "see above"
    for line in proc.stdout:
        say("localtask:   " + line.rstrip("\n"))  # the build's lines, told apart from the task's
        tail = (tail + [line.rstrip("\n")])[-10:]
        if line.strip().startswith("ERROR:"):
            errors = (errors + [line.strip()])[-5:]
    if proc.wait() != 0:
        label = "pip install" if "pip" in cmd and "install" in cmd else " ".join(Path(c).name for c in cmd[:3])
        raise RunError(f"{label} failed (exit {proc.returncode}): " + " | ".join(errors or tail[-5:]))


def ensure_venv(store: Store, environment: dict[str, Any], say: Say, wheels: str | None = None,
                base: str | None = None) -> str:
    """The python of a virtual environment with the task's recorded packages, built once and
    cached under a hash of the package list (the next run with the same list installs nothing).
    With ``wheels`` pip installs offline from that folder; without, offline from the store's
    wheel cache (filled by ``localtask import``) when it holds a wheel of every package. Uses uv
    when it is installed. ``base``: the interpreter to build it on (default: this one)."""
    from filelock import FileLock

    base = base or sys.executable
    if wheels is None:
        from .bundle_wheels import covers, wheel_cache

        if covers(wheel_cache(store), requirements(environment.get("packages") or [])):
            wheels = str(wheel_cache(store))
    root = store.cache_dir / "venvs"
    make_dirs(root)
    key = venv_key(environment, wheels, base)
    target = root / key
    python = target / "bin" / "python"
    with FileLock(str(target) + ".lock", timeout=3600):
        if (target / READY).exists():
            say(f"localtask: reusing environment {target}")
            return str(python)
        shutil.rmtree(target, ignore_errors=True)
        reqs = requirements(environment.get("packages") or [])
        uv = shutil.which("uv")
        say(f"localtask: building environment {target} ({len(environment.get('packages') or [])} packages)")
        if uv:
            _run([uv, "venv", "--quiet", "--python", base, str(target)], say)
            install = [uv, "pip", "install", "--python", str(python)]
        else:
            _run([base, "-m", "venv", str(target)], say)
            install = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        if wheels:
            install += ["--no-index", "--find-links", str(wheels)]
        if reqs:
            env = dict(os.environ, PIP_NO_INPUT="1")
            try:
                _run(install + reqs, say, env=env)
            except RunError:
                shutil.rmtree(target, ignore_errors=True)
                raise
        _link_own_packages(python, say)
        (target / READY).write_text(json.dumps(reqs))
    return str(python)


def _link_own_packages(python: Path, say: Say) -> None:
    import importlib

    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for name in LINKED:
        source = Path(importlib.import_module(name).__file__).parent
        link = Path(site) / name
        if not link.exists():
            link.symlink_to(source, target_is_directory=True)
    say(f"localtask: linked this worker's {', '.join(LINKED)} into the environment")
