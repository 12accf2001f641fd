"""The Slurm executor: a worker that hands each task it claims to Slurm as a job.

It claims tasks from the store as a local worker does, and submits each as a job running
``localtask run-task ID`` (:mod:`localtask.slurm_job`) on a compute node against the shared
store, with the worker's resources under the task's own ``Slurm/`` parameters (so a clone
can ask for more). Up to ``max_jobs`` jobs at a time. An abort scancels the job; a job that
ends without its task recording an end (time limit, preemption, node failure, scancel by
someone else) ends the task failed with Slurm's reason, or re-queued with ``requeue_lost``.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import params as P, slurm
from .exceptions import LocaltaskError, SlurmError, SlurmUnavailableError
from .folders import make_dirs
from .status import TaskStatus
from .worker import Run, Worker, _ConsoleLog

log = logging.getLogger("localtask.slurm_worker")

JOB_PREFIX = "localtask-"
#: seconds without claims after Slurm's controller could not be reached
AWAY_PAUSE = 10.0
OUTPUT_TAIL_BYTES = 2000


@dataclass
class JobRun(Run):
    """A task this worker handed to Slurm."""

    job_id: str = ""
    submitted: float = 0.0
    cancel_sent: bool = False
    output: Path | None = None


class SlurmWorker(Worker):
    """A worker whose slots are Slurm jobs (``max_jobs`` at a time).

    ``resources``: what every job asks for (:class:`localtask.slurm.Resources`), under each
    task's ``Slurm/`` parameters. ``slurm_poll``: seconds between two looks at squeue for jobs
    that ended without their task recording it. ``array``: tasks claimed together (a sweep)
    with equal resources go as one array job. Other arguments as :class:`Worker`.
    """

    def __init__(self, home=None, queues=("default",), max_jobs: int = 16,
                 resources: slurm.Resources | None = None, slurm_poll: float = 5.0, array: bool = False,
                 **kwargs):
        if max_jobs < 1:
            raise LocaltaskError(f"max_jobs must be at least 1 (got {max_jobs}).")
        super().__init__(home=home, queues=queues, slots=max_jobs, **kwargs)
        self.resources = resources or slurm.Resources()
        self.slurm_poll = float(slurm_poll)
        self.array = array
        self._batch: list[dict] = []  # claimed in this iteration, to submit together (array)
        self._last_poll = 0.0
        self._paused_until = 0.0  # no claims while Slurm's controller is away

    def run(self) -> int:
        """As :meth:`Worker.run`, once Slurm answers (SlurmError otherwise: nothing is claimed)."""
        slurm.check_cluster()
        return super().run()

    def _sweep_earlier_life(self) -> None:
        """Take back the jobs a previous life of this worker (same name) left in Slurm; the
        tasks without a live job end as a local worker's do."""
        mine = self.store.tasks_of_worker(self.name)
        try:
            jobs = slurm.jobs_named(JOB_PREFIX + task_id for task_id in mine)
        except SlurmError as exc:
            log.warning("worker %s: cannot look for the jobs of its earlier life: %s", self.name, exc)
            jobs = {}
        for task_id in mine:
            job_id = jobs.get(JOB_PREFIX + task_id)
            if job_id is not None:
                run = JobRun(task_id, job_id=job_id, submitted=time.monotonic(),
                             output=self.store.task_dir(task_id) / f"slurm-{job_id}.out")
                self.running[task_id] = run
                log.info("task %s: Slurm job %s of this worker's earlier life taken back", task_id, job_id)
            elif self.store.end_lost_run(task_id, self.name, f"worker {self.name} restarted",
                                         requeue=self.requeue_lost):
                log.warning("task %s: %s, worker %s restarted and its job is gone", task_id,
                            "re-queued" if self.requeue_lost else "failed", self.name)

    def capacity(self) -> str:
        """How many tasks it runs at a time, in words."""
        options = " ".join(self.resources.sbatch_options())
        return f"up to {self.slots} Slurm job(s)" + (f" ({options})" if options else "") + (
            ", sweeps as array jobs" if self.array else "")

    # ------------------------------------------------------------------ one iteration
    def work_once(self) -> int:
        """Notice ended jobs, then heartbeat, aborts and claims as :meth:`Worker.work_once`."""
        self._reap()
        slots = self.slots
        if time.monotonic() < self._paused_until:
            self.slots = 0  # heartbeats and aborts go on; nothing is claimed
        try:
            return super().work_once()
        finally:
            self._submit_batch()
            self.slots = slots

    def _reap(self) -> None:
        """Free the slots of tasks that ended; end those whose job died without saying so."""
        runs = [r for r in self.running.values() if isinstance(r, JobRun)]
        if not runs:
            return
        statuses = self.store.run_statuses([r.task_id for r in runs])
        for run in runs:
            status, worker = statuses.get(run.task_id, (None, None))
            if status != TaskStatus.in_progress.value or worker != self.name:
                self._done(run, status or "deleted")
        now = time.monotonic()
        if now - self._last_poll < self.slurm_poll:
            return
        self._last_poll = now
        runs = [r for r in self.running.values() if isinstance(r, JobRun)]
        try:
            jobs = slurm.states(r.job_id for r in runs)
        except SlurmError as exc:  # slurmctld briefly away: the jobs are not lost for that
            log.warning("worker %s: %s", self.name, exc)
            return
        for run in runs:
            job = jobs.get(run.job_id)
            if job is None or job.ended:
                self._job_ended(run, job)

    def _job_ended(self, run: JobRun, job: slurm.JobState | None) -> None:
        """The job is gone: record the task's end unless its run-task did."""
        verdict = job.describe() if job else f"Slurm no longer knows job {run.job_id}"
        status, worker = self.store.run_statuses([run.task_id]).get(run.task_id, (None, None))
        if status != TaskStatus.in_progress.value or worker != self.name:
            self._done(run, status or "deleted")
            return
        console = _ConsoleLog(run.task_id, self.store.console_path(run.task_id))
        tail = self._output_tail(run)
        if tail and (job is None or job.state in ("FAILED", "COMPLETED")):
            # The job itself went wrong (the node has no such Python, run-task refused...):
            # its last words say why.
            verdict += f"; its output ends: {tail.splitlines()[-1].strip()}"
        if tail:
            console.say(f"localtask: the end of Slurm's output for job {run.job_id}:\n{tail}")
        if run.abort_reason:
            console.say(f"localtask: task {run.task_id} stopped: {run.abort_reason}")
            self.store.finish_task(run.task_id, self.name, TaskStatus.stopped, run.abort_reason)
            outcome = TaskStatus.stopped.value
        else:
            requeue = self.requeue_lost
            console.say(f"localtask: {verdict}; " + ("re-queued" if requeue else "task failed"))
            self.store.end_lost_run(run.task_id, self.name, verdict, requeue=requeue)
            outcome = "re-queued" if requeue else TaskStatus.failed.value
        console.close()
        self._done(run, outcome, verdict if not run.abort_reason else run.abort_reason)

    @staticmethod
    def _output_tail(run: JobRun) -> str:
        try:
            with open(run.output, "rb") as out:  # type: ignore[arg-type]
                out.seek(0, 2)
                out.seek(max(0, out.tell() - OUTPUT_TAIL_BYTES))
                return out.read().decode("utf-8", "replace").strip()
        except (OSError, TypeError):
            return ""

    def _done(self, run: JobRun, outcome: str, reason: str = "") -> None:
        log.info("task %s: %s after %.1f s (Slurm job %s)%s", run.task_id, outcome,
                 time.monotonic() - run.submitted, run.job_id, f": {reason}" if reason else "")
        with self._lock:
            self.running.pop(run.task_id, None)

    # ------------------------------------------------------------------ submitting
    def job_command(self, task_id: str) -> list[str]:
        """The command a job runs: this interpreter's ``localtask run-task`` on the store."""
        cmd = [sys.executable, "-m", "localtask", "--home", str(self.store.home), "run-task", task_id,
               "--worker", self.name, "--env", self.env, "--grace", str(self.grace)]
        cmd += ["--wheels", self.wheels] if self.wheels else []
        cmd += ["--strict-env"] if self.strict_env else []
        return cmd + (["--container", self.container.engine] if self.container is not None else [])

    def task_resources(self, task_id: str) -> slurm.Resources:
        """The worker's resources under those the task asks for in its ``Slurm/`` section."""
        own = {r["name"]: P.decode(r["value"], r["type"]) for r in self.store.get_parameters(task_id)
               if r["section"] == slurm.SECTION}
        return slurm.Resources.from_parameters(own).over(self.resources)

    def _start(self, row: dict) -> None:
        if not self.array:
            self._submit([row], self._resources_or_fail(row))
            return
        with self._lock:  # holds its slot until the batch is submitted, this iteration
            self.running[row["id"]] = JobRun(row["id"], submitted=time.monotonic())
        self._batch.append(row)

    def _submit_batch(self) -> None:
        """Submit the tasks claimed together: one array job per set of equal resources."""
        rows, self._batch = self._batch, []
        groups: dict[slurm.Resources, list[dict]] = {}
        for row in rows:
            resources = self._resources_or_fail(row)
            if resources is not None:
                groups.setdefault(resources, []).append(row)
        for resources, group in groups.items():
            self._submit(group, resources)

    def _resources_or_fail(self, row: dict) -> slurm.Resources | None:
        try:
            return self.task_resources(row["id"])
        except LocaltaskError as exc:
            self._not_submitted([row], exc)
            return None

    def _submit(self, rows: list[dict], resources: slurm.Resources | None) -> None:
        """Submit ``rows`` as one job (one row) or one array job; their runs take the slots."""
        if resources is None:
            return
        home = str(self.store.home)
        try:
            if len(rows) == 1:
                task_id = rows[0]["id"]
                output = self.store.task_dir(task_id, create=True) / "slurm-%j.out"
                job_ids = [slurm.submit(self.job_command(task_id), resources, name=JOB_PREFIX + task_id,
                                        output=str(output), chdir=home)]
                outputs = [output.with_name(f"slurm-{job_ids[0]}.out")]
            else:
                folder = self.store.cache_dir / "slurm"
                make_dirs(folder)
                job_ids = slurm.submit_array([self.job_command(r["id"]) for r in rows], resources,
                                             name=f"{JOB_PREFIX}array", output=str(folder / "slurm-%A_%a.out"),
                                             chdir=home)
                outputs = [folder / f"slurm-{job_id}.out" for job_id in job_ids]
        except SlurmUnavailableError as exc:  # not the tasks' fault: back to their queue
            self._paused_until = time.monotonic() + AWAY_PAUSE
            self.slots = 0  # ends this iteration's claims (work_once restores it)
            for row in rows:
                self.store.end_lost_run(row["id"], self.name, f"not submitted: {exc}", requeue=True)
                with self._lock:
                    self.running.pop(row["id"], None)
            log.warning("worker %s: %s; %d task(s) back in the queue, no claims for %.0f s", self.name,
                        exc, len(rows), AWAY_PAUSE)
            return
        except LocaltaskError as exc:
            self._not_submitted(rows, exc)
            return
        options = " ".join(resources.sbatch_options())
        shown = f" ({options})" if options else ""
        for row, job_id, output in zip(rows, job_ids, outputs):
            run = JobRun(row["id"], job_id=job_id, submitted=time.monotonic(), output=output)
            console = _ConsoleLog(run.task_id, self.store.console_path(run.task_id))
            console.say(f"localtask: worker {self.name} submitted task {run.task_id} as Slurm job {job_id}{shown}")
            console.close()
            with self._lock:
                self.running[run.task_id] = run
            log.info("task %s %r: submitted as Slurm job %s%s", run.task_id, row.get("name"), job_id, shown)

    def _not_submitted(self, rows: list[dict], exc: LocaltaskError) -> None:
        for row in rows:
            task_id = row["id"]
            console = _ConsoleLog(task_id, self.store.console_path(task_id))
            console.say(f"localtask: worker {self.name} could not submit task {task_id}: {exc}")
            console.close()
            self.store.finish_task(task_id, self.name, TaskStatus.failed, str(exc))
            with self._lock:
                self.running.pop(task_id, None)
            log.warning("task %s %r: failed: %s", task_id, row.get("name"), exc)

    # ------------------------------------------------------------------ abort
    def _abort(self, run: Run, reason: str) -> None:
        if run.abort_reason is None:
            run.abort_reason = reason
        if isinstance(run, JobRun) and run.job_id and not run.cancel_sent:
            run.cancel_sent = True
            try:
                slurm.cancel(run.job_id)
            except SlurmError as exc:
                log.warning("task %s: %s", run.task_id, exc)
            self._last_poll = 0.0  # look at the job again at once

    def _escalate(self) -> None:
        """Slurm sends SIGKILL itself, KillWait after scancel's SIGTERM."""

    def _shutdown(self) -> None:
        with self._lock:
            runs = [r for r in self.running.values() if isinstance(r, JobRun)]
        for run in runs:
            self._abort(run, "worker shut down")
            if self.store.finish_task(run.task_id, self.name, TaskStatus.stopped, run.abort_reason):
                log.info("task %s: stopped (Slurm job %s cancelled)", run.task_id, run.job_id)
        with self._lock:
            self.running.clear()
        super()._shutdown()
