"""Tee of stdout/stderr into a task's console log, leaving the terminal as it was."""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO

from .folders import make_dirs


class Tee:
    """A text stream that writes to the original stream and to a shared log file."""

    def __init__(self, original: IO[str], log: IO[str], lock: threading.Lock, capture=None):
        self._original = original
        self._log = log
        self._lock = lock
        self._capture = capture

    def write(self, text: str) -> int:
        # the log first: what the terminal has shown is in the log, even when a signal ends the
        # run right after (its end closes the log from another thread)
        with self._lock:
            if self._capture is None or not self._capture.failed:
                try:
                    self._log.write(text)
                except OSError as exc:  # a full disk must never break the user's print()
                    if self._capture is not None:
                        self._capture.log_failed(exc)
                except ValueError:  # the log was closed
                    pass
        return self._original.write(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()
        with self._lock:
            if self._capture is None or not self._capture.failed:
                try:
                    self._log.flush()
                except OSError as exc:
                    if self._capture is not None:
                        self._capture.log_failed(exc)
                except ValueError:
                    pass

    def __getattr__(self, name):
        return getattr(self._original, name)


class ConsoleCapture:
    """Installs :class:`Tee` on ``sys.stdout`` and ``sys.stderr`` until :meth:`stop`.

    When the log cannot be written (disk full, file-size limit), one warning goes to the real
    stderr and copying stops for the rest of the run: the log stays an exact beginning of the
    output rather than a text with holes, and the script never notices.
    """

    def __init__(self, path: Path):
        make_dirs(path.parent)
        self.log = open(path, "a", buffering=1, encoding="utf-8", errors="replace")
        self.lock = threading.Lock()
        self.failed = False
        self._task_id = path.parent.name
        self._saved = (sys.stdout, sys.stderr)
        # Kept for the capture's life: a print() holds only a borrowed reference to sys.stdout,
        # so a stop() from another thread (a SIGTERM's end) must not free the Tee under it.
        self._tees = (Tee(sys.stdout, self.log, self.lock, self), Tee(sys.stderr, self.log, self.lock, self))
        sys.stdout, sys.stderr = self._tees

    def log_failed(self, exc: OSError) -> None:
        """Stop copying into the log and say so once, on the real stderr (called under the lock)."""
        if self.failed:
            return
        self.failed = True
        try:
            self._saved[1].write(f"localtask: cannot write the console log of task {self._task_id}: "
                                 f"{exc.strerror or exc}; the run goes on, its console is incomplete\n")
            self._saved[1].flush()
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> None:
        """Write to the log only (not the terminal)."""
        with self.lock:
            if self.failed:
                return
            try:
                self.log.write(text)
            except OSError as exc:
                self.log_failed(exc)
            except ValueError:
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
