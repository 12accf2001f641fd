"""Slurm executor: enqueue -> the task's first statement through an idle Slurm worker, against
``sbatch --wrap`` of the same command; N trivial tasks through 4 Slurm job slots vs 4 local slots.

Runs against a real single-node Slurm (``tests/slurm_cluster.py``: an existing cluster, else one
started here); without one every row says why and nothing is measured.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

sys.path.insert(0, str(B.BENCH_DIR.parent / "tests"))
import slurm_cluster  # noqa: E402

NAME = "slurm_executor"
QUEUE = "bench"
SLOTS = 4


class Cli:
    """``localtask worker ...`` as a child process, its log in a file."""

    def __init__(self, env: dict[str, str], tmp: Path, *args: str):
        self.log_path = tmp / f"worker-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "localtask", "worker", "--queue", QUEUE, *args],
                                     env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def tail(self) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise B.BenchError(f"the worker did not finish within {timeout} s:\n{self.tail()}") from None
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def wait_file(path: Path, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise B.BenchError(f"{what}: no {path} after {timeout} s")
        time.sleep(0.002)
    time.sleep(0.01)  # written through a rename: complete once it exists
    return float(path.read_text())


def latency_localtask(source: str, home: Path, out: Path) -> float:
    """Enqueue a clone with the Slurm worker idle; seconds to the script's first statement."""
    from localtask import Store, Task

    clone = Task.clone(source, home=home)
    t0 = time.time()
    Task.enqueue(clone, QUEUE, home=home)
    first = wait_file(out / f"{clone.id}.t", 120, f"task {clone.id} through Slurm")
    B.wait_status(Store.open(home), clone.id, timeout=120)
    return first - t0


def latency_wrap(source: str, repo: Path, out: Path, env: dict[str, str]) -> float:
    """sbatch --wrap of the task's own command; seconds from the sbatch call to its first statement."""
    result = out / f"{source}.t"
    result.unlink(missing_ok=True)
    command = f"cd {shlex.quote(str(repo))} && {shlex.quote(sys.executable)} -u trivial.py"
    t0 = time.time()
    proc = subprocess.run(["sbatch", "--parsable", f"--output={out}/wrap-%j.out", "--wrap", command],
                          env=dict(env, LOCALTASK_TASK_ID=source), capture_output=True, text=True)
    if proc.returncode != 0:
        raise B.BenchError(f"sbatch --wrap failed: {proc.stderr}")
    return wait_file(result, 120, "the sbatch --wrap job") - t0


