"""GPUs per slot (``localtask worker --gpus``): a fake ``nvidia-smi`` on PATH (a real executable
the test writes) lists the devices; real workers run real tasks that print the
``CUDA_VISIBLE_DEVICES`` they were given."""
from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from pathlib import Path

import pytest

from helpers_worker import (
    WorkerThread,
    cli,
    clone_and_enqueue,
    console,
    make_repo,
    recorded_id,
    run_burst_worker,
    run_script,
    wait_for,
    wait_status,
)
from localtask import GpuError, Store, Task
from localtask import gpus as G
from localtask.worker import Worker

FOUR = ["0, GPU-aaaa0000, NVIDIA A100-SXM4-80GB, 81920 MiB",
        "1, GPU-bbbb1111, NVIDIA A100-SXM4-80GB, 81920 MiB",
        "2, GPU-cccc2222, NVIDIA A100-SXM4-80GB, 81920 MiB",
        "3, GPU-dddd3333, NVIDIA A100-SXM4-80GB, 81920 MiB"]

# Prints CUDA_VISIBLE_DEVICES; under a worker, waits for a gate file named by GATE_DIR/<gpus>
# or, with MEET_DIR, until MEET_COUNT tasks have started.
JOB = """
    import os, sys, time
    from localtask import Task

    task = Task.init(project_name="gpus", task_name="job")
    want = os.environ.get("SET_GPUS")
    if want is not None:
        task.set_resources(gpus=int(want))  # under a worker: ignored, the stored request stands
    print("TASK_ID=" + task.id)
    print("DEVICES=" + os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), flush=True)
    meet = os.environ.get("MEET_DIR")
    if meet and os.environ.get("LOCALTASK_TASK_ID"):
        open(os.path.join(meet, task.id), "w").close()
        deadline = time.time() + 20
        while len(os.listdir(meet)) < int(os.environ["MEET_COUNT"]):
            if time.time() > deadline:
                sys.exit("alone")
            time.sleep(0.02)
    gate = os.environ.get("GATE")
    if gate and os.environ.get("LOCALTASK_TASK_ID"):
        deadline = time.time() + 20
        while not os.path.exists(gate):
            if time.time() > deadline:
                sys.exit("gate never opened")
            time.sleep(0.02)
    """


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """``fake_smi(lines, code=0, stderr='')`` writes an executable ``nvidia-smi`` that prints
    ``lines`` for the query the worker makes (and fails on any other), first on PATH."""
    folder = tmp_path / "fakebin"
    folder.mkdir()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")

    def write(lines: list[str], code: int = 0, stderr: str = "") -> Path:
        script = folder / "nvidia-smi"
        script.write_text(
            "#!/bin/sh\n"
            f'if [ "$*" != "{" ".join(G.QUERY)}" ]; then echo "unexpected arguments: $*" >&2; exit 2; fi\n'
            + "".join(f"echo {shlex.quote(line)}\n" for line in lines)
            + (f"echo {shlex.quote(stderr)} >&2\n" if stderr else "")
            + f"exit {code}\n")
        script.chmod(0o755)
        return script

    return write


def record_job(tmp_path: Path, home, **env: str) -> str:
    folder = make_repo(tmp_path / "src", {"job.py": JOB})
    return recorded_id(run_script(folder / "job.py", home=home, **env))


def devices_of(store: Store, task_id: str) -> str:
    found = re.findall(r"^DEVICES=(.*)$", console(store, task_id), re.M)
    assert len(found) == 1, console(store, task_id)
    return found[0]


# --------------------------------------------------------------------------- reading devices
def test_devices_read_from_nvidia_smi(fake_smi):
    fake_smi(FOUR[:2] + ["7, GPU-eeee, Tesla V100-SXM2-16GB, Rev 1, 16160 MiB"])
    assert G.query_devices() == [
        G.Gpu(0, "GPU-aaaa0000", "NVIDIA A100-SXM4-80GB", "81920 MiB"),
        G.Gpu(1, "GPU-bbbb1111", "NVIDIA A100-SXM4-80GB", "81920 MiB"),
        G.Gpu(7, "GPU-eeee", "Tesla V100-SXM2-16GB, Rev 1", "16160 MiB")]


@pytest.mark.parametrize("spec, visible, expected", [
    ("all", None, [0, 1, 2, 3]),
    ("ALL", None, [0, 1, 2, 3]),
    ("2,0", None, [2, 0]),
    ("GPU-bbbb1111, 3", None, [1, 3]),
    ("all", "3,GPU-bbbb1111", [3, 1]),
    ("1", "1,2", [1]),
])
def test_gpus_option_picks_devices(spec, visible, expected):
    devices = [G._parse_line(line) for line in FOUR]
    assert [g.index for g in G.select(spec, devices, visible)] == expected


