"""A model's reports (ClearML's ``OutputModel.report_scalar``, ``report_table``, ...).

localtask has no page per model: a model's reports are kept with the running task that
reports them, titled ``Model <name> / <title>`` (``Model / <title>`` for a model named
after its task), so they show in that task's Scalars, Plots
and Info tabs, are compared and reproduced with it, and are outputs (not cloned; reset
deletes them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import current_run
from .exceptions import LocaltaskError

if TYPE_CHECKING:
    from .logger import Logger

#: ClearML's report calls of a model (its BaseModel), each the Logger call of that name
MODEL_REPORT_CALLS = (
    "report_histogram", "report_vector", "report_table", "report_line_plot", "report_scatter2d",
    "report_scatter3d", "report_confusion_matrix", "report_matrix", "report_surface",
)


class ModelReports:
    """The report calls of a model, written through the logger of the task that reports."""

    def _reporting(self, title: Any) -> tuple["Logger", str]:
        """The logger to write to, and ``title`` as the task shows it."""
        task = getattr(self, "_task", None) or current_run.get()
        if task is None:
            raise LocaltaskError(
                f"Model {self.name!r} ({self.id}) has no running task to keep its reports: call "
                "Task.init first, or create the OutputModel with task=... (localtask keeps a model's "
                "reports with the task that reports them).")
        # a model named after its task (OutputModel's default) needs no name in the title
        prefix = "Model" if self.name == task.name else f"Model {self.name}"
        return task.get_logger(), f"{prefix} / {title}"

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of the model's scalar plot ``title``, line ``series``."""
        logger, title = self._reporting(title)
        logger.report_scalar(title, series, value, iteration)

    def report_single_value(self, name: str, value: float) -> None:
        """A summary value of the model (shown in the reporting task's Info tab)."""
        logger, name = self._reporting(name)
        logger.report_single_value(name, value)


def _model_report_method(name: str):
    def method(self: ModelReports, title: str, *args: Any, **kwargs: Any) -> None:
        logger, title = self._reporting(title)
        getattr(logger, name)(title, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"ClearML's ``Model.{name}``: ``Logger.{name}`` of the reporting task, titled "
                      "``Model <name> / <title>``.")
    return method


for _name in MODEL_REPORT_CALLS:
    setattr(ModelReports, _name, _model_report_method(_name))
