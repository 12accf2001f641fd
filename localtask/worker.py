"""The worker: claims queued tasks and runs each as its own process group.

The loop body is :meth:`Worker.work_once` (one iteration; tests can drive it). Signal
handlers only set flags: a first SIGTERM/SIGINT drains (nothing new is claimed, running tasks
finish), a second aborts the running tasks.
"""
from __future__ import annotations

import collections
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .folders import make_dirs
from . import gpus as gpus_mod, leftovers, runner
from .container import ContainerRunner
from .executors import make_environment
from .exceptions import LocaltaskError, RunError, StoreError, StoreFullError
from .queue import Waker, check_queue_name
from .status import TaskStatus
from .store import Store, _pid_alive

log = logging.getLogger("localtask.worker")

OUTPUT_TAIL = 15
#: below this much free disk, a run's working copy goes before its end is recorded, to make room
LOW_DISK_BYTES = 8 << 20


@dataclass
class Run:
    """A task this worker is running."""

    task_id: str
    thread: threading.Thread | None = None
    process: subprocess.Popen | None = None
    abort_reason: str | None = None
    term_sent: float | None = None
    killed: bool = False
    workdir: Path | None = None
    in_container: bool = False
    gpus: list | None = None  # the devices it holds (None: the worker hands out no GPUs)
    output_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_TAIL))


class _ConsoleLog:
    """A task's console log, written line by line from several threads; it never raises."""

    def __init__(self, task_id: str, path: Path):
        self.task_id, self.path = task_id, path
        self.error: list[BaseException] = []
        self.done = False
        self._lock = threading.Lock()
        try:
            make_dirs(path.parent)
            self._out = open(path, "a", buffering=1, encoding="utf-8", errors="replace")
        except OSError as exc:
            self.error.append(exc)
            log.warning("task %s: cannot write its console log %s: %s; the run goes on without it",
                        task_id, path, exc.strerror or exc)
            self._out = open(os.devnull, "w")

    def say(self, text: str) -> None:
        """Append one line."""
        # A console log that cannot be written (disk full) must not stop the output pumps
        # (the task would block on a full pipe) nor the recording of the task's end.
        with self._lock:
            if self.error or self.done:
                return
            try:
                self._out.write(text.rstrip("\n") + "\n")
            except (OSError, ValueError) as exc:
                self.error.append(exc)
                log.warning("task %s: cannot write its console log %s: %s; the run goes on, "
                            "its console is incomplete", self.task_id, self.path,
                            getattr(exc, "strerror", None) or exc)

    def let_go(self) -> None:
        """Write nothing more (a process outside the task's group still holds its output)."""
        with self._lock:
            self.done = True

    def close(self) -> None:
        """Close the file."""
        try:
            self._out.close()
        except OSError:
            pass


