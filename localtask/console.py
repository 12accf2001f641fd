"""Tee of stdout/stderr into a task's console log, leaving the terminal as it was."""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO


class Tee:
    """A text stream that writes to the original stream and to a shared log file."""

    def __init__(self, original: IO[str], log: IO[str], lock: threading.Lock):
        self._original = original
        self._log = log
        self._lock = lock

    def write(self, text: str) -> int:
        written = self._original.write(text)
        with self._lock:
            try:
                self._log.write(text)
            except (OSError, ValueError):
                pass  # a full disk or closed log must never break the user's print()
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()
        with self._lock:
            try:
                self._log.flush()
            except (OSError, ValueError):
                pass

    def __getattr__(self, name):
        return getattr(self._original, name)


class ConsoleCapture:
    """Installs :class:`Tee` on ``sys.stdout`` and ``sys.stderr`` until :meth:`stop`."""

    def __init__(self, path: Path):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log = open(path, "a", buffering=1, encoding="utf-8", errors="replace")
        self.lock = threading.Lock()
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = Tee(sys.stdout, self.log, self.lock)
        sys.stderr = Tee(sys.stderr, self.log, self.lock)

    def write(self, text: str) -> None:
        """Write to the log only (not the terminal)."""
        with self.lock:
            try:
                self.log.write(text)
            except (OSError, ValueError):
                pass

    def stop(self) -> None:
        if isinstance(sys.stdout, Tee):
            sys.stdout = self._saved[0]
        if isinstance(sys.stderr, Tee):
            sys.stderr = self._saved[1]
        with self.lock:
            try:
                self.log.close()
            except OSError:
                pass
