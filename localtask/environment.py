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


#: the worker's own packages that the task's process needs to talk to the store. They are linked
#: into every venv instead of installed: the child must speak the worker's store schema, and an
#: air-gapped lab has no index to install localtask from.
LINKED = ("localtask", "filelock", "platformdirs")


def requirements(packages: list[dict[str, Any]]) -> list[str]:
    """pip arguments installing the recorded packages (editable/local ones from their path),
    except the linked ones (:data:`LINKED`) and what only they need (the worker's localtask
    brings its own)."""
    from .packages import provided_by

    provided = provided_by(packages, LINKED)
    lines = []
    for pkg in packages:
        if _normal(pkg["name"]) in LINKED or _normal(pkg["name"]) in provided:
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
