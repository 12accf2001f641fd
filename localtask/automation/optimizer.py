"""ClearML's HyperParameterOptimizer on localtask: a controller that clones the base task once
per configuration its strategy picks (GridSearch: every one; RandomSearch: random draws),
enqueues each, watches the store until each ends, and ranks them by the objective metric.

The jobs are ordinary clones (parented to the base, tagged ``sweep:<id>``), so the page, the
CLI and ``localtask compare --sweep ID`` show them like any sweep. Any worker serving the
execution queue runs them; ``start_locally`` starts one itself.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from ..sweeps import TAG_PREFIX
from .parameters import Parameter

log = logging.getLogger("localtask.automation")
ENDED = ("completed", "failed", "stopped", "published")


class Objective:
    """A scalar to minimise or maximise: its last value, or with ``extremum`` its best one."""

    def __init__(self, title: str, series: str, order: str = "max", extremum: bool = False):
        if order not in ("min", "max"):
            raise ValueError(f"objective order must be 'min' or 'max' (got {order!r})")
        self.title, self.series, self.order, self.extremum = title, series, order, extremum

    def get_objective(self, task_id: str, home=None) -> float | None:
        return self.value_and_iteration(task_id, home)[0]

    def value_and_iteration(self, task_id: str, home=None) -> tuple[float | None, int | None]:
        from ..task import Task

        line = Task.get_task(task_id=task_id, home=home).get_reported_scalars().get(self.title, {}).get(self.series)
        if not line:
            return None, None
        points = [(y, x) for x, y in zip(line["x"], line["y"]) if y == y]
        if not points:
            return None, None
        if self.extremum:
            return (min if self.order == "min" else max)(points)
        return points[-1]

    def get_objective_sign(self) -> float:
        return -1.0 if self.order == "min" else 1.0

    def get_objective_metric(self) -> tuple[str, str]:
        return self.title, self.series


class SearchStrategy:
    """Which configurations to try, in which order (subclasses), and the limits of the search."""

    def __init__(self, base_task_id: str, hyper_parameters: Sequence[Parameter], objective_metric: Objective,
                 execution_queue: str, num_concurrent_workers: int, pool_period_min: float = 2.0,
                 time_limit_per_job: float | None = None, compute_time_limit: float | None = None,
                 min_iteration_per_job: int | None = None, max_iteration_per_job: int | None = None,
                 total_max_jobs: int | None = None, **_ignored: Any):
        self.base_task_id = base_task_id
        self.hyper_parameters = list(hyper_parameters)
        self.objective_metric = objective_metric
        self.execution_queue = execution_queue
        self.max_concurrent = max(1, int(num_concurrent_workers))
        self.pool_period_min = pool_period_min
        self.time_limit_per_job = time_limit_per_job
        self.compute_time_limit = compute_time_limit
        self.min_iteration_per_job = min_iteration_per_job
        self.max_iteration_per_job = max_iteration_per_job
        self.total_max_jobs = total_max_jobs

    def configurations(self) -> Iterator[dict[str, Any]]:
        raise NotImplementedError


class GridSearch(SearchStrategy):
    """Every combination of the parameters' values, in order (the first varies slowest)."""

    def configurations(self) -> Iterator[dict[str, Any]]:
        lists = [p.to_list() for p in self.hyper_parameters]
        for state in itertools.product(*lists):
            yield {k: v for d in state for k, v in d.items()}


