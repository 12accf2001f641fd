"""Helpers for the worker tests: real git repositories, real scripts, real worker processes.

Plain functions (no fixtures), imported by tests/test_worker.py and tests/test_worker_e2e.py.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

from localtask import Store, Task
from localtask.worker import Worker

#: how the tests start the CLI: the console script installed beside this interpreter (not a
#: pyenv shim that might pick another Python), else the entry point itself.
_SCRIPT = Path(sys.executable).parent / "localtask"
LOCALTASK_CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from localtask.cli import main; sys.argv[0] = 'localtask'; main()"]

RESULT = re.compile(r"^RESULT (.*)$", re.M)


def git(*args: str, cwd: str | os.PathLike, check: bool = True) -> str:
    """Run git in ``cwd``; returns stdout (text). Fails the test with git's stderr."""
    proc = subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stderr}")
    return proc.stdout


def write(path: Path, body: str) -> Path:
    """Write a dedented text file (creating its folder); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repository at ``path`` whose first commit holds ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=path)
    git("config", "user.name", "Test", cwd=path)
    git("config", "user.email", "test@example.com", cwd=path)
    git("config", "commit.gpgsign", "false", cwd=path)
    for rel, body in files.items():
        write(path / rel, body)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "initial", cwd=path)
    return path


def child_env(home: str | os.PathLike, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LOCALTASK_TASK_ID", None)
    env["LOCALTASK_HOME"] = str(home)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the repositories under test
    env.update(extra)
    return env


def run_script(script: Path, *args: str, home: str | os.PathLike, cwd: Path | None = None,
               timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """``python script args`` in a subprocess with ``LOCALTASK_HOME=home``; text output."""
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd or script.parent,
                          env=child_env(home, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def recorded_id(proc: subprocess.CompletedProcess) -> str:
    """The id a script printed as ``TASK_ID=<id>``, after checking it exited 0."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    ids = re.findall(r"^TASK_ID=([0-9a-f]{32})$", proc.stdout, re.M)
    assert len(ids) == 1, f"no task id printed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return ids[0]


def results(text: str) -> list[str]:
    """The ``RESULT ...`` lines of a script's output or a console log."""
    return RESULT.findall(text)


def console(store: Store, task_id: str) -> str:
    path = store.console_path(task_id)
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def run_to_completion(home: str | os.PathLike, task_id: str) -> tuple[dict, str]:
    """Run the queue with a burst worker; the task must end completed. Returns (row, console)."""
    run_burst_worker(home)
    store = Store.open(home)
    row, log = store.get_task(task_id), console(store, task_id)
    assert row["status"] == "completed", (row["status_reason"], log)
    return row, log


@contextlib.contextmanager
def saved_signal_handlers():
    """Restore SIGTERM/SIGINT handlers after an in-process ``Worker.run()`` installed its own."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_burst_worker(home: str | os.PathLike, timeout: float = 60, **kwargs) -> Worker:
    """Run ``Worker(home, burst=True, **kwargs).run()`` in this process, bounded by ``timeout``
    (checked through a watchdog thread that aborts the test run if the worker hangs)."""
    import threading

    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("name", "test-worker")
    worker = Worker(home=home, burst=True, **kwargs)
    done = threading.Event()

    def watchdog():
        if not done.wait(timeout):
            # The burst worker did not return: wake the main thread the way a user would.
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    started = time.monotonic()
    with saved_signal_handlers():
        try:
            assert worker.run() == 0
        finally:
            done.set()
    assert time.monotonic() - started < timeout, f"burst worker still running after {timeout} s"
    return worker


def start_worker_process(home: str | os.PathLike, *args: str, log: Path | None = None,
                         **env: str) -> subprocess.Popen:
    """``localtask worker ARGS`` as a subprocess in its own session (so that signals sent to it
    reach only it), output to ``log`` (or discarded)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen([*LOCALTASK_CLI, "--home", str(home), "worker", *args],
                                env=child_env(home, **env), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            out.close()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def task_status(store: Store, task_id: str) -> str:
    return store.get_task(task_id)["status"]


def wait_status(store: Store, task_id: str, statuses: set[str] | str, timeout: float) -> dict:
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)

    def check():
        row = store.get_task(task_id)
        return row if row["status"] in statuses else None

    try:
        return wait_for(check, timeout, f"task {task_id} to be {sorted(statuses)}")
    except AssertionError as exc:
        row = store.get_task(task_id)
        raise AssertionError(f"{exc}; it is {row['status']} ({row['status_reason']!r})\n"
                             f"--- console\n{console(store, task_id)}") from None


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    """True while any process of process group ``pgid`` exists (zombies excluded)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def clone_and_enqueue(task_id: str, params: dict | None = None, queue: str = "default",
                      name: str | None = None) -> Task:
    """Clone a recorded task, set ``params`` (flat ``Section/name``) on the draft, enqueue it."""
    clone = Task.clone(task_id, name=name)
    if params:
        clone.update_parameters(params)
    Task.enqueue(clone, queue_name=queue)
    return clone


def cli(*args: str, home: str | os.PathLike, timeout: float = 60) -> subprocess.CompletedProcess:
    """``localtask --home HOME ARGS`` in a subprocess; text output."""
    return subprocess.run([*LOCALTASK_CLI, "--home", str(home), *args], env=child_env(home),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def workdirs(store: Store) -> list[Path]:
    """The working copies left under the store's cache (one folder per task run)."""
    root = store.cache_dir / "work"
    return sorted(root.iterdir()) if root.is_dir() else []


