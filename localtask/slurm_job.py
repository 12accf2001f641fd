"""Inside a Slurm job: run one task a Slurm worker claimed, as a local slot would.

``localtask run-task ID --worker NAME`` is the job's command. It rebuilds the code, prepares
the environment, runs the script, writes the console and records the end under the worker's
name, through the same phases as the worker's own slots (:class:`localtask.worker.Worker`),
on the compute node against the shared store. It beats for the task and honours an abort.

A SIGTERM it did not ask for comes from Slurm (scancel, the time limit, preemption): the
script is stopped and the end is left to the worker, which asks Slurm why the job ended.
"""
from __future__ import annotations

import logging
import os
import time

from .exceptions import LocaltaskError
from .queue import notify
from .status import TaskStatus
from .worker import Run, Worker, _ConsoleLog

log = logging.getLogger("localtask.slurm_job")

#: the line the console gets when Slurm ends the job; the worker adds Slurm's reason
ENDED_BY_SLURM = "Slurm is ending the job"


class JobRunner(Worker):
    """Runs the claimed task ``task_id`` of worker ``name`` in this process, then returns."""

    def __init__(self, task_id: str, name: str, home=None, env: str = "current", wheels=None,
                 grace: float = 10.0, heartbeat_interval: float = 2.0, container: str | None = None,
                 strict_env: bool = False):
        super().__init__(home=home, name=name, env=env, wheels=wheels, grace=grace,
                         heartbeat_interval=heartbeat_interval, use_events=False, container=container,
                         strict_env=strict_env)
        self.task_id = self.store.resolve_id(task_id)
        self.job_id = os.environ.get("SLURM_JOB_ID", "")
        self.ended_by_slurm = False

    def run(self) -> int:
        """Run the task to its end; 0 when it completed, 1 otherwise."""
        row = self.store.get_task(self.task_id)
        if row["status"] != TaskStatus.in_progress.value or row["worker"] != self.name:
            raise LocaltaskError(
                f"Task {self.task_id} is not running for worker {self.name!r} (it is {row['status']}"
                f"{', run by ' + row['worker'] if row.get('worker') else ''}): run-task only runs a "
                "task a Slurm worker claimed; enqueue it and let the worker submit it.")
        self._install_signals()
        self.running[self.task_id] = run = Run(self.task_id)
        self._start_thread(run, row)
        while run.thread.is_alive():
            self._look(run)
            run.thread.join(timeout=0.1)
        status = self.store.run_statuses([self.task_id]).get(self.task_id, ("", None))[0]
        return 0 if status == TaskStatus.completed.value else 1

    def _start_thread(self, run: Run, row: dict) -> None:
        import threading

        run.thread = threading.Thread(target=self._execute, args=(run, row), daemon=True,
                                      name=f"localtask-task-{run.task_id[:8]}")
        run.thread.start()

    def _look(self, run: Run) -> None:
        """Beat, and stop the script on an abort or on Slurm's SIGTERM."""
        now = time.time()
        if now - self._last_beat >= self.heartbeat_interval or (self._signals and run.abort_reason is None):
            self._last_beat = now
            status, worker = self.store.run_statuses([run.task_id]).get(run.task_id, ("deleted", None))
            if status != TaskStatus.in_progress.value or worker != self.name:
                self._abort(run, f"the task is no longer this run ({status}): stopped")
            elif self.store.beat_tasks([run.task_id]):
                self._abort(run, "aborted by user")
            elif self._signals and run.abort_reason is None:
                self.ended_by_slurm = True
                self._abort(run, ENDED_BY_SLURM)
        self._escalate()

    def _spawn(self, run: Run, row: dict, python: str, run_dir, say):
        readers = super()._spawn(run, row, python, run_dir, say)
        # The pid is one of this compute node's, not of the worker's host (show, abort).
        self.store.set_task_pid(run.task_id, run.process.pid, host=self.host)
        return readers

    def _open_console(self, task_id: str) -> _ConsoleLog:
        console = super()._open_console(task_id)
        if self.job_id:
            console.say(f"localtask: Slurm job {self.job_id} on {self.host}")
        return console

    def _record_end(self, run: Run, console: _ConsoleLog, status: TaskStatus, reason: str,
                    began: float) -> None:
        if status == TaskStatus.failed and run.term_sent is None and reason.startswith("killed by signal"):
            # Slurm signals every process of the job: the script may die before we see our own
            # SIGTERM; wait a little for it before calling this a failure of the script.
            deadline = time.monotonic() + 2
            while not self._signals and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._signals and self.store.abort_requested([run.task_id]):
                status, reason = TaskStatus.stopped, "aborted by user"  # the worker's scancel
            elif self._signals:
                self.ended_by_slurm = True
        if self.ended_by_slurm:
            console.say(f"localtask: {ENDED_BY_SLURM} {self.job_id}; the worker records why".rstrip())
            console.close()
            if run.workdir is not None:
                from . import runner
                runner.remove_workdir(run.workdir)
            log.warning("task %s: %s %s; its end is left to worker %s", run.task_id, ENDED_BY_SLURM,
                        self.job_id, self.name)
            self.running.pop(run.task_id, None)
        else:
            super()._record_end(run, console, status, reason, began)
        notify(self.store)  # the Slurm worker frees the slot now, not at its next poll
