"""Every error localtask raises on purpose derives from :class:`LocaltaskError`."""


class LocaltaskError(Exception):
    """Root of all localtask errors; the CLI prints these as ``Error: ...``."""


class StoreError(LocaltaskError):
    """The store folder or its database cannot be used."""


class StoreVersionError(StoreError):
    """The store was written by a newer localtask than this one."""


class StoreCorruptError(StoreError):
    """The database file is not a valid SQLite/localtask database."""


class StoreLockedError(StoreError):
    """The database stayed locked by another process past the busy timeout."""


class StoreFullError(StoreError):
    """The store's disk is full (or a file of it reached a size limit): nothing more fits."""


class TaskNotFoundError(LocaltaskError):
    """No task matches the given id, prefix or name."""


class AmbiguousTaskIdError(TaskNotFoundError):
    """An id prefix matches more than one task."""


class IllegalTransitionError(LocaltaskError):
    """The task's status does not allow the requested operation.

    Fields: ``task_id``, ``status``, ``operation``, ``allowed`` (sorted status names),
    ``forceable`` (``force=True`` would do it) and ``reason`` (why, when it is not forceable),
    so each front end writes its own hint after :meth:`summary`.
    """

    def __init__(self, *, task_id: str, status: str, operation: str, allowed: tuple[str, ...],
                 forceable: bool = False, reason: str | None = None):
        self.task_id, self.status, self.operation = task_id, status, operation
        self.allowed, self.forceable, self.reason = tuple(allowed), forceable, reason
        hint = "pass force=True (CLI: --force) to do it anyway" if forceable else reason
        super().__init__(self.summary() + (f"; {hint}" if hint else ""))

    def summary(self) -> str:
        """The refusal without a hint: what, on which task, its status and what is allowed."""
        return (f"Cannot {self.operation} task {self.task_id}: it is {self.status} "
                f"(allowed from: {', '.join(self.allowed)})")


class ParameterError(LocaltaskError):
    """A parameter name or value is invalid (bad name, wrong type)."""


class ArtifactError(LocaltaskError):
    """An artifact name or object cannot be stored or read."""


class CaptureError(LocaltaskError):
    """The script's code or environment could not be recorded."""


class QueueError(LocaltaskError):
    """A queue name is invalid or a queue operation failed."""


class RunError(LocaltaskError):
    """A worker could not rebuild or start a task."""


class ExecutionEditError(LocaltaskError):
    """An edit of a draft's execution (code, packages, Python, image) is invalid; nothing changed."""


class BundleError(LocaltaskError):
    """A bundle file cannot be written, or is not a whole, untampered localtask bundle."""


class BundleVersionError(BundleError):
    """The bundle was written by a store with a newer schema than this localtask's."""


class CreateError(LocaltaskError):
    """A draft cannot be made from the given repository, commit, script or requirements."""


class TaskDataError(LocaltaskError):
    """A task dictionary (``export_task`` shape) cannot be imported."""


class SlurmError(LocaltaskError):
    """A Slurm command (sbatch, squeue, scancel) is missing or refused what was asked."""


class SlurmUnavailableError(SlurmError):
    """Slurm's controller cannot be reached: nothing can be submitted for now."""


class GpuError(LocaltaskError):
    """A worker's GPUs cannot be read or chosen, or a task's GPU request is not valid."""
