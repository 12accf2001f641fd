"""Slurm through its command line: the resources of a job, sbatch, squeue, scancel.

Plain ``sbatch`` with a small batch script rather than submitit: the job runs a command
(``localtask run-task ID``), not a pickled Python callable, and its state must be read
where no accounting daemon runs (submitit reads it with ``sacct``, which then fails).
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable

from .exceptions import SlurmError, SlurmUnavailableError

#: the parameter section a task asks for its own resources in (``Slurm/cpus`` ...)
SECTION = "Slurm"

#: job states after which nothing of the job runs any more
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}

#: what each way of ending means, in words for the task's reason
_ENDINGS = {
    "TIMEOUT": "reached its time limit",
    "CANCELLED": "was cancelled (scancel)",
    "NODE_FAIL": "was ended by a node failure",
    "PREEMPTED": "was preempted",
    "OUT_OF_MEMORY": "ran out of memory",
    "BOOT_FAIL": "could not boot its node",
    "DEADLINE": "passed its deadline",
    "FAILED": "failed",
    "COMPLETED": "ended",
}


@dataclass(frozen=True)
class Resources:
    """What one job asks Slurm for; ``None`` leaves it to the cluster's defaults."""

    partition: str | None = None
    gres: str | None = None
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    sbatch_args: tuple[str, ...] = field(default_factory=tuple)

    def over(self, base: "Resources") -> "Resources":
        """These resources where set, ``base``'s elsewhere (extra sbatch arguments: both)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sbatch_args"}
        merged = replace(base, **{k: v for k, v in values.items() if v is not None})
        return replace(merged, sbatch_args=tuple(base.sbatch_args) + tuple(self.sbatch_args))

    def sbatch_options(self) -> list[str]:
        """The sbatch command-line options for these resources."""
        opts = [f"--{flag}={value}" for flag, value in (
            ("partition", self.partition), ("gres", self.gres), ("cpus-per-task", self.cpus),
            ("mem", self.mem), ("time", self.time)) if value not in (None, "")]
        return opts + list(self.sbatch_args)

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> "Resources":
        """The resources a task asks for in its ``Slurm/`` section (``{name: value}``).

        Raises SlurmError for a name that is not a resource or a value that does not fit."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise SlurmError(f"Unknown Slurm resource(s) {', '.join(unknown)} in the task's "
                             f"{SECTION}/ section; use {', '.join(sorted(known))}.")
        values: dict[str, Any] = {}
        for name, value in params.items():
            if value is None or value == "":
                continue
            if name == "cpus":
                try:
                    values[name] = int(value)
                except (TypeError, ValueError):
                    raise SlurmError(f"{SECTION}/cpus must be a whole number (got {value!r}).") from None
            elif name == "sbatch_args":
                values[name] = tuple(value) if isinstance(value, (list, tuple)) else tuple(shlex.split(str(value)))
            else:
                values[name] = str(value)
        return cls(**values)


@dataclass(frozen=True)
class JobState:
    """A job as squeue shows it: its state and Slurm's reason."""

    job_id: str
    state: str
    reason: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def describe(self) -> str:
        """Slurm's verdict in words: ``Slurm job 12 reached its time limit (TIMEOUT, TimeLimit)``."""
        what = _ENDINGS.get(self.state, f"ended {self.state}")
        detail = ", ".join(x for x in (self.state, self.reason) if x and x != "None")
        return f"Slurm job {self.job_id} {what} ({detail})"


def _run(args: list[str], stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        raise SlurmError(f"{args[0]} is not on PATH: the Slurm executor needs Slurm's client commands "
                         "(sbatch, squeue, scancel) on the worker's machine.")
    try:
        return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SlurmUnavailableError(f"{args[0]} did not answer within {timeout:.0f} s (is slurmctld up?).") from None


#: what Slurm's commands say when its controller is away (not a refusal of the job)
_AWAY = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
         "Zero Bytes were transmitted")


