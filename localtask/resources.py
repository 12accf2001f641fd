"""What a task asks for to run: the ``Resources`` parameter section (``Resources/gpus``).

Stored as ordinary parameters, so a clone carries them and can edit them
(``localtask params ID --set Resources/gpus=2``); a worker reads them when it claims.
"""
from __future__ import annotations

import json

from .exceptions import GpuError

SECTION = "Resources"
GPUS = "gpus"


def check_gpus(value: object, where: str = f"{SECTION}/{GPUS}") -> int:
    """``value`` as a number of GPUs (a whole number >= 0, or its text); GpuError otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GpuError(f"{where} must be a whole number of GPUs, 0 or more (got {value!r}); set it "
                       f"with task.set_resources(gpus=N) or localtask params ID --set {SECTION}/{GPUS}=N.")
    return value


def gpus_requested(text: str, kind: str) -> int:
    """The number of GPUs a stored ``Resources/gpus`` parameter asks for; GpuError if invalid."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return check_gpus(value)