@pytest.mark.parametrize("spec, visible, message", [
    ("4", None, r"'4' is not one of this machine's GPUs \(0, 1, 2, 3\)"),
    ("0,0", None, "names GPU 0 twice"),
    ("", None, "is not one of this machine's GPUs"),
    ("zero", None, "give their indexes or UUIDs separated by commas, or 'all'"),
    ("0", "1,2", r"'0' is not one of this machine's GPUs \(1, 2 \(CUDA_VISIBLE_DEVICES\)\)"),
    ("all", "", "hides every GPU"),
    ("all", "9", "names '9', which is not one of the GPUs nvidia-smi lists"),
])
def test_bad_gpus_option_is_refused_clearly(spec, visible, message):
    devices = [G._parse_line(line) for line in FOUR]
    with pytest.raises(GpuError, match=message):
        G.select(spec, devices, visible)


def test_without_nvidia_smi_the_option_fails_clearly(localtask_home, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GpuError, match="no nvidia-smi on PATH; install the driver, or run the worker without --gpus"):
        Worker(home=localtask_home, gpus="all")


@pytest.mark.parametrize("lines, code, stderr, message", [
    ([], 9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver",
     r"nvidia-smi failed \(exit code 9\): NVIDIA-SMI has failed because it couldn't communicate"),
    ([], 0, "", "nvidia-smi lists no GPU"),
    (["garbage"], 0, "", "cannot read this line of nvidia-smi"),
])
def test_broken_nvidia_smi_fails_clearly(localtask_home, fake_smi, lines, code, stderr, message):
    fake_smi(lines, code, stderr)
    with pytest.raises(GpuError, match=message):
        Worker(home=localtask_home, gpus="all")