def _refused(command: str, proc: subprocess.CompletedProcess, what: str) -> SlurmError:
    words = proc.stderr.strip() or proc.stdout.strip()
    if any(away in words for away in _AWAY):
        return SlurmUnavailableError(f"Slurm's controller cannot be reached ({command}: {words}); "
                                     "check that slurmctld runs and SLURM_CONF points at its cluster.")
    return SlurmError(f"{what}: {words}")


def check_cluster() -> None:
    """Raise SlurmError (SlurmUnavailableError) unless Slurm's commands and controller answer."""
    proc = _run(["scontrol", "ping"], timeout=30)
    if proc.returncode != 0 or "UP" not in proc.stdout:
        said = (proc.stdout.strip() or proc.stderr.strip() or "no answer").splitlines()[0]
        raise SlurmUnavailableError(f"Slurm's controller cannot be reached (scontrol ping: {said}); "
                                    "check that slurmctld runs and SLURM_CONF points at its cluster.")


def batch_script(command: list[str]) -> str:
    """The batch script of a job that runs ``command`` (exec'd, so Slurm's signals reach it)."""
    return "#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in command) + "\n"


def array_script(commands: list[list[str]]) -> str:
    """The batch script of an array job whose element ``i`` runs ``commands[i]``."""
    lines = ["#!/bin/sh", 'case "$SLURM_ARRAY_TASK_ID" in']
    lines += [f"  {i}) exec " + " ".join(shlex.quote(c) for c in cmd) + " ;;" for i, cmd in enumerate(commands)]
    lines += ['  *) echo "localtask: no command for array index $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', "esac"]
    return "\n".join(lines) + "\n"


def submit(command: list[str], resources: Resources, *, name: str, output: str, chdir: str) -> str:
    """Submit a job that runs ``command``; returns its id. Raises SlurmError with sbatch's words."""
    return _sbatch(batch_script(command), resources, name=name, output=output, chdir=chdir)


def submit_array(commands: list[list[str]], resources: Resources, *, name: str, output: str,
                 chdir: str) -> list[str]:
    """Submit one array job, element ``i`` running ``commands[i]``; returns the elements' ids
    (``12_0``, ``12_1``...). ``output`` may use ``%A`` and ``%a``. Raises SlurmError."""
    base = _sbatch(array_script(commands), resources, name=name, output=output, chdir=chdir,
                   extra=[f"--array=0-{len(commands) - 1}"])
    return [f"{base}_{i}" for i in range(len(commands))]


def _sbatch(script: str, resources: Resources, *, name: str, output: str, chdir: str,
            extra: list[str] | None = None) -> str:
    args = ["sbatch", "--parsable", f"--job-name={name}", f"--output={output}", f"--chdir={chdir}",
            "--no-requeue", *(extra or []), *resources.sbatch_options()]
    proc = _run(args, stdin=script)
    if proc.returncode != 0:
        raise _refused("sbatch", proc, f"sbatch refused the job ({' '.join(resources.sbatch_options()) or 'no options'})")
    return proc.stdout.strip().split(";")[0]


def states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of each job Slurm still knows (ended ones included); unknown ids are left out."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    # -r: an array's elements one per line, by their own ids (12_3)
    proc = _run(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%r", f"--jobs={','.join(ids)}"])
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:  # every id asked for is gone
            return {}
        raise _refused("squeue", proc, "squeue failed")
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[0] in ids:
            found[parts[0]] = JobState(*parts)
    return found


def jobs_named(names: Iterable[str]) -> dict[str, str]:
    """``{job name: job id}`` of the pending or running jobs with these names."""
    names = sorted(set(names))
    if not names:
        return {}
    proc = _run(["squeue", "-h", "-o", "%j|%i", f"--name={','.join(names)}"])
    if proc.returncode != 0:
        raise SlurmError(f"squeue failed: {proc.stderr.strip()}")
    return dict(line.strip().split("|", 1) for line in proc.stdout.splitlines() if "|" in line)


def cancel(job_id: str) -> None:
    """scancel the job (Slurm sends SIGTERM to its processes, then SIGKILL). Raises SlurmError."""
    proc = _run(["scancel", job_id])
    if proc.returncode != 0 and "already completing or completed" not in proc.stderr:
        raise SlurmError(f"scancel {job_id} failed: {proc.stderr.strip()}")
