"""Find the installed Python interpreter of a wanted version (``3.X``) on a worker."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

from .exceptions import RunError

_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
#: version -> interpreter path found in this process
_found: dict[str, str] = {}


def minor(version: str) -> str:
    """``3.X`` of a ``3.X`` or ``3.X.Y`` version."""
    return ".".join(str(version).split(".")[:2])


def _probe(candidate: str, wanted: str) -> str | None:
    """The real executable behind ``candidate`` when it runs and is Python ``wanted`` (a pyenv
    shim on PATH exists for every installed version but runs only the selected ones)."""
    try:
        proc = subprocess.run([candidate, "-c", _PROBE], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) < 2 or lines[0] != wanted:
        return None
    return lines[1]


def _candidates(wanted: str) -> list[str]:
    found = []
    uv = shutil.which("uv")
    if uv:
        proc = subprocess.run([uv, "python", "find", wanted], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            found.append(proc.stdout.strip())
    on_path = shutil.which(f"python{wanted}")
    if on_path:
        found.append(on_path)
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(root, "versions", f"{wanted}.*", "bin", f"python{wanted}")),
                    reverse=True)
    return found


def find_python(version: str) -> str:
    """The path of an installed Python ``version`` (the minor version decides): this process's
    own when it is that version, else ``uv python find``, ``pythonX.Y`` on PATH, then pyenv's
    versions. Raises RunError saying how to install it when there is none."""
    wanted = minor(version)
    if wanted == "%d.%d" % sys.version_info[:2]:
        return sys.executable
    if wanted in _found:
        return _found[wanted]
    for candidate in _candidates(wanted):
        real = _probe(candidate, wanted)
        if real:
            _found[wanted] = real
            return real
    raise RunError(f"The task wants Python {wanted}, which is not installed on this worker (looked for "
                   f"'uv python find {wanted}', python{wanted} on PATH and pyenv's versions). Install it "
                   f"(uv python install {wanted}, or pyenv install {wanted}) or edit the task's Python "
                   "in a clone of it (localtask clone ID, then localtask edit NEW --python X.Y).")
