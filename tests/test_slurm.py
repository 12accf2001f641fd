"""The Slurm executor against a real single-node Slurm started for the session
(``tests/slurm_cluster.py``; skipped with the reason when it cannot start): a task through
Slurm completes with its console and scalars, abort scancels it, a time limit and a foreign
scancel end it failed or re-queued with Slurm's reason, a clone gets the resources it asks for.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurm_cluster
from helpers_worker import (
    LOCALTASK_CLI,
    cli,
    clone_and_enqueue,
    console,
    make_repo,
    recorded_id,
    results,
    run_script,
    saved_signal_handlers,
    start_worker_process,
    wait_for,
    wait_status,
)
from localtask import Store, Task
from localtask.exceptions import SlurmError
from localtask.slurm import JobState, Resources
from localtask.slurm_worker import SlurmWorker

slurm = pytest.fixture(scope="session", name="slurm")(slurm_cluster.cluster_fixture)

SCRIPT = """
    import os, time
    from pathlib import Path
    from localtask import Task

    task = Task.init(project_name="slurm", task_name="train")
    print("TASK_ID=" + task.id)
    params = {"steps": 3, "block": ""}
    task.connect(params)
    if os.environ.get("LOCALTASK_TASK_ID"):
        print("RESULT job", os.environ.get("SLURM_JOB_ID"), "cpus", os.environ.get("SLURM_CPUS_PER_TASK"))
        for i in range(params["steps"]):
            task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
        print("started", flush=True)
        while params["block"] and Path(params["block"]).exists():
            time.sleep(0.2)
        print("RESULT done")
    """


def record(tmp_path: Path, home: Path) -> str:
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT})
    return recorded_id(run_script(repo / "train.py", home=home))


def job_id_of(store: Store, task_id: str) -> str:
    found = re.findall(r"as Slurm job ([\d_]+)", console(store, task_id))
    assert found, console(store, task_id)
    return found[-1]


def scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                         check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def burst(home: Path, timeout: float = 120, **kwargs) -> SlurmWorker:
    """A burst SlurmWorker run in this process until the queue is empty and its jobs ended."""
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("slurm_poll", 0.5)
    worker = SlurmWorker(home=home, burst=True, name="slurm-test", **kwargs)
    started = time.monotonic()
    with saved_signal_handlers():
        assert worker.run() == 0
    assert time.monotonic() - started < timeout
    return worker


# ---------------------------------------------------------------------- no cluster needed
def test_resources_from_task_parameters_over_the_workers():
    worker = Resources(partition="gpu", cpus=1, time="1:00:00", sbatch_args=("--qos=low",))
    task = Resources.from_parameters({"cpus": 4, "gres": "gpu:2", "sbatch_args": "--exclusive", "mem": ""})
    merged = task.over(worker)
    assert merged.sbatch_options() == ["--partition=gpu", "--gres=gpu:2", "--cpus-per-task=4",
                                       "--time=1:00:00", "--qos=low", "--exclusive"]


@pytest.mark.parametrize("params, words", [
    ({"gpus": 2}, "Unknown Slurm resource(s) gpus"),
    ({"cpus": "many"}, "Slurm/cpus must be a whole number"),
])
def test_bad_resources_are_refused_by_name(params, words):
    with pytest.raises(SlurmError, match=re.escape(words)):
        Resources.from_parameters(params)


def test_job_state_says_slurms_reason():
    assert JobState("12", "TIMEOUT", "TimeLimit").describe() == \
        "Slurm job 12 reached its time limit (TIMEOUT, TimeLimit)"
    assert JobState("3", "NODE_FAIL", "None").describe() == "Slurm job 3 was ended by a node failure (NODE_FAIL)"


def test_set_resources_keeps_them_as_slurm_parameters(localtask_home):
    task = Task.init(project_name="p", task_name="t")
    task.close()
    task = Task.clone(task)
    task.set_resources(gres="gpu:2", cpus=4, time="2:00:00")
    params = task.get_parameters()
    assert (params["Slurm/gres"], params["Slurm/cpus"], params["Slurm/time"]) == ("gpu:2", 4, "2:00:00")
    with pytest.raises(SlurmError, match="Slurm/cpus must be a whole number"):
        task.set_resources(cpus="lots")
    assert task.get_parameters()["Slurm/cpus"] == 4


# ---------------------------------------------------------------------- on the cluster
@pytest.mark.slow
def test_task_through_slurm_completes_with_console_and_scalars(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source, {"General/steps": 5})
    burst(localtask_home)
    store = Store.open(localtask_home)
    row, log = store.get_task(clone.id), console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    job = job_id_of(store, clone.id)
    assert results(log) == [f"job {job} cpus None", "done"]
    assert f"localtask: Slurm job {job} on {row['host']}" in log
    assert Task.get_task(clone.id).get_reported_scalars()["loss"]["train"]["x"] == [0, 1, 2, 3, 4]
    # The slot is freed once the end is recorded; the job itself exits right after.
    wait_for(lambda: scontrol(job)["JobState"] == "COMPLETED", 30, f"job {job} to complete")
    assert scontrol(job)["JobName"] == f"localtask-{clone.id}"


@pytest.mark.slow
def test_abort_scancels_the_job(slurm, tmp_path, localtask_home):
    block = tmp_path / "block"
    block.touch()
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source, {"General/block": str(block)})
    store = Store.open(localtask_home)
    proc = start_worker_process(localtask_home, "--executor", "slurm", "--burst", "--slurm-poll", "0.5",
                                "--poll-interval", "0.1", log=tmp_path / "worker.log")
    try:
        wait_for(lambda: "started" in console(store, clone.id), 60, "the task to start in its job")
        job = job_id_of(store, clone.id)
        assert scontrol(job)["JobState"] == "RUNNING"
        assert cli("abort", clone.id, home=localtask_home).returncode == 0
        row = wait_status(store, clone.id, "stopped", 60)
        assert "aborted by user" in row["status_reason"]
        wait_for(lambda: scontrol(job)["JobState"] == "CANCELLED", 30, f"job {job} to be cancelled")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "RESULT done" not in console(store, clone.id)


@pytest.mark.slow
def test_foreign_scancel_requeues_with_requeue_lost_and_the_task_runs_again(slurm, tmp_path, localtask_home):
    block = tmp_path / "block"
    block.touch()
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source, {"General/block": str(block)})
    store = Store.open(localtask_home)
    proc = start_worker_process(localtask_home, "--executor", "slurm", "--burst", "--requeue-lost",
                                "--slurm-poll", "0.5", "--poll-interval", "0.1", log=tmp_path / "worker.log")
    try:
        wait_for(lambda: "started" in console(store, clone.id), 60, "the task to start in its job")
        first = job_id_of(store, clone.id)
        subprocess.run(["scancel", first], check=True)
        wait_for(lambda: job_id_of(store, clone.id) != first, 60, "the task to be submitted again")
        block.unlink()
        row = wait_status(store, clone.id, "completed", 60)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = console(store, clone.id)
    assert f"Slurm job {first} was cancelled (scancel) (CANCELLED); re-queued" in log, log
    assert results(log)[-1] == "done"
    assert row["status_reason"] == ""


@pytest.mark.slow
def test_a_job_killed_by_its_time_limit_ends_failed_with_the_reason(slurm, tmp_path, localtask_home):
    block = tmp_path / "block"
    block.touch()
    source = record(tmp_path, localtask_home)
    clone = Task.clone(source)
    clone.update_parameters({"General/block": str(block)})
    clone.set_resources(time="1")  # Slurm counts in minutes
    Task.enqueue(clone, queue_name="default")
    burst(localtask_home, timeout=240)
    store = Store.open(localtask_home)
    row = store.get_task(clone.id)
    job = job_id_of(store, clone.id)
    assert row["status"] == "failed"
    assert row["status_reason"] == f"Slurm job {job} reached its time limit (TIMEOUT, TimeLimit)"
    log = console(store, clone.id)
    assert "DUE TO TIME LIMIT" in log and "RESULT done" not in log, log


@pytest.mark.slow
def test_a_clone_asking_for_more_gets_it(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    small = clone_and_enqueue(source)
    result = cli("clone", source, "--new", "--set", "Slurm/cpus=2", "--set", "Slurm/gres=gpu:2",
                 "--queue", "default", home=localtask_home)
    assert result.returncode == 0, result.stderr
    big = re.findall(r"[0-9a-f]{32}", result.stdout + result.stderr)[0]
    burst(localtask_home, resources=Resources(cpus=1))
    store = Store.open(localtask_home)
    assert {store.get_task(t)["status"] for t in (small.id, big)} == {"completed"}
    small_job, big_job = scontrol(job_id_of(store, small.id)), scontrol(job_id_of(store, big))
    assert (small_job["NumCPUs"], big_job["NumCPUs"]) == ("1", "2")
    assert big_job.get("TresPerNode") == "gres:gpu:2" and "TresPerNode" not in small_job
    assert results(console(store, big))[0].endswith("cpus 2")


@pytest.mark.slow
def test_a_job_sbatch_refuses_ends_the_task_failed_with_sbatchs_words(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source)
    burst(localtask_home, resources=Resources(partition="nosuch"))
    row = Store.open(localtask_home).get_task(clone.id)
    assert row["status"] == "failed"
    assert row["status_reason"].startswith("sbatch refused the job (--partition=nosuch): ")
    assert "partition" in row["status_reason"].lower()


@pytest.mark.slow
def test_a_restarted_worker_takes_its_running_jobs_back(slurm, tmp_path, localtask_home):
    block = tmp_path / "block"
    block.touch()
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source, {"General/block": str(block)})
    store = Store.open(localtask_home)
    args = ["--executor", "slurm", "--burst", "--name", "slurm-w", "--slurm-poll", "0.5", "--poll-interval", "0.1"]
    first = start_worker_process(localtask_home, *args, log=tmp_path / "first.log")
    second = None
    try:
        wait_for(lambda: "started" in console(store, clone.id), 60, "the task to start in its job")
        first.kill()
        first.wait(10)
        second = start_worker_process(localtask_home, *args, log=tmp_path / "second.log")
        wait_for(lambda: "taken back" in (tmp_path / "second.log").read_text(), 30, "the job to be taken back")
        block.unlink()
        row = wait_status(store, clone.id, "completed", 60)
        assert second.wait(60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert row["worker"] == "slurm-w"
    assert results(console(store, clone.id))[-1] == "done"
    assert console(store, clone.id).count("as Slurm job") == 1


@pytest.mark.slow
def test_a_job_that_cannot_start_its_command_fails_the_task_with_its_last_words(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source)

    class NoPythonOnTheNode(SlurmWorker):
        def job_command(self, task_id):
            return [str(tmp_path / "no-such-python"), *super().job_command(task_id)[1:]]

    with saved_signal_handlers():
        assert NoPythonOnTheNode(home=localtask_home, burst=True, name="w", poll_interval=0.05,
                                 slurm_poll=0.5).run() == 0
    row = Store.open(localtask_home).get_task(clone.id)
    assert row["status"] == "failed"
    assert re.fullmatch(r"Slurm job \d+ failed \(FAILED, NonZeroExitCode\); its output ends: .*no-such-python.*",
                        row["status_reason"]), row["status_reason"]


@pytest.mark.slow
def test_abort_of_a_job_still_pending_cancels_it_and_stops_the_task(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    clone = Task.clone(source)
    clone.set_resources(sbatch_args="--begin=now+600")  # held in Slurm's queue
    Task.enqueue(clone, queue_name="default")
    store = Store.open(localtask_home)
    proc = start_worker_process(localtask_home, "--executor", "slurm", "--burst", "--slurm-poll", "0.5",
                                "--poll-interval", "0.1", log=tmp_path / "worker.log")
    try:
        wait_for(lambda: "as Slurm job" in console(store, clone.id), 60, "the job to be submitted")
        job = job_id_of(store, clone.id)
        assert scontrol(job)["JobState"] == "PENDING"
        assert cli("abort", clone.id, home=localtask_home).returncode == 0
        row = wait_status(store, clone.id, "stopped", 60)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert row["status_reason"] == "aborted by user"
    assert scontrol(job)["JobState"] == "CANCELLED"
    assert "localtask: Slurm job" not in console(store, clone.id)  # the job never started


@pytest.mark.slow
def test_a_sweep_goes_as_one_array_job_per_set_of_resources(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    sweep = [clone_and_enqueue(source, {"General/steps": steps}) for steps in (1, 2, 3)]
    bigger = Task.clone(source)
    bigger.set_resources(cpus=2)
    Task.enqueue(bigger, queue_name="default")
    burst(localtask_home, array=True, max_jobs=8)
    store = Store.open(localtask_home)
    jobs = [job_id_of(store, t.id) for t in sweep]
    assert [store.get_task(t.id)["status"] for t in (*sweep, bigger)] == ["completed"] * 4
    base = jobs[0].split("_")[0]
    assert jobs == [f"{base}_0", f"{base}_1", f"{base}_2"]
    assert "_" not in job_id_of(store, bigger.id)  # other resources: a job of its own
    for task, steps in zip(sweep, (1, 2, 3)):
        assert len(Task.get_task(task.id).get_reported_scalars()["loss"]["train"]["x"]) == steps
    own_ids = {results(console(store, task.id))[0].split()[1] for task in sweep}  # SLURM_JOB_ID
    assert len(own_ids) == 3
    assert [scontrol(job)["ArrayTaskId"] for job in jobs] == ["0", "1", "2"]
    assert {scontrol(job)["ArrayJobId"] for job in jobs} == {base}


@pytest.mark.parametrize("stage, status, expected", [
    ("ended", "completed", "completed"),
    ("closing", None, "failed"),
])
def test_a_job_killed_after_its_script_ended_is_never_run_again(localtask_home, stage, status, expected):
    task = Task.init(project_name="p", task_name="t")
    task.close()
    clone = clone_and_enqueue(task.id)
    store = Store.open(localtask_home)
    assert store.claim("slurm-w", ["default"])["id"] == clone.id
    assert store.note_run_end(clone.id, "slurm-w", stage, status)
    assert store.end_lost_run(clone.id, "slurm-w", "Slurm job 7 reached its time limit (TIMEOUT, TimeLimit)",
                              requeue=True)
    row = store.get_task(clone.id)
    assert row["status"] == expected
    assert "Slurm job 7 reached its time limit" in row["status_reason"]
    assert "not run again" in row["status_reason"]
    assert store.pending(["default"]) == 0


def _unreachable_conf(cluster, tmp_path: Path) -> Path:
    """A copy of the cluster's configuration whose controller port nothing listens on."""
    conf = Path(cluster.env.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    text = re.sub(r"(?m)^SlurmctldPort=.*\n", "", conf.read_text())
    bad = tmp_path / "unreachable" / "slurm.conf"
    bad.parent.mkdir()
    bad.write_text(text.replace("SlurmctldHost=", "SlurmctldPort=1\nSlurmctldHost=", 1))
    return bad


@pytest.mark.slow
def test_a_worker_without_a_reachable_controller_refuses_to_start(slurm, tmp_path, localtask_home):
    source = record(tmp_path, localtask_home)
    clone = clone_and_enqueue(source)
    bad = _unreachable_conf(slurm, tmp_path)
    proc = subprocess.run([*LOCALTASK_CLI, "--home", str(localtask_home), "worker", "--executor", "slurm",
                           "--burst"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, SLURM_CONF=str(bad)))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: Slurm's controller cannot be reached (scontrol ping: "), proc.stderr
    assert Store.open(localtask_home).get_task(clone.id)["status"] == "queued"


@pytest.mark.slow
def test_tasks_go_back_to_the_queue_while_the_controller_is_away(slurm, tmp_path, localtask_home, monkeypatch):
    source = record(tmp_path, localtask_home)
    first, second = clone_and_enqueue(source), clone_and_enqueue(source)
    worker = SlurmWorker(home=localtask_home, name="away", poll_interval=0.05)
    worker.register()
    try:
        monkeypatch.setenv("SLURM_CONF", str(_unreachable_conf(slurm, tmp_path)))
        assert worker.work_once() == 1  # claimed one, could not submit it, claimed no more
        store = Store.open(localtask_home)
        row = store.get_task(first.id)
        assert row["status"] == "queued"
        assert row["status_reason"].startswith("re-queued: not submitted: Slurm's controller cannot be reached")
        assert store.get_task(second.id)["status"] == "queued"
        assert worker.work_once() == 0 and not worker.running  # paused: nothing claimed
    finally:
        worker.store.unregister_worker("away")


def test_slurm_options_need_the_slurm_executor(localtask_home):
    result = cli("worker", "--burst", "--gres", "gpu:1", home=localtask_home)
    assert result.returncode == 2
    assert "--partition, --gres, --cpus, --mem, --time, --sbatch-arg and --array-jobs need --executor slurm." \
        in result.stderr


def test_the_jobs_command_carries_the_workers_run_options(localtask_home):
    worker = SlurmWorker(home=localtask_home, name="w", env="venv", grace=3, strict_env=True, container="podman")
    cmd = worker.job_command("abc")
    assert cmd[:3] == [sys.executable, "-m", "localtask"]
    assert cmd[3:] == ["--home", str(localtask_home), "run-task", "abc", "--worker", "w", "--env", "venv",
                       "--grace", "3.0", "--strict-env", "--container", "podman"]
