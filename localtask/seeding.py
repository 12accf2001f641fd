"""The random seed ``Task.init`` sets, as ClearML's: 1337 unless ``Task.set_random_seed`` gave
another (None or False: no seeding).

ClearML seeds ``random`` and numpy (which it imports itself) and, when the script imported
them, torch and TensorFlow. localtask never imports numpy for this: numpy already imported is
seeded at once, numpy imported later is seeded right after its import (the same state: nothing
drew from it in between); torch and TensorFlow only when already imported, as ClearML.
The seed used is recorded in the task's runtime properties (``runtime.random_seed``, null: not
seeded), which a clone and a reset keep, so a worker's re-run is seeded with it.
"""
from __future__ import annotations

import random
import sys
from typing import Any

from . import import_hooks

DEFAULT_SEED = 1337
#: the task's runtime property holding the seed its run used (null: not seeded)
RUNTIME_KEY = "random_seed"
_seed: int | None = DEFAULT_SEED
_pending_seed: int = DEFAULT_SEED  # the seed numpy gets at its import


def set_seed(seed: Any) -> None:
    """Set the seed of the next ``Task.init`` (True: the default, None/False: no seeding).
    Raises ValueError for something that is not an integer."""
    global _seed
    if seed is None or seed is False:
        _seed = None
    elif seed is True:
        _seed = DEFAULT_SEED
    else:
        try:
            _seed = int(seed)
        except (TypeError, ValueError):
            raise ValueError(f"Task.set_random_seed takes an integer, True or None; got {seed!r}.") from None


def get_seed() -> int | None:
    return _seed


def make_deterministic(seed: int) -> None:
    """Seed ``random``, numpy (now or at its import), torch and TensorFlow (if imported)."""
    seed = int(seed) & 0xFFFFFFFF
    random.seed(seed)
    if "numpy" in sys.modules:
        _seed_numpy(seed)
    else:
        _wait_for_numpy(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.manual_seed(seed)
            torch.cuda.manual_seed(seed)
        except Exception:  # a partial or CPU-only torch: seeded as far as it goes
            pass
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        for path in ("compat.v1.set_random_seed", "random.set_seed"):
            try:
                obj: Any = tf
                for part in path.split("."):
                    obj = getattr(obj, part)
                obj(seed)
                break
            except Exception:
                continue


def _seed_numpy(seed: int) -> None:
    try:
        sys.modules["numpy"].random.seed(seed)
    except Exception:  # a numpy still importing (or broken): it draws unseeded, as without localtask
        pass


def _wait_for_numpy(seed: int) -> None:
    global _pending_seed
    _pending_seed = seed
    import_hooks.cancel("numpy", _seed_at_import)  # waits once, with the latest seed
    import_hooks.after_import("numpy", _seed_at_import)


def _seed_at_import(_numpy) -> None:
    _seed_numpy(_pending_seed)


def seed_run(task: Any) -> int | None:
    """At ``Task.init``: the seed of this run (under a worker: the one the task recorded, if it
    did), applied and recorded. Returns it (None: not seeded)."""
    seed, stored = _seed, True  # a new run's row was inserted with it (Task._create_recorded)
    if task.is_attached:
        runtime = task.store.get_task(task.id).get("runtime") or {}
        stored = RUNTIME_KEY in runtime
        if stored:
            seed = None if runtime[RUNTIME_KEY] is None else int(runtime[RUNTIME_KEY])
    if seed is not None:
        make_deterministic(seed)
    task._random_seed_used = seed
    if not stored:  # one write less on Task.init's path when the row has it already
        task.store.set_runtime(task.id, {RUNTIME_KEY: seed})
    return seed