def test_cli_worker_gpus_without_nvidia_smi_exits_1(localtask_home, tmp_path):
    import subprocess
    import sys

    from helpers_worker import LOCALTASK_CLI, child_env

    env = child_env(localtask_home, PATH=str(tmp_path / "empty"))
    command = LOCALTASK_CLI if LOCALTASK_CLI[0] != str(Path(sys.executable).parent / "localtask") else [
        sys.executable, "-m", "localtask"]
    proc = subprocess.run([*command, "--home", str(localtask_home), "worker", "--gpus", "all", "--burst"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("Error: --gpus reads the devices with nvidia-smi"), proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- slots get devices
def test_each_slot_gets_its_own_device(localtask_home, tmp_path, fake_smi):
    """4 GPUs, no --slots: 4 slots; 4 tasks that meet while running each see one other device."""
    fake_smi(FOUR)
    store = Store.open(localtask_home)
    meet = tmp_path / "meet"
    meet.mkdir()
    source = record_job(tmp_path, localtask_home)
    clones = [clone_and_enqueue(source) for _ in range(4)]
    os.environ["MEET_DIR"], os.environ["MEET_COUNT"] = str(meet), "4"
    try:
        worker = run_burst_worker(localtask_home, gpus="all")
    finally:
        del os.environ["MEET_DIR"], os.environ["MEET_COUNT"]
    assert worker.slots == 4
    assert [store.get_task(c.id)["status"] for c in clones] == ["completed"] * 4
    assert sorted(devices_of(store, c.id) for c in clones) == ["0", "1", "2", "3"]
    assert "localtask: GPUs 0 (NVIDIA A100-SXM4-80GB): CUDA_VISIBLE_DEVICES=0" in "".join(
        console(store, c.id) for c in clones)


def test_slots_share_the_devices(localtask_home, tmp_path, fake_smi):
    """--gpus 1,2,3,0 with 2 slots: each task gets 2 devices, in the order given."""
    fake_smi(FOUR)
    store = Store.open(localtask_home)
    source = record_job(tmp_path, localtask_home)
    clone = clone_and_enqueue(source)
    run_burst_worker(localtask_home, gpus="1,2,3,0", slots=2)
    assert devices_of(store, clone.id) == "1,2"


def test_task_asking_for_more_gpus_waits_and_blocks_the_ones_behind(localtask_home, tmp_path, fake_smi):
    """2 GPUs, 2 slots. A (1 GPU) runs; B asks for 2: it waits, and C (1 GPU) behind it does not
    pass it on the free GPU; once A ends B gets both, then C runs."""
    fake_smi(FOUR[:2])
    store = Store.open(localtask_home)
    gate = tmp_path / "gate"
    source = record_job(tmp_path, localtask_home, SET_GPUS="1")
    a = clone_and_enqueue(source, name="a")
    b = clone_and_enqueue(source, {"Resources/gpus": 2}, name="b")
    c = clone_and_enqueue(source, name="c")
    os.environ["GATE"] = str(gate)
    try:
        worker = Worker(home=localtask_home, gpus="all", name="stepper", poll_interval=0.05)
        worker.register()
        assert worker.work_once() == 1                      # A on GPU 0
        wait_status(store, a.id, "in_progress", 10)
        assert worker.work_once() == 0                      # B waits for 2; C stays behind it
        assert [store.get_task(t.id)["status"] for t in (b, c)] == ["queued", "queued"]
        rows = {w["name"]: w for w in store.list_workers()}
        assert [(g["index"], g["task"]) for g in rows["stepper"]["gpus"]] == [(0, a.id), (1, None)]
        gate.touch()
        wait_for(lambda: not worker.running, 15, "A to end")
        assert worker.work_once() == 1                      # B takes both; C waits for one
        assert store.get_task(c.id)["status"] == "queued"
        wait_for(lambda: not worker.running, 15, "B to end")
        assert worker.work_once() == 1
        wait_for(lambda: not worker.running, 15, "C to end")
    finally:
        del os.environ["GATE"]
        worker._shutdown()
    assert [store.get_task(t.id)["status"] for t in (a, b, c)] == ["completed"] * 3
    assert [devices_of(store, t.id) for t in (a, b, c)] == ["0", "0,1", "0"]
    assert store.get_task(b.id)["started"] < store.get_task(c.id)["started"]


def test_resources_gpus_edited_on_a_clone_from_the_cli(localtask_home, tmp_path, fake_smi):
    fake_smi(FOUR)
    store = Store.open(localtask_home)
    source = record_job(tmp_path, localtask_home, SET_GPUS="1")
    assert Task.get_task(source).get_resources() == {"gpus": 1}
    clone = Task.clone(source)
    edit = cli("params", clone.id, "--set", "Resources/gpus=3", home=localtask_home)
    assert edit.returncode == 0, edit.stderr
    assert "Set Resources/gpus = 3 (int)" in edit.stdout
    none = Task.clone(source)
    none.set_parameter("Resources/gpus", 0)
    Task.enqueue(clone, queue_name="default")
    Task.enqueue(none, queue_name="default")
    os.environ["SET_GPUS"] = "1"                            # the script asks for 1 again
    try:
        run_burst_worker(localtask_home, gpus="all")
    finally:
        del os.environ["SET_GPUS"]
    assert devices_of(store, clone.id) == "0,1,2"
    assert clone.get_resources() == {"gpus": 3}
    assert devices_of(store, none.id) == ""                 # asked for none: sees none


def test_invalid_gpu_request_fails_the_task_with_the_reason(localtask_home, tmp_path, fake_smi):
    fake_smi(FOUR[:1])
    store = Store.open(localtask_home)
    source = record_job(tmp_path, localtask_home)
    clone = Task.clone(source)
    edit = cli("params", clone.id, "--set", "Resources/gpus=two", "--new", home=localtask_home)
    assert edit.returncode == 0, edit.stderr
    Task.enqueue(clone, queue_name="default")
    after = clone_and_enqueue(source)
    run_burst_worker(localtask_home, gpus="0")
    row = store.get_task(clone.id)
    assert row["status"] == "failed"
    assert row["status_reason"].startswith("Resources/gpus must be a whole number of GPUs, 0 or more (got 'two')")
    assert store.get_task(after.id)["status"] == "completed"


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
def test_set_resources_refuses_what_is_not_a_count(localtask_home, value):
    task = Task.init(project_name="gpus", task_name="bad")
    try:
        with pytest.raises(GpuError, match="must be a whole number of GPUs"):
            task.set_resources(gpus=value if value != "2" else "x")
    finally:
        task.close()


def test_task_too_big_for_the_worker_stays_queued(localtask_home, tmp_path, fake_smi, caplog):
    fake_smi(FOUR[:2])
    store = Store.open(localtask_home)
    source = record_job(tmp_path, localtask_home)
    big = clone_and_enqueue(source, {"Resources/gpus": 8}, name="big")
    small = clone_and_enqueue(source, name="small")
    with caplog.at_level("WARNING", logger="localtask.worker"):
        run_burst_worker(localtask_home, gpus="all")        # returns: nothing it can run is left
    assert store.get_task(big.id)["status"] == "queued"
    assert store.get_task(small.id)["status"] == "completed"
    assert f"task {big.id} asks for 8 GPUs and worker test-worker has 2: left queued" in caplog.text


def test_workers_command_shows_which_gpu_runs_which_task(localtask_home, tmp_path, fake_smi):
    fake_smi(FOUR[:3])
    store = Store.open(localtask_home)
    gate = tmp_path / "gate"
    source = record_job(tmp_path, localtask_home)
    pair = clone_and_enqueue(source, {"Resources/gpus": 2})
    os.environ["GATE"] = str(gate)
    runner = WorkerThread(localtask_home, name="gpu-box", gpus="all")
    try:
        runner.start()
        wait_status(store, pair.id, "in_progress", 15)
        wait_for(lambda: "DEVICES=" in console(store, pair.id), 15, "the task to print its devices")
        listed = cli("workers", "--json", home=localtask_home)
        table = cli("workers", home=localtask_home)
    finally:
        gate.touch()
        del os.environ["GATE"]
        runner.join()
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["slots"] == 3 and row["queues"] == ["default"] and row["tasks"] == [pair.id]
    assert row["gpus"] == [
        {"index": 0, "uuid": "GPU-aaaa0000", "name": "NVIDIA A100-SXM4-80GB", "memory": "81920 MiB", "task": pair.id},
        {"index": 1, "uuid": "GPU-bbbb1111", "name": "NVIDIA A100-SXM4-80GB", "memory": "81920 MiB", "task": pair.id},
        {"index": 2, "uuid": "GPU-cccc2222", "name": "NVIDIA A100-SXM4-80GB", "memory": "81920 MiB", "task": None}]
    header, line = table.stdout.splitlines()
    assert header.split()[-1] == "GPUS"
    assert line.endswith(f"0:{pair.id[:8]} 1:{pair.id[:8]} 2:free")
    assert devices_of(store, pair.id) == "0,1"


def test_claim_fitting_order_waiting_and_too_big(localtask_store):
    """The claim of a GPU worker, on the store: first in order that fits; a task that fits the
    worker but not its free GPUs blocks every queue behind it; too big ones are passed over."""
    store = localtask_store

    def queued(name: str, queue: str, gpus=None) -> str:
        task_id = uuid.uuid4().hex
        params = [("Resources", "gpus", json.dumps(gpus), "int", "")] if gpus is not None else []
        store.insert_task({"id": task_id, "project": "p", "name": name, "status": "created"}, params)
        store.enqueue(task_id, queue)
        return task_id

    huge = queued("huge", "first", 5)
    pair = queued("pair", "first", 2)
    single = queued("single", "second")
    claim = store.claim_fitting
    row, too_big = claim("w", ["first", "second"], free=1, total=4, default=1)
    assert (row, too_big) == (None, [(huge, 5)])             # pair waits; single behind it too
    row, too_big = claim("w", ["first", "second"], free=2, total=4, default=1)
    assert (row["id"], row["gpus_requested"], too_big) == (pair, 2, [(huge, 5)])
    row, _ = claim("w", ["first", "second"], free=1, total=4, default=1)
    assert (row["id"], row["gpus_requested"], row["resource_error"]) == (single, 1, None)
    assert claim("w", ["first", "second"], free=4, total=4, default=1) == (None, [(huge, 5)])
    assert store.get_task(huge)["status"] == "queued"


@pytest.mark.slow
def test_worker_process_with_gpus_from_the_command_line(localtask_home, tmp_path, fake_smi):
    """``localtask worker --gpus 3,1 --burst`` as its own process: 2 slots, one device each."""
    from helpers_worker import start_worker_process

    fake_smi(FOUR)
    store = Store.open(localtask_home)
    meet = tmp_path / "meet"
    meet.mkdir()
    source = record_job(tmp_path, localtask_home)
    clones = [clone_and_enqueue(source) for _ in range(2)]
    log = tmp_path / "worker.log"
    proc = start_worker_process(localtask_home, "--gpus", "3,1", "--burst", "--name", "cli-gpus", log=log,
                                PATH=os.environ["PATH"], MEET_DIR=str(meet), MEET_COUNT="2")
    assert proc.wait(timeout=120) == 0, log.read_text()
    assert "with 2 slot(s), GPUs 3,1 (NVIDIA A100-SXM4-80GB)" in log.read_text()
    assert [store.get_task(c.id)["status"] for c in clones] == ["completed"] * 2
    assert sorted(devices_of(store, c.id) for c in clones) == ["1", "3"]
