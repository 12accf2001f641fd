"""What a task reports: scalars, text, and ClearML's plots, tables, debug samples and single
values (converted by :mod:`localtask.reporting`). All are buffered and written in batches by
one background thread, so a training loop never waits on the store."""
from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from ._logging import get_logger
from .exceptions import LocaltaskError, StoreError, StoreFullError
from . import current_run
from .params import shown

if TYPE_CHECKING:
    from .task import Task

log = get_logger("localtask.logger")

BATCH_SIZE = 20_000
FLUSH_INTERVAL = 1.0
#: points kept in memory while the store cannot be written; beyond it the oldest are dropped.
MAX_UNWRITTEN = 10 * BATCH_SIZE
#: ClearML's default debug sample history (returned; localtask keeps every sample)
DEFAULT_SAMPLE_HISTORY = 100
#: "nan"/"inf" -> [stored value, warning period, count] once set_reporting_*_value is called
_REPLACE: dict[str, list] = {}


class Logger:
    """ClearML's Logger: ``report_scalar``, ``report_text`` and every ``report_*`` call of
    :mod:`localtask.reporting` (histogram, table, image, media, plotly, matplotlib, ...), with
    ClearML's arguments; get it with ``task.get_logger()`` or ``Logger.current_logger()``."""

    def __init__(self, task: "Task"):
        self._task = task
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq: int | None = None
        self._last_error: Exception | None = None
        self._reports_kept = None  # a ReportWriter, made at the first plot or sample
        self._flush_period = FLUSH_INTERVAL
        self._upload_destination: str | None = None
        self._sample_history: int | None = None

    @classmethod
    def current_logger(cls) -> "Logger | None":
        """The logger of the task this process runs (None before ``Task.init``)."""
        task = current_run.get()
        return task.get_logger() if task is not None else None

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Record one point of the plot ``title``, line ``series``. Written in batches, in the
        background.

        When a background write failed (the store's disk is full: SQLite could not commit),
        the next call raises that error, a StoreFullError (or another StoreError) naming the
        task and the store, after keeping its own point: the unwritten points stay in memory and
        are retried at the next write, so a script that frees space and goes on loses nothing.
        Points committed earlier are never affected.
        """
        self._add_point(title, series, value, iteration, self._task.get_initial_iteration())

    def _add_point(self, title: str, series: str, value: float, iteration: int, offset: int = 0) -> None:
        try:
            point = (str(title), str(series), int(iteration) + offset, self._replaced(float(value)), time.time())
            # checked here, not at the batch's write: one bad point must not lose the batch
            if not -2**63 <= point[2] < 2**63:
                raise ValueError(iteration)
            if not (point[0].isascii() and point[1].isascii()):
                (point[0] + point[1]).encode("utf-8")  # no lone surrogate: SQLite text is Unicode
        except (TypeError, ValueError, OverflowError):
            raise LocaltaskError(
                f"report_scalar({shown(title)}, {shown(series)}, value={shown(value)}, "
                f"iteration={shown(iteration)}): "
                "value must be a number, iteration a 64-bit integer, title and series valid "
                "Unicode text.") from None
        with self._lock:
            self._buffer.append(point)
            full = len(self._buffer) >= BATCH_SIZE
            error, self._last_error = self._last_error, None
        if error is not None:
            raise error
        if full:
            self.flush()
        elif self._thread is None:
            self._start_flusher()

    def report_single_value(self, name: str, value: float) -> None:
        """A summary value: shown in the task's Info, and kept as the scalar ``Summary/<name>`` at
        iteration 0 (ClearML's scalars list it too)."""
        from .reporting import report_single_value

        self._keep(report_single_value(name, value))
        self._add_point("Summary", name, value, 0)

    @property
    def _reports(self):
        # made (and localtask.reporting imported) only when a script reports more than
        # scalars: that module is not on Task.init's path
        if self._reports_kept is None:
            from .report_writer import ReportWriter

            self._reports_kept = ReportWriter(self._task.store, self._task.id)
        return self._reports_kept

    def _keep(self, record) -> None:
        self._reports.add(record)
        if self._thread is None:
            self._start_flusher()

    def report_text(self, msg: str, level: int = 20, print_console: bool = True) -> None:
        """Write a line to the task's console log (and to the terminal)."""
        self._task.write_console(str(msg) + "\n", print_console=print_console)

    def flush(self) -> None:
        """Write buffered scalars to the store now. Raises StoreFullError (or another
        StoreError) when the store cannot be written; the points are then kept for the next try."""
        self._flush_reports()
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return
        try:
            if self._seq is None:
                self._seq = self._task.store.get_task(self._task.id)["seq"]
            # SQLite stores NaN as NULL; read back as NaN by get_reported_scalars.
            self._task.store.add_scalars(
                self._seq, [r if not math.isnan(r[3]) else (r[0], r[1], r[2], None, r[4]) for r in rows])
            with self._lock:  # everything kept is written: an earlier failure is over
                if not self._buffer:
                    self._last_error = None
        except StoreError as exc:
            with self._lock:
                self._buffer[:0] = rows
                dropped = len(self._buffer) - MAX_UNWRITTEN
                if dropped > 0:
                    del self._buffer[:dropped]
                    log.warning("task %s: dropped the %d oldest scalar points, unwritten for too long",
                                self._task.id, dropped)
                kept = len(self._buffer)
            raise type(exc)(f"Cannot write the scalars of task {self._task.id} ({kept} points kept in "
                            f"memory, retried at the next write): {exc}") from None

    def _flush_reports(self) -> None:
        if self._reports_kept is None or not self._reports_kept.pending():
            return
        taken = self._reports.take()
        try:
            if self._seq is None:
                self._seq = self._task.store.get_task(self._task.id)["seq"]
            self._reports.write(self._seq, taken)
        except StoreError as exc:
            self._reports.put_back(taken)
            raise type(exc)(f"Cannot write the plots and debug samples of task {self._task.id} "
                            f"(kept in memory, retried at the next write): {exc}") from None

    def _start_flusher(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localtask-scalars", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_period):
            try:
                self.flush()
            except StoreFullError as exc:  # raised in the script by its next report_scalar
                with self._lock:
                    self._last_error = exc
            except Exception as exc:  # a store locked for a while: the points wait for the next try
                log.warning("task %s: scalars not written yet, retried: %s", self._task.id, exc)

    # ------------------------------------------------------------------ settings (ClearML's)
    def set_flush_period(self, period: float) -> None:
        """Write buffered reports every ``period`` seconds (default 1; from the next write on).
        Raises LocaltaskError for a period that is not a positive number."""
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not 0 < period < math.inf:
            raise LocaltaskError(f"set_flush_period takes a positive number of seconds, not {period!r}.")
        self._flush_period = float(period)

    def get_flush_period(self) -> float:
        """Seconds between background writes of buffered reports."""
        return self._flush_period

    def set_default_upload_destination(self, uri: str) -> None:
        """Where ClearML would upload debug samples. Kept and returned; samples are stored in the
        store whatever it says (a remote URI, s3:// gs:// azure:// http(s)://, gets one warning)."""
        from .task_run_controls import is_remote

        self._upload_destination = None if uri is None else str(uri)
        if is_remote(self._upload_destination):
            log.warning("task %s: upload destination %s is kept but not uploaded to: debug samples are "
                        "stored in %s", self._task.id, self._upload_destination, self._task.store.home)

    def get_default_upload_destination(self) -> str:
        """The destination set, else (as ClearML gives its files server) the folder of this
        task's debug samples in the store."""
        from .report_writer import samples_dir

        return self._upload_destination or str(samples_dir(self._task.store, self._task.id))

    def set_default_debug_sample_history(self, max_history: int) -> None:
        """Kept and returned by :meth:`get_default_debug_sample_history`; localtask never drops
        debug samples (ClearML keeps the last ``max_history`` of a title/series)."""
        self._sample_history = int(max_history)

    def get_default_debug_sample_history(self) -> int:
        """The history set (default 100, ClearML's configuration default)."""
        return self._sample_history if self._sample_history is not None else DEFAULT_SAMPLE_HISTORY

    def report_image_and_upload(self, title: str, series: str, iteration: int | None = None,
                                path: str | None = None, matrix: Any = None,
                                max_image_history: int | None = None, delete_after_upload: bool = False) -> None:
        """Deprecated in ClearML: :meth:`report_image` with ``local_path=path``, ``image=matrix``."""
        self.report_image(title=title, series=series, iteration=iteration or 0,  # type: ignore[attr-defined]
                          local_path=path, image=matrix, max_image_history=max_image_history,
                          delete_after_upload=delete_after_upload)

    def capture_logging(self) -> "_LoggingCapture":
        """A context manager: ``logging`` records emitted inside it go to the task's console
        log (they already do when a handler writes to the captured stdout/stderr)."""
        return _LoggingCapture(self._task)

    @classmethod
    def matplotlib_force_report_non_interactive(cls, force: bool) -> None:
        """True: every matplotlib figure (reported or captured at show/savefig) is kept as an image
        rather than converted to an interactive plot."""
        from . import reporting

        reporting.FORCE_NON_INTERACTIVE = bool(force)

    @classmethod
    def tensorboard_auto_group_scalars(cls, group_scalars: bool = False) -> None:
        """Accepted: localtask does not bind to TensorBoard (report with report_scalar)."""

    @classmethod
    def tensorboard_single_series_per_graph(cls, single_series: bool = False) -> None:
        """Accepted: localtask does not bind to TensorBoard (report with report_scalar)."""

    @classmethod
    def set_reporting_nan_value(cls, value: float, warn_period: int = 1000) -> None:
        """Store NaN scalars as ``value`` from now on (localtask keeps NaN by default, where
        ClearML stores 0); one warning every ``warn_period`` replacements."""
        _REPLACE["nan"] = [float(value), max(int(warn_period), 1), 0]

    @classmethod
    def set_reporting_inf_value(cls, value: float, warn_period: int = 1000) -> None:
        """Store ±inf scalars as ``value`` from now on (localtask keeps inf by default, where
        ClearML stores 0); one warning every ``warn_period`` replacements."""
        _REPLACE["inf"] = [float(value), max(int(warn_period), 1), 0]

    @staticmethod
    def _replaced(value: float) -> float:
        kind = "nan" if value != value else "inf" if value in (math.inf, -math.inf) else None
        rule = _REPLACE.get(kind) if kind else None
        if rule is None:
            return value
        if rule[2] % rule[1] == 0:
            log.warning("localtask: a %s scalar is stored as %s (set_reporting_%s_value)", kind, rule[0], kind)
        rule[2] += 1
        return rule[0]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


class _LoggingCapture:
    """Adds a handler writing ``logging`` records to the task's console log, unless a root
    handler already writes them to the captured stdout/stderr."""

    def __init__(self, task: "Task"):
        self._task = task
        self._handler: Any = None

    def __enter__(self) -> "_LoggingCapture":
        import logging
        import sys

        root = logging.getLogger()
        if any(getattr(h, "stream", None) in (sys.stdout, sys.stderr) for h in root.handlers):
            return self
        task = self._task

        class ToConsole(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    task.write_console(self.format(record) + "\n", print_console=True)
                except Exception:
                    self.handleError(record)

        self._handler = ToConsole()
        self._handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        root.addHandler(self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        import logging

        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None


#: the ClearML report calls converted by localtask.reporting and kept by the logger
REPORT_CALLS = (
    "report_histogram", "report_vector", "report_table", "report_line_plot", "report_scatter2d",
    "report_scatter3d", "report_surface", "report_confusion_matrix", "report_matrix",
    "report_image", "report_media", "report_plotly", "report_matplotlib_figure",
)


def _report_method(name: str):
    def method(self: Logger, *args: Any, **kwargs: Any) -> None:
        from . import reporting

        self._keep(getattr(reporting, name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"ClearML's ``Logger.{name}``, with its arguments (see ``localtask.reporting.{name}``)."
                      "\n\nKept as an output of the task (not cloned; reset deletes it) and written in the "
                      "background. Raises ReportingError naming the argument that is not accepted.")
    return method


for _name in REPORT_CALLS:
    setattr(Logger, _name, _report_method(_name))


def scalars_as_dict(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, list]]]:
    """``{title: {series: {'x': [...], 'y': [...]}}}`` as ClearML's get_reported_scalars."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for row in rows:
        series = out.setdefault(row["title"], {}).setdefault(row["series"], {"x": [], "y": []})
        series["x"].append(row["iteration"])
        series["y"].append(math.nan if row["value"] is None else row["value"])
    return out