def throughput(executor: str, n: int, source: str, home: Path, env: dict[str, str], tmp: Path) -> float:
    """Seconds for a burst worker to run n clones with SLOTS slots ('local') or jobs ('slurm')."""
    from localtask import Store, Task

    ids = []
    for _ in range(n):
        clone = Task.clone(source, home=home)
        Task.enqueue(clone, QUEUE, home=home)
        ids.append(clone.id)
    args = (["--executor", "slurm", "--max-jobs", str(SLOTS), "--slurm-poll", "1"] if executor == "slurm"
            else ["--slots", str(SLOTS)])
    t0 = time.perf_counter()
    worker = Cli(env, tmp, "--burst", "--quiet", *args)
    code = worker.wait(120 + 10 * n)
    elapsed = time.perf_counter() - t0
    store = Store.open(home)
    statuses = [store.get_task(i)["status"] for i in ids]
    if code != 0 or statuses.count("completed") != n:
        counts = {s: statuses.count(s) for s in set(statuses)}
        raise B.BenchError(f"{executor}: exit {code}, statuses {counts}:\n{worker.tail()}")
    return elapsed


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n = 8 if args.quick else 100
    rounds = args.repeat or (2 if args.quick else 7)
    pairs = 1 if args.quick else 2
    report = B.Report(NAME, f"Slurm executor: submit -> first statement, and {n} tasks through "
                            f"{SLOTS} Slurm jobs vs {SLOTS} local slots", args)
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        try:
            cluster = slurm_cluster.start(tmp / "slurm")
        except slurm_cluster.Unavailable as exc:
            why = str(exc).splitlines()[0]
            report.text(f"Not measured: no Slurm cluster ({why}).")
            report.measurements([])
            report.summary([B.Line("Slurm executor", None, B.ms, note=f"no Slurm cluster: {why}")])
            report.finish()
            return 0
        try:
            home = tmp / "home"
            env = B.isolated_env(tmp, home, **cluster.env)
            os.environ.update(cluster.env)
            repo, out = B.trivial_repo(tmp, env)
            source = B.record_trivial(repo, env)
            lat = {"localtask": [], "wrap": []}
            worker = Cli(env, tmp, "--executor", "slurm", "--slurm-poll", "1", "--poll-interval", "0.5")
            try:
                B.progress(f"{NAME}: warm-up")
                latency_localtask(source, home, out)
                latency_wrap(source, repo, out, env)
                for i, order in B.rotations(["localtask", "wrap"], rounds):
                    B.progress(f"{NAME}: latency round {i + 1}/{rounds}")
                    for side in order:
                        lat[side].append(latency_localtask(source, home, out) if side == "localtask"
                                         else latency_wrap(source, repo, out, env))
            finally:
                worker.stop()
            tput = {"slurm": [], "local": []}
            for i, order in B.rotations(["slurm", "local"], pairs):
                B.progress(f"{NAME}: throughput pair {i + 1}/{pairs}")
                for side in order:
                    tput[side].append(throughput(side, n, source, home, env, tmp))
        finally:
            cluster.stop()

    added = B.pairwise(lat["localtask"], lat["wrap"], lambda a, b: a - b)
    rates = {k: [n / s for s in v] for k, v in tput.items()}
    share = B.pairwise(rates["slurm"], rates["local"], lambda a, b: a / b)
    tasks = lambda x: B.rate(x, "tasks/s")  # noqa: E731
    report.text(f"""
        Latency, {rounds} rounds alternating which side goes first, after a warm-up of each:
        localtask: a clone of a recorded trivial task is enqueued with an idle
        `localtask worker --executor slurm` waiting; timed from the enqueue to the script's first
        statement (claim, sbatch, Slurm's scheduling and job launch, `localtask run-task` starting,
        the code rebuilt from the cached mirror, the script spawned). `sbatch --wrap`: the same
        `python -u trivial.py` in the repository, timed from the sbatch call to its first statement.
        Throughput, {pairs} pair(s): {n} clones enqueued (not timed), then a burst worker process with
        `--executor slurm --max-jobs {SLOTS}` or `--slots {SLOTS}`, timed to its exit, every task
        checked completed. The single node offers {max(os.cpu_count() or 1, slurm_cluster.MIN_CPUS)}
        CPUs to Slurm on {os.cpu_count()} real ones (`batch_sched_delay=0`), so both sides run 4
        tasks at a time on the same cores. A task through Slurm costs one interpreter more
        (`localtask run-task`) and Slurm's job launch (slurmd, slurmstepd) on those same cores,
        where a real cluster spends them on the compute nodes.
    """)
    report.measurements([
        ("enqueue -> first statement, localtask Slurm worker", B.summary(lat["localtask"]), B.ms),
        ("sbatch -> first statement, sbatch --wrap of the same command", B.summary(lat["wrap"]), B.ms),
        ("localtask's added latency (per round)", B.summary(added), B.ms),
        (f"{n} tasks, {SLOTS} Slurm jobs at a time", B.summary(rates["slurm"]), tasks),
        (f"{n} tasks, {SLOTS} local slots", B.summary(rates["local"]), tasks),
        ("Slurm tasks/s as a share of local slots' (per pair)", B.summary(share), B.pct),
    ])
    report.summary([
        B.Line("enqueue -> first statement through Slurm", B.summary(lat["localtask"]), B.ms),
        B.Line("sbatch --wrap -> first statement, same command", B.summary(lat["wrap"]), B.ms),
        B.Line(f"{n} tasks through {SLOTS} Slurm jobs", B.summary(rates["slurm"]), tasks),
        B.Line(f"{n} tasks through {SLOTS} local slots", B.summary(rates["local"]), tasks),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
