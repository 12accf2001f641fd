"""Pytest plugin (auto-loaded when localtask is installed): a throwaway store per test.

Use it to unit-test ML code that calls ``Task.init`` without any infrastructure::

    def test_training_records_accuracy(localtask_home):
        task = train(lr=0.1)            # your code, calling Task.init(...)
        assert task.get_reported_scalars()["accuracy"]["val"]["y"][-1] > 0.9

``localtask_home`` is the store folder (a fresh ``tmp_path`` subfolder, also exported as
``LOCALTASK_HOME`` for subprocesses); ``localtask_store`` is the opened :class:`Store`.
"""
from __future__ import annotations

import pytest


def pytest_configure(config):
    """pytest has parsed its own command line with argparse by now: drop it, so that a
    Task.init later in this process never records pytest's options as the task's Args/."""
    from . import argparse_hook

    argparse_hook.pending = None


@pytest.fixture
def localtask_home(tmp_path, monkeypatch):
    """A fresh, empty store folder for this test; ``LOCALTASK_HOME`` points at it."""
    from . import argparse_hook, current_run

    # pytest's own command line went through argparse before any test ran; it is not the
    # task's arguments, so Task.init in a test must not record it as Args/.
    argparse_hook.pending = None
    home = tmp_path / "localtask-home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    monkeypatch.delenv("LOCALTASK_TASK_ID", raising=False)
    previous = current_run.get()
    if previous is not None:
        current_run.clear(previous)
    yield home
    current = current_run.get()
    if current is not None and current is not previous:
        try:
            current.close()
        finally:
            current_run.clear(current)
            if previous is not None:
                current_run.set(previous)


@pytest.fixture
def localtask_store(localtask_home):
    """The :class:`localtask.Store` opened on :func:`localtask_home`."""
    from .store import Store

    return Store.open(localtask_home)
