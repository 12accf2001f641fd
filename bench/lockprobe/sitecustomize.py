"""Bench-only probe (bench/shared_scale.py puts this folder on PYTHONPATH of its children):
times every access to a shared store's cross-host lock in this process, and can hold the lock
longer to stand for a network disk's round trips. The library itself is not changed.

LOCALTASK_BENCH_LOCKLOG=DIR: append "<wait s> <hold s>" per access to DIR/<pid>.txt.
LOCALTASK_BENCH_HOLD_DELAY=S: sleep S seconds inside the lock at every access.
"""
import os

if os.environ.get("LOCALTASK_BENCH_LOCKLOG"):
    import contextlib
    import threading
    import time

    from localtask import store_access as _access

    _DIR = os.environ["LOCALTASK_BENCH_LOCKLOG"]
    _DELAY = float(os.environ.get("LOCALTASK_BENCH_HOLD_DELAY") or 0)
    _state = threading.local()
    _write_lock = threading.Lock()
    _files: dict = {}
    _acquire = _access.SharedAccess.acquire
    _access_cm = _access.SharedAccess.access

    def _record(line: str) -> None:
        with _write_lock:
            out = _files.get(os.getpid())
            if out is None:
                out = _files[os.getpid()] = open(os.path.join(_DIR, f"{os.getpid()}.txt"), "a", buffering=1)
            out.write(line)

    def acquire(self):
        t0 = time.perf_counter()
        _acquire(self)
        _state.taken = time.perf_counter()
        _state.wait = _state.taken - t0
        if _DELAY:
            time.sleep(_DELAY)

    @contextlib.contextmanager
    def access(self):
        with _access_cm(self) as conn:
            yield conn
        _record(f"{_state.wait:.7f} {time.perf_counter() - _state.taken:.7f}\n")

    _access.SharedAccess.acquire = acquire
    _access.SharedAccess.access = access