class RandomSearch(SearchStrategy):
    """Random draws, never the same configuration twice (it stops when no new one turns up)."""

    #: draws in a row that may repeat a configuration before the space counts as exhausted
    MAX_REPEATS = 100

    def configurations(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        repeats = 0
        while repeats < self.MAX_REPEATS:
            config: dict[str, Any] = {}
            for p in self.hyper_parameters:
                config.update(p.get_value())
            key = repr(sorted(config.items()))
            if key in seen:
                repeats += 1
                continue
            repeats = 0
            seen.add(key)
            yield config


class HyperParameterOptimizer:
    """ClearML's optimizer controller (same arguments); see the module doc."""

    def __init__(self, base_task_id: str, hyper_parameters: Sequence[Parameter],
                 objective_metric_title: str | Sequence[str], objective_metric_series: str | Sequence[str],
                 objective_metric_sign: str | Sequence[str] = "min", optimizer_class: type = RandomSearch,
                 max_number_of_concurrent_tasks: int = 10, execution_queue: str = "default",
                 optimization_time_limit: float | None = None, compute_time_limit: float | None = None,
                 auto_connect_task: Any = True, always_create_task: bool = False,
                 spawn_project: str | None = None, save_top_k_tasks_only: int | None = None,
                 **optimizer_kwargs: Any):
        from ..queue import check_queue_name
        from ..task import Task

        if not isinstance(objective_metric_title, str):
            raise NotImplementedError("localtask's optimizer has one objective: give objective_metric_title "
                                      "and objective_metric_series as strings")
        sign = str(objective_metric_sign)
        order, extremum = sign.replace("_global", ""), sign.endswith("_global")
        if order not in ("min", "max"):
            raise ValueError(f"objective_metric_sign must be min, max, min_global or max_global (got {sign!r})")
        if not isinstance(optimizer_class, type) or not issubclass(optimizer_class, SearchStrategy):
            raise TypeError(f"optimizer_class must be GridSearch or RandomSearch (got {optimizer_class!r})")
        check_queue_name(execution_queue)
        self.base = Task.get_task(task_id=base_task_id)
        missing = [p.name for p in hyper_parameters if p.name and p.name not in self.base.get_parameters()]
        if missing:
            log.warning("the base task %s has no parameter %s: the jobs add it", self.base.id[:8],
                        ", ".join(missing))
        self.objective = Objective(objective_metric_title, objective_metric_series, order, extremum)
        self.optimizer = optimizer_class(self.base.id, hyper_parameters, self.objective, execution_queue,
                                         max_number_of_concurrent_tasks, compute_time_limit=compute_time_limit,
                                         **optimizer_kwargs)
        self.execution_queue = execution_queue
        self.spawn_project = spawn_project
        self.save_top_k_tasks_only = save_top_k_tasks_only
        self.sweep_id = secrets.token_hex(4)
        self._time_limit = time.time() + optimization_time_limit * 60 if optimization_time_limit else None
        self._started: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._active: dict[str, float] = {}  # job id -> time it was enqueued
        self._jobs: list[dict[str, Any]] = []  # every job: id, parameters, objective, iteration, status
        self._lock = threading.Lock()
        self._local_worker: subprocess.Popen | None = None
        self._controller = Task.current_task() if auto_connect_task is True else (
            auto_connect_task if auto_connect_task not in (False, None) else None)

    # ------------------------------------------------------------------ control
    def start(self, job_complete_callback: Callable[..., Any] | None = None) -> bool:
        """Start the search in a background thread; returns True."""
        if self._thread is not None:
            return False
        self._started = time.time()
        self._thread = threading.Thread(target=self._run, args=(job_complete_callback,),
                                        name="localtask-optimizer", daemon=True)
        self._thread.start()
        return True

    def start_locally(self, job_complete_callback: Callable[..., Any] | None = None) -> bool:
        """As :meth:`start`, with a worker of this machine serving the execution queue for the search."""
        from ..store import Store

        home = Store.open().home
        self._local_worker = subprocess.Popen(
            [sys.executable, "-m", "localtask", "--home", str(home), "worker", "--queue", self.execution_queue,
             "--slots", str(self.optimizer.max_concurrent), "--poll-interval", "0.2"],
            env=dict(os.environ, LOCALTASK_HOME=str(home)), stdin=subprocess.DEVNULL, start_new_session=True)
        return self.start(job_complete_callback)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the search ends (or ``timeout`` minutes pass); True when it ended."""
        if self._thread is None:
            return True
        self._thread.join(None if timeout is None else timeout * 60)
        ended = not self._thread.is_alive()
        if ended:
            self._stop_local_worker()
        return ended

    def stop(self, timeout: float | None = None, wait_for_reporter: bool = True) -> None:
        """Stop launching jobs and abort the running ones."""
        from ..task import Task

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout * 60 if timeout else 30)
        with self._lock:
            active = list(self._active)
        for job_id in active:
            try:
                Task.get_task(task_id=job_id).abort()
            except Exception as exc:  # a job that ended meanwhile
                log.debug("job %s: %s", job_id, exc)
        self._stop_local_worker()

    def is_active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_running(self) -> bool:
        return self.is_active()

    def set_time_limit(self, in_minutes: float | None = None, specific_time: Any = None) -> None:
        if specific_time is not None:
            self._time_limit = specific_time.timestamp() if hasattr(specific_time, "timestamp") else float(specific_time)
        elif in_minutes is not None:
            self._time_limit = (self._started or time.time()) + in_minutes * 60
        else:
            self._time_limit = None

    def get_time_limit(self) -> Any:
        from datetime import datetime

        return datetime.fromtimestamp(self._time_limit) if self._time_limit else None

    def elapsed(self) -> float:
        """Minutes since :meth:`start` (-1 before)."""
        return -1.0 if self._started is None else (time.time() - self._started) / 60

    def reached_time_limit(self) -> bool:
        return self._time_limit is not None and time.time() >= self._time_limit

    def set_report_period(self, report_period_minutes: float) -> None:
        self.report_period_minutes = report_period_minutes

    # ------------------------------------------------------------------ results
    def get_num_active_experiments(self) -> int:
        with self._lock:
            return len(self._active)

    def get_active_experiments(self) -> list:
        from ..task import Task

        with self._lock:
            return [Task.get_task(task_id=i) for i in self._active]

    def get_top_experiments(self, top_k: int) -> list:
        """The ``top_k`` best ended jobs as Tasks, best first."""
        from ..task import Task

        return [Task.get_task(task_id=job["id"]) for job in self._ranked()[:top_k]]

    def get_top_experiments_id_metrics_pair(self, top_k: int, all_metrics: bool = False,
                                            only_completed: bool = False) -> list[tuple[str, dict]]:
        out = []
        for job in self._ranked(only_completed)[:top_k]:
            title, series = self.objective.get_objective_metric()
            out.append((job["id"], {title: {series: {"value": job["objective"], "iteration": job["iteration"]}}}))
        return out

    def get_top_experiments_details(self, top_k: int, all_metrics: bool = False, all_hyper_parameters: bool = False,
                                    only_completed: bool = False) -> list[dict[str, Any]]:
        from ..task import Task

        out = []
        for job in self._ranked(only_completed)[:top_k]:
            params = Task.get_task(task_id=job["id"]).get_parameters() if all_hyper_parameters else job["parameters"]
            title, series = self.objective.get_objective_metric()
            out.append({"task_id": job["id"], "hyper_parameters": params,
                        "metrics": {title: {series: {"value": job["objective"], "iteration": job["iteration"]}}}})
        return out

    def get_optimizer(self) -> SearchStrategy:
        return self.optimizer

    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Every job so far: ``{id, parameters, status, objective, iteration}``."""
        with self._lock:
            return [dict(j) for j in self._jobs]

    def _ranked(self, only_completed: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            done = [j for j in self._jobs if j["objective"] is not None
                    and (j["status"] == "completed" or not only_completed)]
        return sorted(done, key=lambda j: -self.objective.get_objective_sign() * j["objective"])

    # ------------------------------------------------------------------ the loop
    def _run(self, callback: Callable[..., Any] | None) -> None:
        configs = self.optimizer.configurations()
        exhausted = False
        launched = 0
        limit = self.optimizer.total_max_jobs
        period = min(max(self.optimizer.pool_period_min * 60, 0.1), 1.0)  # the store is local: look often
        try:
            while not self._stop.is_set():
                self._watch(callback)
                out_of_time = self.reached_time_limit() or self._over_compute_budget()
                with self._lock:
                    room = self.optimizer.max_concurrent - len(self._active)
                while room > 0 and not exhausted and not out_of_time and (limit is None or launched < limit):
                    config = next(configs, None)
                    if config is None:
                        exhausted = True
                        break
                    self._launch(config)
                    launched += 1
                    room -= 1
                with self._lock:
                    idle = not self._active
                if idle and (exhausted or out_of_time or (limit is not None and launched >= limit)):
                    break
                if out_of_time:
                    self._abort_active("the optimization's time limit was reached")
                self._stop.wait(period)
        except Exception:  # the controller must say why it stopped, not die silently in its thread
            log.exception("the hyper-parameter optimizer stopped")

    def _over_compute_budget(self) -> bool:
        limit = self.optimizer.compute_time_limit
        if not limit:
            return False
        from ..task import Task

        used = 0.0
        for job in self.jobs:
            row = Task.get_task(task_id=job["id"]).data
            if row["started"]:
                used += (row["completed"] or time.time()) - row["started"]
        return used / 60 >= limit

    def _launch(self, config: dict[str, Any]) -> None:
        from ..task import Task

        label = " ".join(f"{k.rsplit('/', 1)[-1]}={_shown(v)}" for k, v in config.items())
        job = Task.clone(self.base, name=f"{self.base.name} [{label}]", parent=self.base,  # as a sweep's
                         project=self.spawn_project)
        job.add_tags([TAG_PREFIX + self.sweep_id, "hpo"])
        job.update_parameters({(k if "/" in k else f"General/{k}"): v for k, v in config.items()})
        Task.enqueue(job, queue_name=self.execution_queue)
        with self._lock:
            self._active[job.id] = time.time()
            self._jobs.append({"id": job.id, "parameters": dict(config), "status": "queued",
                               "objective": None, "iteration": None})
        log.info("optimizer: job %s %s", job.id[:8], label)

    def _watch(self, callback: Callable[..., Any] | None) -> None:
        from ..task import Task

        with self._lock:
            active = dict(self._active)
        for job_id, enqueued in active.items():
            task = Task.get_task(task_id=job_id)
            status = task.status
            if status not in ENDED:
                self._enforce_job_limits(task, enqueued)
                continue
            value, iteration = self.objective.value_and_iteration(job_id)
            with self._lock:
                self._active.pop(job_id, None)
                job = next(j for j in self._jobs if j["id"] == job_id)
                job.update(status=status, objective=value, iteration=iteration)
            self._report(job)
            top = self._ranked()
            if callback is not None and value is not None:
                callback(job_id, value, iteration, dict(job["parameters"]), top[0]["id"] if top else None)
            self._prune()

    def _enforce_job_limits(self, task, enqueued: float) -> None:
        opt = self.optimizer
        row = task.data
        if opt.time_limit_per_job and row["started"] and time.time() - row["started"] > opt.time_limit_per_job * 60:
            task.abort()
            log.info("optimizer: job %s aborted at its time limit", task.id[:8])
        elif opt.max_iteration_per_job and task.get_last_iteration() >= opt.max_iteration_per_job:
            task.abort()
            log.info("optimizer: job %s aborted at its iteration limit", task.id[:8])

    def _abort_active(self, why: str) -> None:
        from ..task import Task

        with self._lock:
            active = list(self._active)
        for job_id in active:
            task = Task.get_task(task_id=job_id)
            if task.status not in ENDED:
                log.info("optimizer: job %s aborted: %s", job_id[:8], why)
                task.abort()

    def _report(self, job: dict[str, Any]) -> None:
        if self._controller is None or job["objective"] is None or not math.isfinite(job["objective"]):
            return
        try:
            index = [j["id"] for j in self.jobs].index(job["id"])
            title, series = self.objective.get_objective_metric()
            self._controller.get_logger().report_scalar(f"optimization {title}", series, job["objective"], index)
        except Exception as exc:  # reporting is a view of the search, never its end
            log.warning("optimizer: could not report job %s: %s", job["id"][:8], exc)

    def _prune(self) -> None:
        keep = self.save_top_k_tasks_only
        if not keep:
            return
        from ..task import Task

        for job in self._ranked()[keep:]:
            if job.get("pruned"):
                continue
            try:
                Task.get_task(task_id=job["id"]).set_archived(True)
                job["pruned"] = True
            except Exception as exc:
                log.warning("optimizer: could not archive job %s: %s", job["id"][:8], exc)

    def _stop_local_worker(self) -> None:
        proc, self._local_worker = self._local_worker, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
