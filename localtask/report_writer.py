"""Keeps a task's plots, debug samples and single values until the logger writes them.

Each ``Logger.report_*`` call gives a record (``localtask.reporting``); this module turns it
into store rows, kept in memory and written in one transaction per flush (as scalars are), and
writes the bytes of a debug sample into the task's ``samples`` folder at once.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .folders import make_dirs
from .reporting import PlotRecord, SampleRecord, SingleValue

if TYPE_CHECKING:
    from .store import Store

SAMPLES = "samples"


def samples_dir(store: "Store", task_id: str) -> Path:
    """The folder of a task's debug samples (the files the ``samples`` rows name)."""
    return store.task_dir(task_id) / SAMPLES


class ReportWriter:
    """Rows of reports not written yet; :meth:`take` hands them over, :meth:`put_back` after a
    failed write."""

    def __init__(self, store: "Store", task_id: str):
        self.store, self.task_id = store, task_id
        self._lock = threading.Lock()
        self.plots: list[tuple] = []
        self.samples: list[tuple] = []
        self.values: list[tuple] = []

    def add(self, record) -> None:
        now = time.time()
        if isinstance(record, PlotRecord):
            figure = record.figure
            if record.sample is not None:  # a matplotlib figure drawn as an image
                name = self._save(record.sample)
                figure = {**figure, "layout": {**figure.get("layout", {}),
                                               "localtask_image": {"sample": name, "mime": record.sample.mime}}}
            row = (record.title, record.series, record.iteration, record.kind,
                   json.dumps(figure, allow_nan=False), now)
            with self._lock:
                self.plots.append(row)
        elif isinstance(record, SampleRecord):
            name = self._save(record)
            with self._lock:
                self.samples.append((record.title, record.series, record.iteration, name, record.mime,
                                     len(record.data), now))
        elif isinstance(record, SingleValue):
            with self._lock:
                self.values.append((record.name, float(record.value), now))
        else:
            raise TypeError(f"not a report record: {record!r}")

    def _save(self, sample: SampleRecord) -> str:
        folder = samples_dir(self.store, self.task_id)
        make_dirs(folder)
        name = f"{uuid.uuid4().hex}.{sample.extension.lstrip('.') or 'bin'}"
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(sample.data)
        tmp.replace(folder / name)
        return name

    def pending(self) -> bool:
        return bool(self.plots or self.samples or self.values)

    def take(self) -> tuple[list, list, list]:
        with self._lock:
            taken = self.plots, self.samples, self.values
            self.plots, self.samples, self.values = [], [], []
        return taken

    def put_back(self, taken: tuple[list, list, list]) -> None:
        with self._lock:
            self.plots[:0], self.samples[:0], self.values[:0] = taken

    def write(self, seq: int, taken: tuple[list, list, list]) -> None:
        self.store.add_reports(seq, *taken)
