"""Hand every figure shown (``pyplot.show``) or saved (``Figure.savefig``) to a callback.

``install(callback)`` patches matplotlib if it is imported, else waits for its import
(:mod:`localtask.import_hooks`; ClearML also patches on import); ``uninstall()`` restores the originals.
Idempotent; the originals are always called and their result returned. The callback gets
``(title, series, figure, iteration)``; iteration is a per-title counter (as ClearML). The logger
passes a wrapper around ``reporting.report_matplotlib_figure``. A failing callback never breaks
the user's show/savefig. Off switch: ``LOCALTASK_NO_MPL_CAPTURE=1`` or ``uninstall()``.
"""
from __future__ import annotations

import os
import sys
import threading
from collections import defaultdict

from . import import_hooks
from ._logging import get_logger

log = get_logger("localtask.mpl_capture")

_lock = threading.RLock()
_state: dict = {"callback": None, "orig_show": None, "orig_savefig": None, "finder": None}
_counters: defaultdict[str, int] = defaultdict(int)
_busy = threading.local()


def _title(fig) -> str:
    try:
        t = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
        if not t and fig.axes:
            t = fig.axes[0].get_title()
    except Exception:
        t = ""
    return t or f"Figure {getattr(fig, 'number', '') or ''}".strip()


def _emit(fig) -> None:
    cb = _state["callback"]
    if cb is None or getattr(_busy, "on", False):
        return
    _busy.on = True  # the callback itself calls savefig: do not report that
    try:
        title = _title(fig)
        with _lock:
            it = _counters[title]
            _counters[title] += 1
        cb(title, title, fig, it)
    except Exception as e:
        log.warning("could not report a matplotlib figure: %s", e)
    finally:
        _busy.on = False


def _patch() -> None:
    import matplotlib.figure
    import matplotlib.pyplot as plt
    with _lock:
        if _state["orig_show"] is not None:
            return
        orig_show, orig_savefig = plt.show, matplotlib.figure.Figure.savefig

        def show(*args, **kwargs):
            for num in plt.get_fignums():
                _emit(plt.figure(num))
            return orig_show(*args, **kwargs)

        def savefig(self, *args, **kwargs):
            _emit(self)
            return orig_savefig(self, *args, **kwargs)

        show.__wrapped__ = orig_show
        savefig.__wrapped__ = orig_savefig
        _state.update(orig_show=orig_show, orig_savefig=orig_savefig)
        plt.show = show
        matplotlib.figure.Figure.savefig = savefig


def _patch_at_import(_pyplot) -> None:
    _state["finder"] = None
    if _state["callback"] is not None:
        _patch()


def install(callback) -> None:
    if os.environ.get("LOCALTASK_NO_MPL_CAPTURE") == "1":
        return
    with _lock:
        _state["callback"] = callback
        if "matplotlib.pyplot" in sys.modules:
            _patch()
        elif _state["finder"] is None:
            _state["finder"] = _patch_at_import
            import_hooks.after_import("matplotlib.pyplot", _patch_at_import)


def uninstall() -> None:
    with _lock:
        _state["callback"] = None
        if _state["finder"] is not None:
            import_hooks.cancel("matplotlib.pyplot", _state["finder"])
            _state["finder"] = None
        if _state["orig_show"] is not None:
            import matplotlib.figure
            import matplotlib.pyplot as plt
            plt.show = _state["orig_show"]
            matplotlib.figure.Figure.savefig = _state["orig_savefig"]
            _state.update(orig_show=None, orig_savefig=None)
        _counters.clear()
