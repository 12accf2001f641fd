"""A real single-node Slurm cluster for the tests and the benchmark (Debian's slurm-wlm + munge).

:func:`start` reuses a cluster that already answers (``scontrol ping``), else starts munged
(when it is not running), slurmctld and slurmd with a configuration of their own in
``folder`` (``SLURM_CONF`` points the client commands at it). :meth:`Cluster.stop` ends only
the daemons it started. :class:`Unavailable` says why no cluster could be had.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MUNGE_PID = Path("/run/munge/munged.pid")
#: CPUs the node offers at least (config_overrides: more than the machine has), so 4 one-CPU
#: jobs run side by side on a 2-core machine as 4 local slots do
MIN_CPUS = 4
FAKE_GPUS = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")

CONF = """\
ClusterName=localtask-test
SlurmctldHost={node}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
OverTimeLimit=0
MinJobAge=600
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
MailProg=/bin/true
GresTypes=gpu
NodeName={node} CPUs={cpus} RealMemory=1000 Gres=gpu:{gpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class Unavailable(Exception):
    """No Slurm cluster can be had here (the message says why)."""


@dataclass
class Cluster:
    """A running cluster: ``env`` is what client commands need (``SLURM_CONF``)."""

    env: dict[str, str]
    folder: Path | None = None
    started: list[Path] = field(default_factory=list)  # pid files of daemons we started

    def stop(self) -> None:
        """End the daemons this cluster started (none when it reused a running one)."""
        if self.folder is not None:  # our own cluster: its jobs end first, or their slurmstepd
            env = dict(os.environ, **self.env)  # outlives slurmd
            subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env=env, capture_output=True)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                left = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True)
                if left.returncode != 0 or not left.stdout.strip():
                    break
                time.sleep(0.1)
        pids = []
        for pid_file in reversed(self.started):
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 15  # slurmctld saves its state as it exits
        for pid in pids:
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _answers(env: dict[str, str]) -> bool:
    try:
        proc = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "UP" in proc.stdout


def _wait_idle(env: dict[str, str], timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
        if proc.returncode == 0 and "idle" in proc.stdout:
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise Unavailable(f"the Slurm node did not become idle within {timeout:.0f} s\n{tail}")


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _start_munge() -> Path | None:
    """Start munged unless it runs; returns its pid file when we started it."""
    if MUNGE_PID.exists():
        try:
            os.kill(int(MUNGE_PID.read_text().split()[0]), 0)
            return None
        except (OSError, ValueError):
            pass
    if not Path("/etc/munge/munge.key").exists():
        raise Unavailable("/etc/munge/munge.key is missing (apt-get install -y munge creates it)")
    MUNGE_PID.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_PID.parent, "munge", "munge")
    proc = subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Unavailable(f"munged cannot start: {proc.stderr.strip()}")
    return MUNGE_PID


def start(folder: Path, timeout: float = 30.0) -> Cluster:
    """A cluster to submit to: a running one, else our own in ``folder``. Raises Unavailable."""
    for daemon in ("slurmctld", "slurmd", "sbatch"):
        if shutil.which(daemon) is None and not Path(f"/usr/sbin/{daemon}").exists():
            raise Unavailable(f"{daemon} is not installed (apt-get install -y slurm-wlm munge)")
    if os.geteuid() != 0:
        raise Unavailable("starting slurmctld and slurmd needs root")
    if _answers(dict(os.environ)):
        return Cluster(env={})
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    node = os.uname().nodename.split(".")[0]
    conf = folder / "slurm.conf"
    ctld_port, slurmd_port = _free_ports(2)  # never talk to another test session's cluster
    conf.write_text(CONF.format(node=node, user="root", dir=folder, cpus=max(os.cpu_count() or 1, MIN_CPUS),
                                gpus=len(FAKE_GPUS), ctld_port=ctld_port, slurmd_port=slurmd_port))
    # Four pretend GPUs: Slurm drops a GPU without a device file, and any character device
    # will do (nothing opens them under task/none).
    (folder / "gres.conf").write_text("".join(f"Name=gpu File={dev}\n" for dev in FAKE_GPUS))
    env = {"SLURM_CONF": str(conf)}
    full = dict(os.environ, **env)
    cluster = Cluster(env=env, folder=folder)
    try:
        munge = _start_munge()
        if munge is not None:
            cluster.started.append(munge)
        for daemon, pid in (("slurmctld", "slurmctld.pid"), ("slurmd", "slurmd.pid")):
            proc = subprocess.run([f"/usr/sbin/{daemon}", "-f", str(conf)], env=full,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise Unavailable(f"{daemon} cannot start: {(proc.stderr or proc.stdout).strip()}")
            cluster.started.append(folder / pid)
        _wait_idle(full, timeout, folder / "slurmctld.log")
        for pid_file in cluster.started[-2:]:
            os.kill(int(pid_file.read_text().split()[0]), 0)  # ours, not a cluster already there
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cluster_fixture(tmp_path_factory):
    """The body of the session fixture ``slurm``: a cluster, or the test skipped with why."""
    import pytest

    try:
        cluster = start(tmp_path_factory.mktemp("slurm"))
    except Unavailable as exc:
        pytest.skip(f"no Slurm cluster: {exc}")
    saved = {k: os.environ.get(k) for k in cluster.env}
    os.environ.update(cluster.env)  # the worker's sbatch/squeue and the jobs find the cluster
    try:
        yield cluster
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cluster.stop()
