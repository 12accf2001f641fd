"""``logging.getLogger`` deferred to first use: importing logging (and traceback with it)
costs Task.init's start-up about 10 ms, and most runs never log anything."""
from __future__ import annotations


class LazyLogger:
    """Stands for ``logging.getLogger(name)``; the logging module is imported on first call."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        import logging

        return getattr(logging.getLogger(self._name), attr)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