class WorkerThread:
    """A burst :class:`Worker` running in a background thread (no signal handlers there), for
    tests that act on a task while it runs. ``join()`` waits for the worker to return."""

    def __init__(self, home: str | os.PathLike, **kwargs):
        import threading

        kwargs.setdefault("poll_interval", 0.05)
        kwargs.setdefault("name", "thread-worker")
        self.worker = Worker(home=home, burst=True, **kwargs)
        self.result: list[object] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result.append(self.worker.run())
        except BaseException as exc:  # reported by join()
            self.result.append(exc)

    def start(self) -> "WorkerThread":
        self.thread.start()
        return self

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"worker thread still running after {timeout} s"
        assert self.result == [0], f"worker.run() ended with {self.result!r}"


# The seed workflow (tests/test_worker.py, tests/test_worker_e2e.py): train.py as committed
# imports model.py; the working tree then gets a staged change (model.py: SCALE 1 -> 10), an
# unstaged one (train.py imports extra and prints more) and an untracked module (extra.py).
# SEED_LR lets a direct run use another lr.
SEED_COMMITTED = {
    "model.py": """
        SCALE = 1

        def score(lr, epochs):
            return lr * epochs * SCALE
        """,
    "train.py": """
        import os
        import model
        from localtask import Task

        task = Task.init(project_name="seed", task_name="train")
        params = task.connect({"lr": float(os.environ.get("SEED_LR", "0.1")), "epochs": 3,
                               "optimizer": "sgd"})
        print("TASK_ID=" + task.id)
        print("RESULT", model.score(params["lr"], params["epochs"]))
        """,
}
SEED_STAGED_MODEL = """
    SCALE = 10

    def score(lr, epochs):
        return lr * epochs * SCALE
    """
SEED_UNSTAGED_TRAIN = """
    import os
    import model
    import extra
    from localtask import Task

    task = Task.init(project_name="seed", task_name="train")
    params = task.connect({"lr": float(os.environ.get("SEED_LR", "0.1")), "epochs": 3,
                           "optimizer": "sgd"})
    print("TASK_ID=" + task.id)
    print("unstaged change active; extra says", extra.hello())
    kinds = ",".join(f"{k}:{type(v).__name__}" for k, v in sorted(params.items()))
    print(f"RESULT lr={params['lr']!r} epochs={params['epochs']!r} {kinds} "
          f"score={model.score(params['lr'], params['epochs'])!r} scale={model.SCALE} bonus={extra.BONUS}")
    """
SEED_UNTRACKED_EXTRA = """
    BONUS = 7

    def hello():
        return "untracked module here"
    """


def seed_repo(root: Path) -> Path:
    """The seed repository with its staged, unstaged and untracked changes."""
    repo = make_repo(root, SEED_COMMITTED)
    write(repo / "model.py", SEED_STAGED_MODEL)
    git("add", "model.py", cwd=repo)
    write(repo / "train.py", SEED_UNSTAGED_TRAIN)
    write(repo / "extra.py", SEED_UNTRACKED_EXTRA)
    return repo


def repo_state(repo: Path) -> dict[str, object]:
    """Everything about the user's repository a worker must never touch."""
    return {
        "files": {p.name: p.read_bytes() for p in sorted(repo.glob("*.py"))},
        "status": git("status", "--porcelain", cwd=repo),
        "staged": git("diff", "--cached", cwd=repo),
        "unstaged": git("diff", cwd=repo),
        "head": git("rev-parse", "HEAD", cwd=repo),
    }
