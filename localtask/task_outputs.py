"""What a task has produced, as the Task API reads and adds it: its logger, plots, debug
samples, single values, console, scalars and artifacts (a mixin of :class:`localtask.Task`)."""
from __future__ import annotations

import sys
from typing import Any

from ._logging import get_logger
from .folders import make_dirs
from .logger import Logger, scalars_as_dict

log = get_logger("localtask.task")


class TaskOutputs:
    """The outputs part of the Task API; uses the task's ``_store``, ``id``, ``_logger``,
    ``_console`` and ``_attached``."""

    def get_logger(self) -> Logger:
        """The task's :class:`Logger` (scalars, text, plots, tables, debug samples)."""
        if self._logger is None:
            self._logger = Logger(self)
        return self._logger

    @property
    def logger(self) -> Logger:
        """The task's :class:`Logger` (as ``get_logger()``)."""
        return self.get_logger()

    def get_reported_plots(self, max_iterations: int | None = None) -> list[dict]:
        """Every plot reported, oldest first: ``{title, series, iteration, kind, figure}`` with
        the plotly figure dict (ClearML's ``plot_str`` parsed)."""
        self._flush_logger()
        plots = self._store.get_plots(self.id)
        return plots[-max_iterations:] if max_iterations else plots

    def get_debug_samples(self) -> list[dict]:
        """Every debug sample: ``{title, series, iteration, mime, size, path}``."""
        from .report_writer import samples_dir

        self._flush_logger()
        folder = samples_dir(self._store, self.id)
        return [{**{k: r[k] for k in ("title", "series", "iteration", "mime", "size")},
                 "path": folder / r["filename"]} for r in self._store.get_samples(self.id)]

    def get_single_values(self) -> dict[str, float]:
        """The values reported with ``report_single_value``, by name."""
        self._flush_logger()
        return self._store.get_single_values(self.id)

    def _flush_logger(self) -> None:
        if self._logger is not None:
            self._logger.flush()

    def write_console(self, text: str, print_console: bool = True) -> None:
        """Add ``text`` to the task's console log, and with ``print_console`` to stdout too
        (a disk error on the log is logged, never raised: the script goes on)."""
        if print_console and self._console is not None:
            sys.stdout.write(text)  # the tee writes it to the log too
            return
        if print_console:
            sys.stdout.write(text)
        if self._console is not None:
            self._console.write(text)
        elif not (print_console and self._attached):  # a worker already captures our stdout
            path = self._store.console_path(self.id)
            try:
                make_dirs(path.parent)
                with open(path, "a", encoding="utf-8", errors="replace") as fh:
                    fh.write(text)
            except OSError as exc:  # as the console tee: a full disk must not break the script
                log.warning("task %s: cannot write its console log: %s", self.id, exc.strerror or exc)

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The console log (as one text in a list)."""
        path = self._store.console_path(self.id)
        if self._console is not None:
            sys.stdout.flush()
        return [path.read_text(encoding="utf-8", errors="replace")] if path.exists() else []

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter") -> dict:
        """``{title: {series: {'x': [...], 'y': [...]}}}``."""
        if self._logger is not None:
            self._logger.flush()
        return scalars_as_dict(self._store.get_scalars(self.id))

    def upload_artifact(self, name: str, artifact_object: Any, metadata: dict | None = None,
                        **_ignored: Any) -> bool:
        """Store a file, a folder (zipped), a dict/list (JSON), a str (text), a numpy array,
        a DataFrame or any picklable object. The file is complete before its row is committed.
        Raises StoreFullError when the store's disk is full (nothing is recorded, no partial file
        stays; the same call succeeds once there is room), ArtifactError on a bad name, an object
        that cannot be stored or another I/O error."""
        from . import artifacts as artifacts_mod

        artifacts_mod.upload(self._store, self.id, name, artifact_object, metadata)
        return True

    def delete_artifacts(self, artifact_names: list[str], raise_on_errors: bool = True,
                         delete_from_storage: bool = True) -> bool:
        """Delete the named artifacts (ClearML's): their rows, and their files unless
        ``delete_from_storage=False``. A name the task does not have raises ArtifactError
        before anything is deleted (with ``raise_on_errors=False``: the others are deleted and
        False returned). Refused on a published task."""
        from . import artifacts as artifacts_mod
        from .exceptions import ArtifactError

        names = [artifact_names] if isinstance(artifact_names, str) else list(artifact_names)
        have = {row["name"] for row in self._store.get_artifacts(self.id)}
        missing = [n for n in names if n not in have]
        if missing and raise_on_errors:
            raise ArtifactError(f"Task {self.id} has no artifact {', '.join(map(repr, missing))} "
                                f"(it has: {', '.join(sorted(have)) or 'none'}); nothing was deleted.")
        files = self._store.delete_artifacts(self.id, [n for n in names if n in have])
        if delete_from_storage:
            folder = artifacts_mod.artifacts_dir(self._store, self.id)
            for filename in files:
                if not self._store.artifact_file_named(self.id, filename):  # no other row keeps it
                    artifacts_mod.remove_file(folder, filename)
        return not missing

    @property
    def artifacts(self) -> dict[str, Any]:
        """``{name: Artifact}``; ``artifact.get_local_copy()`` / ``artifact.get()``."""
        from . import artifacts as artifacts_mod

        return {row["name"]: artifacts_mod.Artifact(self._store, self.id, row)
                for row in self._store.get_artifacts(self.id)}
