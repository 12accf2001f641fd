"""Run a callback right after a module's import: how localtask patches a library (matplotlib,
the configuration frameworks, joblib) or seeds one (numpy) only once the script imports it,
never importing it itself.

One ``sys.meta_path`` finder serves every hook (the protocol is its ``find_spec``;
``importlib.abc`` would cost ``Task.init`` 4 ms). It wraps the module's ``exec_module`` so the
callbacks run once the module's code has.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable

_lock = threading.RLock()
#: module name -> callbacks waiting for its import (each given the module)
_waiting: dict[str, list[Callable]] = {}
_finder: "_Finder | None" = None
_busy = threading.local()  # the names this thread is looking up itself


def after_import(name: str, callback: Callable) -> None:
    """Call ``callback(module)`` once, right after ``name`` is next imported."""
    global _finder
    with _lock:
        _waiting.setdefault(name, []).append(callback)
        if _finder is None:
            _finder = _Finder()
            sys.meta_path.insert(0, _finder)


def cancel(name: str, callback: Callable | None = None) -> None:
    """Forget ``callback`` (None: every callback) waiting for ``name``; the finder leaves
    ``sys.meta_path`` when nothing waits."""
    global _finder
    with _lock:
        kept = [c for c in _waiting.get(name, []) if callback is not None and c is not callback]
        if kept:
            _waiting[name] = kept
        else:
            _waiting.pop(name, None)
        if not _waiting and _finder is not None:
            if _finder in sys.meta_path:
                sys.meta_path.remove(_finder)
            _finder = None


class _Finder:
    def find_spec(self, name, path=None, target=None):
        looking = getattr(_busy, "names", None)
        if looking is None:
            looking = _busy.names = set()
        if name not in _waiting or name in looking:
            return None
        looking.add(name)  # per name: a hooked module imported while finding another still counts
        try:
            import importlib.util

            spec = importlib.util.find_spec(name)
        finally:
            looking.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            with _lock:
                callbacks = _waiting.get(name, [])
            for callback in callbacks:
                cancel(name, callback)
                callback(module)

        spec.loader.exec_module = exec_module
        return spec