class Worker:
    """Runs queued tasks from ``queues`` (first queue first), ``slots`` at a time.

    ``env``: ``current`` runs with this interpreter (warning about package differences);
    ``venv`` builds a cached virtual environment from the recorded packages (offline from
    ``wheels`` when given). ``container``: ``docker`` or ``podman`` runs each task that has an
    image inside it (without it such a task fails: it never runs outside its image). ``burst``:
    return once the queues are empty and tasks have ended. Before each task starts, its
    environment is compared with the record and the verdict stored on the task
    (:mod:`localtask.drift`); ``strict_env`` fails the task then when anything differs.
    ``gpus``: ``"all"`` or indexes/UUIDs (``"0,1"``) of the devices nvidia-smi lists; each task
    gets its own through ``CUDA_VISIBLE_DEVICES`` (``Resources/gpus`` of them, default: devices
    per slot) and waits until enough are free; ``slots`` then defaults to one per device.
    Raises GpuError when the devices cannot be read or chosen.
    """

    def __init__(self, home: str | os.PathLike | None = None, queues=("default",), slots: int | None = None,
                 name: str | None = None, env: str = "current", wheels: str | None = None,
                 burst: bool = False, keep_workdirs: bool = False, requeue_lost: bool = False,
                 lost_timeout: float = 30.0, grace: float = 10.0, poll_interval: float = 0.5,
                 heartbeat_interval: float = 2.0, use_events: bool = True, container: str | None = None,
                 strict_env: bool = False, gpus: str | None = None):
        self.store = Store.open(home)
        self.queues = [check_queue_name(q) for q in (queues or ["default"])]
        self.gpus = (gpus_mod.GpuPool(gpus_mod.select(gpus, gpus_mod.query_devices(), gpus_mod.visible_devices()))
                     if gpus is not None else None)
        if slots is None:
            slots = self.gpus.total if self.gpus is not None else 1
        if slots < 1:
            raise LocaltaskError(f"slots must be at least 1 (got {slots}).")
        wheels = str(Path(wheels).absolute()) if wheels else None
        self.environment = make_environment(env, wheels)  # the strategy (localtask.executors)
        self.container = ContainerRunner(container) if container else None
        self.slots = int(slots)
        #: GPUs a task gets when it has no Resources/gpus parameter
        self.gpus_per_task = max(1, self.gpus.total // self.slots) if self.gpus is not None else 0
        self._gpu_record_lock = threading.Lock()
        self._too_big: set[str] = set()  # tasks asking for more GPUs than this worker has
        self.host = os.uname().nodename
        self.name = name or f"{self.host}:{os.getpid()}"
        self.env = env
        self.wheels = wheels
        self.burst = burst
        self.strict_env = strict_env
        self.keep_workdirs = keep_workdirs
        self.requeue_lost = requeue_lost
        self.lost_timeout = float(lost_timeout)
        self.grace = float(grace)
        self.poll_interval = float(poll_interval)
        self.heartbeat_interval = min(float(heartbeat_interval), max(self.lost_timeout / 3, 0.1))
        self.use_events = use_events and not self.store.shared
        self.running: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._signals = 0
        self._signals_seen = 0
        self._last_beat = 0.0
        self._waker: Waker | None = None
        self._registered = False

    # ------------------------------------------------------------------ life
    def register(self) -> None:
        """Enter the workers table and sweep tasks left running by lost workers."""
        existing = self.store.worker_row(self.name)
        if existing and existing["state"] == "running" and (
                existing["host"] != self.host or existing["pid"] != os.getpid()) and (
                time.time() - existing["last_heartbeat"] < self.lost_timeout) and (
                existing["host"] != self.host or _pid_alive(existing["pid"])):  # restarted after a crash
            raise LocaltaskError(
                f"A worker named {self.name!r} is already running on {existing['host']} "
                f"(pid {existing['pid']}); choose another --name.")
        self.store.register_worker(self.name, self.host, os.getpid(), self.queues, self.slots,
                                   self.gpus.table() if self.gpus is not None else None)
        self._registered = True
        self._sweep_earlier_life()
        self.sweep()
        for run in self.store.fail_dead_local_runs(self.host):
            log.warning("task %s: failed: %s", run["id"], run["reason"])
        swept = leftovers.sweep(self.store)
        if swept.count:
            log.warning("worker %s: removed leftovers of killed runs: %s", self.name, swept.summary())

    def _sweep_earlier_life(self) -> None:
        # Tasks still carrying our name belong to an earlier life of this worker: they are not
        # running any more.
        for task_id, _ in self.store.sweep_lost(0, requeue=self.requeue_lost, only_worker=self.name):
            log.warning("task %s: failed, worker %s restarted", task_id, self.name)

    def sweep(self) -> None:
        for task_id, worker in self.store.sweep_lost(self.lost_timeout, requeue=self.requeue_lost,
                                                     exclude_worker=self.name):
            log.warning("task %s: worker %s lost; %s", task_id, worker,
                        "re-queued" if self.requeue_lost else "failed")

    def run(self) -> int:
        """Run until stopped by signals (or, in burst mode, until there is no work). Returns 0."""
        self._install_signals()
        self._waker = Waker(self.store, use_events=self.use_events)
        self.register()
        log.info("worker %s: watching queues %s with %s", self.name, self.queues, self.capacity())
        try:
            while True:
                try:
                    claimed = self.work_once()
                except StoreError as exc:  # a locked or briefly unavailable store: keep serving
                    log.warning("worker %s: %s", self.name, exc)
                    self._waker.wait(self.poll_interval, stop=self._signalled)
                    continue
                if self._should_exit(claimed):
                    break
                if not claimed:
                    self._waker.wait(self.poll_interval, stop=self._signalled)
        finally:
            self._shutdown()
        return 0

    def capacity(self) -> str:
        """How many tasks it runs at a time, in words."""
        return f"{self.slots} slot(s)" + (f", GPUs {gpus_mod.describe(self.gpus.devices)}"
                                          if getattr(self, "gpus", None) is not None else "")

    def _should_exit(self, claimed: int) -> bool:
        with self._lock:
            busy = bool(self.running)
        if self._signals >= 1 and not busy:
            return True
        # (tasks too big for this worker's GPUs stay queued for another worker)
        return self.burst and not busy and claimed == 0 and self.store.pending(self.queues) <= len(self._too_big)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            self._signals += 1  # only a flag: the loop's wait sees it within 0.1 s

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _signalled(self) -> bool:
        if self._signals != self._signals_seen:
            self._signals_seen = self._signals
            return True
        return False

    def _shutdown(self) -> None:
        with self._lock:
            runs = list(self.running.values())
        for run in runs:
            self._abort(run, "worker shut down")
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=self.grace + 5)
        if self._waker is not None:
            self._waker.close()
        if self._registered:
            self.store.unregister_worker(self.name)

    # ------------------------------------------------------------------ one iteration
    def work_once(self) -> int:
        """One loop iteration: heartbeat, abort handling, claims. Returns the number claimed."""
        now = time.time()
        with self._lock:
            ids = list(self.running)
        if now - self._last_beat >= self.heartbeat_interval:
            self._last_beat = now
            aborted = self.store.heartbeat(self.name, ids, "draining" if self._signals else "running")
            self.sweep()
        else:
            aborted = self.store.abort_requested(ids) if ids else []
        for task_id in aborted:
            run = self.running.get(task_id)
            if run is not None:
                self._abort(run, "aborted by user")
        self._escalate()
        if self._signals >= 2:
            for run in list(self.running.values()):
                self._abort(run, "worker stopped")
            return 0
        if self._signals:
            return 0
        claimed = 0
        while len(self.running) < self.slots:
            row = self._claim()
            if row is None:
                break
            claimed += 1
            self._start(row)
        return claimed

    def _claim(self) -> dict | None:
        """The next task for a free slot (with GPUs: one whose request fits the free ones), or None."""
        if self.gpus is None:
            return self.store.claim(self.name, self.queues, host=self.host)
        row, too_big = self.store.claim_fitting(self.name, self.queues, free=self.gpus.free(),
                                                total=self.gpus.total, default=self.gpus_per_task,
                                                host=self.host)
        for task_id, need in too_big:
            if task_id not in self._too_big:
                log.warning("task %s asks for %d GPUs and worker %s has %d: left queued for a worker "
                            "with more", task_id, need, self.name, self.gpus.total)
        self._too_big = {task_id for task_id, _ in too_big}
        return row

    def _start(self, row: dict) -> None:
        run = Run(row["id"])
        if self.gpus is not None:
            run.gpus = self.gpus.take(row["id"], row["gpus_requested"])
            self._publish_gpus()
        with self._lock:
            self.running[row["id"]] = run
        run.thread = threading.Thread(target=self._execute, args=(run, row),
                                      name=f"localtask-task-{row['id'][:8]}", daemon=True)
        run.thread.start()

    def _publish_gpus(self) -> None:
        """Record in the workers table which task holds each GPU (``localtask workers``)."""
        try:
            with self._gpu_record_lock:  # the table read inside: the last write is the newest state
                self.store.set_worker_gpus(self.name, self.queues, self.gpus.table())
        except StoreError as exc:  # only the display is stale; the next change rewrites it
            log.warning("worker %s: cannot record its GPUs: %s", self.name, exc)

    def _release_gpus(self, run: Run) -> None:
        if self.gpus is not None and run.gpus is not None:
            self.gpus.release(run.task_id)
            self._publish_gpus()

    # ------------------------------------------------------------------ abort
    def _abort(self, run: Run, reason: str) -> None:
        if run.abort_reason is None:
            run.abort_reason = reason
        proc = run.process
        if proc is not None and proc.poll() is None and run.term_sent is None:
            run.term_sent = time.monotonic()
            self._signal_group(proc, signal.SIGTERM)

    def _escalate(self) -> None:
        for run in list(self.running.values()):
            proc = run.process
            if (run.term_sent is not None and not run.killed and proc is not None and proc.poll() is None
                    and time.monotonic() - run.term_sent >= self.grace):
                run.killed = True
                self._signal_group(proc, signal.SIGKILL)
                if run.in_container and self.container is not None:  # not in the loop: it may take a while
                    threading.Thread(target=self.container.kill, args=(run.task_id,), daemon=True).start()

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    # ------------------------------------------------------------------ running one task
    def _execute(self, run: Run, row: dict) -> None:
        """Run one task through its phases and record its end, whatever happens."""
        task_id = row["id"]
        console = self._open_console(task_id)
        say = console.say
        status, reason = TaskStatus.failed, ""
        began = time.monotonic()
        log.info("task %s %r: started", task_id, row.get("name"))
        try:
            say(f"localtask: worker {self.name} runs task {task_id}")
            if row.get("resource_error"):
                raise RunError(row["resource_error"])
            run_dir = self._prepare_code(run, row, say)
            self._check_abort(run)  # aborted while the code was rebuilt: no environment build
            python = self._prepare_environment(row, say)
            self._check_environment(run, row, python, say)
            self._check_abort(run)
            readers = self._spawn(run, row, python, run_dir, say)
            code = self._wait(run, readers, console)
            status, reason = self._outcome(run, code)
        except LocaltaskError as exc:
            status = TaskStatus.stopped if run.abort_reason else TaskStatus.failed
            reason = run.abort_reason or str(exc)
            say(f"localtask: {reason}")
        except Exception as exc:  # a bug or an OS error must still end the task, with its reason
            log.exception("task %s: worker error", task_id)
            reason = f"worker error: {type(exc).__name__}: {exc}"
            say(f"localtask: {reason}")
        finally:
            self._record_end(run, console, status, reason, began)

    def _open_console(self, task_id: str) -> _ConsoleLog:
        """The task's console log, open for appending (a null sink when it cannot be written)."""
        return _ConsoleLog(task_id, self.store.console_path(task_id))

    def _prepare_code(self, run: Run, row: dict, say) -> Path:
        """Rebuild the task's code in a fresh working copy; returns the folder to run in."""
        run.workdir = runner.make_workdir(self.store, run.task_id)
        return runner.rebuild(self.store, run.task_id, row["script"], run.workdir, say)

    @staticmethod
    def _check_abort(run: Run) -> None:
        """Stop between phases when the task was aborted meanwhile."""
        if run.abort_reason:
            raise RunError(run.abort_reason)

    def _prepare_environment(self, row: dict, say) -> str:
        """The Python to run the task with, from the worker's environment strategy (inside its
        image for a task that has one)."""
        environment = row["environment"] or {}
        if environment.get("image"):
            if self.container is None:
                raise RunError(f"The task runs in the container image {environment['image']}, and this "
                               "worker runs no containers: start one with --container docker (or podman). "
                               "A task with an image never runs outside it.")
            return self.container.prepare(environment, say)
        return self.environment.prepare(self.store, row, say)

    def _check_environment(self, run: Run, row: dict, python: str, say) -> None:
        """Compare what will run with what was recorded, store the verdict on the task and say
        what differs; with ``strict_env`` a difference (or no verdict) fails the task here."""
        from . import drift

        recorded = row["environment"] or {}
        try:
            if recorded.get("image"):
                raise RunError("the task runs in its container image, whose packages are not compared "
                               "with the record yet")
            inventory = self.environment.inventory(self.store, python)
            imports = drift.code_imports(run.workdir, row["script"] or {})
            verdict = drift.compare(recorded, inventory, imports, self.environment.provided(self.store))
        except Exception as exc:  # a report, unless strict: it must not fail the task by itself
            log.warning("task %s: cannot compare its environment with the record: %s", run.task_id, exc)
            verdict = {"differs": None, "error": f"{type(exc).__name__}: {exc}"}
            say(f"localtask: WARNING: cannot compare the environment with the record: {exc}")
        verdict.update(checked=time.time(), env=self.environment.name, worker=self.name,
                       executable=python)
        self.store.update_task(run.task_id, environment={**recorded, drift.KEY: verdict})
        for line in drift.warnings(verdict):
            say(line)
        if "error" not in verdict:
            say(f"localtask: environment {drift.summary(verdict)}")
        if self.strict_env and verdict["differs"] is not False:
            raise RunError("--strict-env: the environment " + (
                drift.summary(verdict) if verdict["differs"] else "could not be compared with the record")
                + f"; see: localtask drift {run.task_id[:8]}")

    def _spawn(self, run: Run, row: dict, python: str, run_dir: Path, say) -> list[threading.Thread]:
        """Start the task in a session of its own and pump its output; returns the pumps.

        stdout and stderr share one pipe, so the console keeps the order a terminal shows
        (two pipes read by two threads can put a print after the traceback that followed it).
        """
        task_id = run.task_id
        cmd = self.environment.command(python, row["script"], run.workdir)
        env = dict(os.environ, LOCALTASK_TASK_ID=task_id, LOCALTASK_HOME=str(self.store.home),
                   LOCALTASK_WORKER_PID=str(os.getpid()), LOCALTASK_WORKER=self.name, PYTHONUNBUFFERED="1")
        if run.gpus is not None:
            env.update(gpus_mod.cuda_environment(run.gpus))
            say(f"localtask: GPUs {gpus_mod.describe(run.gpus)}: "
                f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}")
        if (row["environment"] or {}).get("image") and self.container is not None:
            cmd, env = self.container.wrap(cmd, row["environment"], workdir=run.workdir, run_dir=run_dir,
                                           home=self.store.home, task_id=task_id, env=env)
            run.in_container = True
            say("localtask: $ " + " ".join(cmd))
        self._check_abort(run)
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        run.process = proc
        if run.abort_reason:  # aborted while we were starting it
            self._abort(run, run.abort_reason)
        self.store.set_task_pid(task_id, proc.pid)
        readers = [threading.Thread(target=self._pump, args=(proc.stdout, say, run.output_tail), daemon=True)]
        for reader in readers:
            reader.start()
        return readers

    def _wait(self, run: Run, readers: list[threading.Thread], console: _ConsoleLog) -> int:
        """Wait for the task's exit, end what it left in its group; returns its exit code."""
        proc = run.process
        say = console.say
        code = proc.wait()
        for reader in readers:
            reader.join(timeout=1)
        # The run is over: what it left in its group goes too (a child that ignored SIGTERM
        # after an abort, a forgotten helper), or it would keep its GPU and write on.
        self._signal_group(proc, signal.SIGKILL)
        if any(reader.is_alive() for reader in readers):
            say("localtask: ended the processes the task left running")
            for reader in readers:
                reader.join(timeout=2)
        if any(reader.is_alive() for reader in readers):
            # A process in a session of its own (a daemon the task started) still holds the
            # output: waiting for it would keep the task in progress and the slot busy.
            say("localtask: a process outside the task's group still holds its output; "
                "not waiting for it")
            console.let_go()
        return code

    @staticmethod
    def _outcome(run: Run, code: int) -> tuple[TaskStatus, str]:
        """The task's status and reason from its exit code (stopped when it was aborted)."""
        if run.abort_reason:
            return TaskStatus.stopped, run.abort_reason
        if code == 0:
            return TaskStatus.completed, ""
        what = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        tail = "\n".join(run.output_tail)
        return TaskStatus.failed, what + (f"\n{tail}" if tail else "")

    def _record_end(self, run: Run, console: _ConsoleLog, status: TaskStatus, reason: str,
                    began: float) -> None:
        """Close the console, remove the working copy, record the end and free the slot."""
        task_id = run.task_id
        console.say(f"localtask: task {task_id} {status.value}" + (f": {reason.splitlines()[0]}" if reason else ""))
        console.close()
        drop = run.workdir is not None and not (self.keep_workdirs and status != TaskStatus.completed)
        if drop and _nearly_full(self.store.home):  # its space lets the end be recorded
            runner.remove_workdir(run.workdir)
            drop = False
        try:
            try:
                self.store.finish_task(task_id, self.name, status, reason)
            except StoreFullError:  # the working copy's space lets the end be recorded
                if drop:
                    runner.remove_workdir(run.workdir)
                    drop = False
                self.store.finish_task(task_id, self.name, status, reason)
        except LocaltaskError as exc:
            log.error("task %s: cannot record its end (%s: %s): %s. It stays in progress until a "
                      "worker finds it lost (this one, named %s, at its next start).", task_id,
                      status.value, (reason.splitlines() or [""])[0], str(exc).rstrip("."), self.name)
        # Only once the end is committed: a worker killed before leaves the copy to the next
        # worker's sweep, never a finished run without its record.
        if drop:
            runner.remove_workdir(run.workdir)
        elif run.workdir is not None and self.keep_workdirs and run.workdir.parent.exists():
            (run.workdir.parent / leftovers.KEPT).touch()  # kept on purpose: gc leaves it unless --all
        log.info("task %s: %s after %.1f s%s", task_id, status.value, time.monotonic() - began,
                 f" ({reason.splitlines()[0]})" if reason else "")
        self._release_gpus(run)
        self._judge(task_id)
        with self._lock:
            self.running.pop(task_id, None)
        if self._waker is not None:
            self._waker.wake()

    def _judge(self, task_id: str) -> None:
        """A reproduction's verdict, once it ran (it is judged at the next look otherwise)."""
        from . import reproduction

        try:
            comparison = reproduction.judge(self.store, task_id)
        except Exception as exc:  # the run is recorded; a verdict can be made again later
            log.warning("task %s: could not judge the reproduction: %s", task_id, exc)
            return
        if comparison is not None:
            log.info("task %s: reproduction of %s: %s", task_id, comparison.a, comparison.verdict)

    @staticmethod
    def _pump(stream, say, tail) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            say(line)
            if tail is not None and not line.startswith(_RUN_MARKS):  # the reason quotes the script
                tail.append(line)
        stream.close()


#: the lines a task run writes at its Task.init and close (see task.ATTACH_MARK)
_RUN_MARKS = ("localtask: Task.init attached to task", "localtask: Task.close of task")


def _nearly_full(folder: Path) -> bool:
    """Too little room left on ``folder``'s disk for the store's next commits."""
    try:
        return shutil.disk_usage(folder).free < LOW_DISK_BYTES
    except OSError:
        return True
