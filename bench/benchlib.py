"""Shared pieces of the benchmarks: statistics, tables, reports, throwaway repositories,
isolated environments, and a worker process.

Every benchmark measures localtask and its alternative in the same run, interleaved
(A B A B ...), and reports medians with min and max; ratios and differences are taken pair
by pair, then summarised. Nothing here asserts on time: a missed target is printed as
MISSED, and the script still exits 0.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: the header of every measurement table (the smoke test looks for it).
MEASUREMENT_HEADER = ("measurement", "median", "min", "max", "runs")
#: the header of every report's summary table; run.py gathers their rows into the one table
#: it prints and writes to latest.md.
SUMMARY_HEADER = ("measurement", "median", "min", "max", "runs", "target", "verdict")

#: variables that would make a run depend on the shell it was started from.
_LEAKY_ENV = ("LOCALTASK_TASK_ID", "LOCALTASK_HOME", "LOCALTASK_SHARED", "LOCALTASK_BUSY_TIMEOUT",
              "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_EXTERNAL_DIFF",
              "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP")


class BenchError(Exception):
    """A benchmark could not measure what it set out to (a child failed, a count is wrong)."""


# --------------------------------------------------------------------------- arguments
def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and few repetitions: checks that the benchmark runs, "
                        "the figures mean little")
    p.add_argument("--repeat", type=int, default=None,
                   help="number of interleaved repetitions (default depends on the benchmark)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                   help=f"where to write <name>.md (default {RESULTS_DIR})")
    p.add_argument("--competitor-runs", type=int, default=None,
                   help="runs of each competitor (ClearML, MLflow, huey...): they are slow, so "
                        "fewer than localtask's (default depends on the benchmark)")
    p.add_argument("--no-competitors", action="store_true",
                   help="measure localtask and the floor only")
    return p


# --------------------------------------------------------------------------- statistics
@dataclass
class Summary:
    median: float
    min: float
    max: float
    n: int


def summary(values: Sequence[float]) -> Summary:
    if not values:
        raise BenchError("no values to summarise")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): always one of the measured values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def pairwise(a: Sequence[float], b: Sequence[float], op: Callable[[float, float], float]) -> list[float]:
    if len(a) != len(b):
        raise BenchError(f"unpaired measurements ({len(a)} vs {len(b)})")
    return [op(x, y) for x, y in zip(a, b)]


def rotations(names: Sequence[str], rounds: int) -> Iterable[tuple[int, list[str]]]:
    """Round ``i`` runs every name once, starting one further along each round, so that no
    alternative always runs right after the same other one."""
    k = len(names)
    for i in range(rounds):
        yield i, [names[(i + j) % k] for j in range(k)]


# --------------------------------------------------------------------------- formatting
def ms(seconds: float) -> str:
    """A duration: in ms below a second, in seconds above."""
    if abs(seconds) >= 10:
        return f"{seconds:,.1f} s"
    if abs(seconds) >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def rate(value: float, unit: str) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k {unit}"
    return f"{value:,.1f} {unit}"


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def times(value: float) -> str:
    """A ratio: how many times faster (or larger)."""
    return f"{value:,.1f}×" if value < 100 else f"{value:,.0f}×"


@dataclass
class Line:
    """One row of a report's summary table. ``values`` None: not measured, ``note`` says why
    (a competitor not installed, every run hung...). With a ``target``, ``met`` gives the
    verdict; None there means it could not be judged (ERROR)."""
    label: str
    values: Summary | None
    fmt: Callable[[float], str]
    target: str = ""
    met: bool | None = None
    note: str = ""
    text: str = ""  # shown instead of figures for a yes/no row (values None)

    def cells(self) -> tuple[str, ...]:
        label = f"{self.label} ({self.note})" if self.note else self.label
        if self.values is None:
            shown = (self.text or "—", "—", "—", "1" if self.text else "0")
        else:
            s = self.values
            shown = (self.fmt(s.median), self.fmt(s.min), self.fmt(s.max), str(s.n))
        if not self.target:
            verdict = ""
        elif (self.values is None and not self.text) or self.met is None:
            verdict = "ERROR"
        else:
            verdict = "MET" if self.met else "MISSED"
        return (label, *shown, self.target or "—", verdict)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def progress(text: str) -> None:
    """Progress goes to stderr, so stdout holds the report only."""
    print(text, file=sys.stderr, flush=True)


class Report:
    """A benchmark's output: a markdown document printed to stdout and written to
    ``<results-dir>/<name>.md`` (atomically, through a ``.tmp`` file)."""

    def __init__(self, name: str, title: str, args: argparse.Namespace):
        self.name, self.title, self.args = name, title, args
        self.parts: list[str] = []
        self.load_start = loadavg()

    def text(self, text: str) -> None:
        self.parts.append(textwrap.dedent(text).strip())

    def measurements(self, rows: list[tuple[str, Summary, Callable[[float], str]]]) -> None:
        self.parts.append(md_table(MEASUREMENT_HEADER, [
            (label, fmt(s.median), fmt(s.min), fmt(s.max), s.n) for label, s, fmt in rows]))

    def summary(self, lines: list[Line]) -> None:
        """The report's headline figures, competitors' rows and targets; run.py gathers these
        rows into one table. Every figure is a median with min and max; ratios are taken pair
        by pair (each localtask run against the competitor's run of the same round)."""
        self.parts.append("**Summary**\n\n" + md_table(SUMMARY_HEADER, [line.cells() for line in lines]))

    def render(self) -> str:
        mode = "quick (tiny sizes: checks that it runs; figures mean little)" if self.args.quick else "full"
        head = [f"## {self.title}", "",
                f"_{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} · mode: {mode} · "
                f"{machine_line()} · load average {self.load_start} at start, {loadavg()} at end_"]
        busiest = max(_load1(self.load_start), _load1(loadavg()))
        if busiest >= (os.cpu_count() or 1):
            head += ["", f"**WARNING: the machine was busy (1-minute load average up to {busiest:.1f} "
                         f"on {os.cpu_count()} CPUs): these figures are not reliable; run again on a "
                         "quiet machine.**"]
        return "\n\n".join(["\n".join(head), *self.parts]) + "\n"

    def finish(self) -> Path:
        document = self.render()
        print(document, flush=True)
        out_dir = Path(self.args.results_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.md"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(document, encoding="utf-8")
        os.replace(tmp, path)
        progress(f"wrote {path}")
        return path


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _load1(loadavg: str) -> float:
    try:
        return float(loadavg.split()[0])
    except (ValueError, IndexError):
        return 0.0


def machine_line() -> str:
    try:
        git_v = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[-1]
    except (OSError, IndexError):
        git_v = "none"
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT_DIR,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return (f"localtask {commit} · Python {platform.python_version()} ({sys.executable}) · "
            f"{platform.system()} {platform.machine()} · {os.cpu_count()} CPUs · git {git_v}")


# --------------------------------------------------------------------------- environment
def isolated_env(tmp: Path, home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for every child: no user git config, no inherited store or task, and
    bytecode caching on (in ``tmp``) as for an installed package, even when the shell sets
    PYTHONDONTWRITEBYTECODE: otherwise every import would recompile localtask's sources and
    the figures would measure the compiler."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    gitconfig = tmp / "gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@localtask.invalid\n"
                             "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    env.update(GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1",
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    if home is not None:
        env["LOCALTASK_HOME"] = str(home)
    env.update(extra)
    return env


def tempdir(name: str) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=f"localtask-bench-{name}-")


def git(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def make_repo(path: Path, files: dict[str, str], env: dict[str, str]) -> Path:
    """A git repository at ``path`` with ``files`` in its first commit."""
    path.mkdir(parents=True)
    git(["init", "-q"], path, env)
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    git(["add", "-A"], path, env)
    git(["commit", "-q", "-m", "initial commit"], path, env)
    return path


def run_checked(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {proc.returncode}\n--- stdout\n{proc.stdout}"
                         f"\n--- stderr\n{proc.stderr}")
    return proc


def run_limited(cmd: list[str], *, cwd: Path, env: dict[str, str],
                timeout: float) -> tuple[float, str] | None:
    """``(wall seconds, stdout)`` of a command that must succeed, or None when it was still
    running after ``timeout`` s: then its whole process group (it may have forked helpers)
    is killed. For competitors that can hang; a failure still raises BenchError."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return None
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {proc.returncode}\n--- stdout\n{out}"
                         f"\n--- stderr\n{err}")
    return elapsed, out


def summary_or_none(values: Sequence[float]) -> Summary | None:
    return summary(values) if values else None


def store_ddl(table: str) -> list[str]:
    """The store's own statements that create ``table`` and its indexes: a floor measured on
    them works on the same kind of table as localtask."""
    from localtask.store import MIGRATIONS

    statements = [s.strip() for m in MIGRATIONS for s in m.split(";\n")
                  if s.strip().upper().startswith("CREATE") and s.split("(")[0].strip().endswith(" " + table)]
    if not any(s.upper().startswith("CREATE TABLE") for s in statements):
        raise BenchError(f"no CREATE TABLE {table} in localtask.store.MIGRATIONS")
    return statements


# --------------------------------------------------------------------------- a trivial task
#: The trivial task of the queue benchmarks. Its first statement takes the time, before the
#: interpreter imports anything else, so that the time of "the task's process has started"
#: excludes localtask's own import; it writes that time to <out>/<task id>.t at the end.
TRIVIAL_SCRIPT = '''\
import time, os
T = time.time()
from localtask import Task

task = Task.init(project_name="bench", task_name="trivial")
task_id = os.environ.get("LOCALTASK_TASK_ID") or task.id
out = os.path.join({out!r}, task_id + ".t")
tmp = "%s.%d.tmp" % (out, os.getpid())
with open(tmp, "w") as fh:
    fh.write(repr(T))
os.replace(tmp, out)
'''

#: What "the interpreter has started" costs on its own: spawn to first statement of a script.
STARTUP_PROBE = '''\
import time
T = time.time()
print(repr(T))
'''


def trivial_repo(tmp: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A committed repository holding ``trivial.py``; returns (repo, folder of the .t files)."""
    out = tmp / "out"
    out.mkdir()
    repo = make_repo(tmp / "repo", {"trivial.py": TRIVIAL_SCRIPT.format(out=str(out)),
                                    ".gitignore": "__pycache__/\n"}, env)
    return repo, out


def record_trivial(repo: Path, env: dict[str, str]) -> str:
    """Run trivial.py once by hand (recording it); returns its task id."""
    run_checked([sys.executable, "trivial.py"], cwd=repo, env=env)
    from localtask import Task

    tasks = Task.get_tasks(project_name="bench", task_name="trivial", home=env["LOCALTASK_HOME"])
    if not tasks or tasks[0].status != "completed":
        raise BenchError(f"recording trivial.py did not leave a completed task ({tasks!r})")
    return tasks[0].id


# --------------------------------------------------------------------------- a worker process
WORKER_CODE = ("from localtask.worker import Worker; "
               "Worker(queues=[{queue!r}], slots={slots}, burst={burst}).run()")


class WorkerProcess:
    """``localtask.worker.Worker`` in a child process, its log kept in a file."""

    def __init__(self, env: dict[str, str], tmp: Path, *, queue: str, slots: int, burst: bool = False):
        self.log_path = tmp / f"worker-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE.format(queue=queue, slots=slots, burst=burst)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.home = env["LOCALTASK_HOME"]

    def wait_registered(self, timeout: float = 30.0) -> None:
        from localtask import Store

        store = Store.open(self.home)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if any(w["pid"] == self.proc.pid for w in store.list_workers()):
                return
            time.sleep(0.01)
        raise BenchError(f"the worker did not register within {timeout} s:\n{self.log_tail()}")

    def wait(self, timeout: float) -> int:
        """Wait for a burst worker to exit by itself; returns its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise BenchError(f"the worker did not finish within {timeout} s:\n{self.log_tail()}") from None
        self._log.close()
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (drain), then SIGKILL if it has not exited after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_status(store, task_id: str, wanted=("completed", "failed", "stopped"), timeout: float = 120.0,
                interval: float = 0.005) -> dict:
    """Poll a task's row until its status is one of ``wanted``; returns the row."""
    deadline = time.monotonic() + timeout
    while True:
        row = store.get_task(task_id)
        if row["status"] in wanted:
            return row
        if time.monotonic() > deadline:
            raise BenchError(f"task {task_id} still {row['status']} after {timeout} s")
        time.sleep(interval)
