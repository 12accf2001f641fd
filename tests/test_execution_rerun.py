"""A worker honours a draft's edited execution (issue 11, item 2): another branch and commit, a
new diff, an edited package version (a venv built offline from wheels made by ``pip wheel``),
an edited Python version, a container image (a stand-in ``docker`` that records its argv and runs
the command itself). Real repositories, real worker and task processes."""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers_worker import (console, git, make_repo, results, run_burst_worker, run_script,
                            start_worker_process, wait_for, wait_status)
from localtask import Store, Task
from localtask.interpreters import find_python


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> int:
    """End a worker process this test started (SIGTERM, then SIGKILL); returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout)

VERSION_SCRIPT = """
    from localtask import Task
    Task.init(project_name="rerun", task_name="version")
    from version import VERSION
    print("RESULT", VERSION)
    """


def commit_file(repo: Path, rel: str, text: str, message: str) -> str:
    (repo / rel).write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def record(repo: Path, home: Path, script: str = "job.py", **env: str) -> str:
    proc = run_script(repo / script, home=home, **env)
    assert proc.returncode == 0, proc.stderr
    store = Store.open(home)
    return store.find_tasks(project="rerun")[0]["id"]


def finished(home: Path, task_id: str, status: str = "completed") -> str:
    store = Store.open(home)
    row, log = store.get_task(task_id), console(store, task_id)
    assert row["status"] == status, (row["status_reason"], log)
    return log


@pytest.mark.slow
def test_a_draft_edited_to_another_branch_and_commit_reruns_that_code(tmp_path, localtask_home):
    repo = make_repo(tmp_path / "repo", {"job.py": VERSION_SCRIPT, "version.py": "VERSION = 'main-1'\n"})
    task_id = record(repo, localtask_home)
    git("checkout", "-q", "-b", "dev", cwd=repo)
    dev_1 = commit_file(repo, "version.py", "VERSION = 'dev-1'\n", "dev 1")
    commit_file(repo, "version.py", "VERSION = 'dev-2'\n", "dev 2")
    git("checkout", "-q", "main", cwd=repo)

    at_dev_1 = Task.clone(task_id, home=localtask_home)
    at_dev_1.set_repo(branch="dev", commit=dev_1[:8])
    head_of_dev = Task.clone(task_id, home=localtask_home)
    head_of_dev.set_repo(branch="dev")
    patched = Task.clone(task_id, home=localtask_home)
    (repo / "version.py").write_text("VERSION = 'patched'\n")
    patch = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, check=True).stdout
    git("checkout", "-q", "--", "version.py", cwd=repo)
    patched.set_script(diff=patch)
    for task in (at_dev_1, head_of_dev, patched):
        Task.enqueue(task, home=localtask_home)
    run_burst_worker(localtask_home, timeout=120)
    assert results(finished(localtask_home, at_dev_1.id)) == ["dev-1"]
    assert results(finished(localtask_home, head_of_dev.id)) == ["dev-2"]
    assert results(finished(localtask_home, patched.id)) == ["patched"]


# ------------------------------------------------------------------ packages
BACKEND = '''
"""A PEP 517 backend in the package's own tree: pip wheel builds it offline, with no setuptools."""
import base64, hashlib, os, zipfile

NAME, VERSION = open("NAME").read().split()


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = f"{NAME}-{VERSION}.dist-info"
    files = {f"{NAME}/__init__.py": open(f"{NAME}/__init__.py").read(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(t.encode())}" for p, t in files.items()]
    files[f"{dist}/RECORD"] = "\\n".join(record + [f"{dist}/RECORD,,"]) + "\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name
'''


def pip_wheel(source: Path, wheels: Path, name: str, version: str) -> Path:
    """``pip wheel`` of a tiny local package at ``version``, offline."""
    folder = source / f"{name}-{version}"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (folder / "NAME").write_text(f"{name} {version}")
    (folder / "backend.py").write_text(BACKEND)
    (folder / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                           'backend-path = ["."]\n')
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    for key in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        env.pop(key, None)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(wheels), str(folder)], check=True, env=env, cwd=folder)
    return wheels / f"{name}-{version}-py3-none-any.whl"


@pytest.fixture
def offline_pip(monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_a_package_version_edit_gives_a_venv_with_that_version(tmp_path, localtask_home, offline_pip):
    wheels = tmp_path / "wheels"
    old = pip_wheel(tmp_path / "src", wheels, "tinypkg", "0.1.0")
    pip_wheel(tmp_path / "src", wheels, "tinypkg", "0.2.0")
    site = tmp_path / "site"  # the recording run imports 0.1.0, unpacked from its wheel
    with zipfile.ZipFile(old) as zf:
        zf.extractall(site)
    repo = make_repo(tmp_path / "repo", {"job.py": """
        import sys
        import tinypkg
        from localtask import Task
        Task.init(project_name="rerun", task_name="pkg")
        print("RESULT", tinypkg.__version__, sys.prefix)
        """})
    task_id = record(repo, localtask_home, PYTHONPATH=str(site))
    packages = Store.open(localtask_home).get_task(task_id)["environment"]["packages"]
    assert {"name": "tinypkg", "version": "0.1.0"} in packages
    clone = Task.clone(task_id, home=localtask_home)
    keep = [f"{p['name']}=={p['version']}" for p in packages if p["name"] in ("tinypkg", "localtask")]
    clone.set_packages(keep)  # the test venv's other packages are not in the wheel folder
    from click.testing import CliRunner
    from localtask.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(localtask_home), "edit", clone.id, "--set-package",
                                      "tinypkg==0.2.0"])
    assert result.exit_code == 0, result.output
    Task.enqueue(clone, home=localtask_home)
    run_burst_worker(localtask_home, env="venv", wheels=str(wheels), timeout=240)
    log = finished(localtask_home, clone.id)
    version, prefix = results(log)[0].split()
    assert version == "0.2.0" and prefix.startswith(str(Store.open(localtask_home).cache_dir / "venvs"))


# ------------------------------------------------------------------ Python version
def another_python() -> str | None:
    own = "%d.%d" % sys.version_info[:2]
    for version in ("3.12", "3.13", "3.11", "3.10"):
        if version == own:
            continue
        try:
            find_python(version)
        except Exception:
            continue
        return version
    return None


@pytest.mark.slow
def test_an_edited_python_version_runs_under_that_interpreter(tmp_path, localtask_home, offline_pip):
    wanted = another_python()
    if wanted is None:
        pytest.skip("no Python 3.10-3.13 other than this one is installed")
    repo = make_repo(tmp_path / "repo", {"job.py": """
        import sys
        from localtask import Task
        Task.init(project_name="rerun", task_name="python")
        print("RESULT", "%d.%d" % sys.version_info[:2])
        """})
    task_id = record(repo, localtask_home)
    in_venv, in_current = Task.clone(task_id, home=localtask_home), Task.clone(task_id, home=localtask_home)
    for task in (in_venv, in_current):
        task.set_packages([])  # localtask itself is linked into the venv, never installed
        task.set_python_version(wanted)
    Task.enqueue(in_venv, home=localtask_home)
    run_burst_worker(localtask_home, env="venv", wheels=str(tmp_path), timeout=240)
    assert results(finished(localtask_home, in_venv.id)) == [wanted]
    # The worker's own interpreter cannot honour it: the task fails and says what to do.
    Task.enqueue(in_current, home=localtask_home)
    run_burst_worker(localtask_home, timeout=60)
    finished(localtask_home, in_current.id, "failed")
    reason = Store.open(localtask_home).get_task(in_current.id)["status_reason"]
    assert f"edited to run with Python {wanted}" in reason and "--env venv" in reason


@pytest.mark.slow
def test_a_python_that_is_not_installed_fails_clearly(tmp_path, localtask_home, monkeypatch):
    repo = make_repo(tmp_path / "repo", {"job.py": VERSION_SCRIPT, "version.py": "VERSION = 1\n"})
    clone = Task.clone(record(repo, localtask_home), home=localtask_home)
    clone.set_python_version("3.99")
    Task.enqueue(clone, home=localtask_home)
    run_burst_worker(localtask_home, env="venv", timeout=60)
    finished(localtask_home, clone.id, "failed")
    reason = Store.open(localtask_home).get_task(clone.id)["status_reason"]
    assert "wants Python 3.99, which is not installed on this worker" in reason


# ------------------------------------------------------------------ container image
STAND_IN = """#!/bin/sh
# A stand-in for docker: records its argv, then runs the command after the image on the host,
# in the -w folder, as docker would inside the image.
printf '%s\\n' "$@" > "$DOCKER_ARGV_LOG.$1"
while [ $# -gt 0 ]; do
    case "$1" in
        -w) cd "$2"; shift 2 ;;
        "$STAND_IN_IMAGE") shift; break ;;
        *) shift ;;
    esac
done
exec "$@"
"""


@pytest.fixture
def argv_log(tmp_path, monkeypatch) -> Path:
    """A stand-in ``docker`` (and "the image's" python3) first on PATH; each call's argv goes to
    ``<argv_log>.<subcommand>``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "docker-argv"
    monkeypatch.setenv("DOCKER_ARGV_LOG", str(log))
    monkeypatch.setenv("STAND_IN_IMAGE", "python:3.11-slim")
    return log


@pytest.mark.slow
def test_an_image_task_runs_in_its_container_and_never_outside(tmp_path, localtask_home, argv_log):

    repo = make_repo(tmp_path / "repo", {"job.py": """
        import os
        from localtask import Task
        task = Task.init(project_name="rerun", task_name="image")
        print("RESULT", task.id, os.getcwd())
        """})
    task_id = record(repo, localtask_home)
    clone = Task.clone(task_id, home=localtask_home)
    clone.set_base_docker("python:3.11-slim", docker_arguments="--gpus all")
    Task.enqueue(clone, home=localtask_home)
    run_burst_worker(localtask_home, timeout=60)  # no --container: refused, never run outside
    finished(localtask_home, clone.id, "failed")
    reason = Store.open(localtask_home).get_task(clone.id)["status_reason"]
    assert "runs in the container image python:3.11-slim" in reason and "--container docker" in reason
    assert not Path(f"{argv_log}.run").exists()

    Task.get_task(clone.id, home=localtask_home).reset()
    Task.enqueue(clone, home=localtask_home)
    run_burst_worker(localtask_home, timeout=60, container="docker")
    log = finished(localtask_home, clone.id)
    argv = Path(f"{argv_log}.run").read_text().splitlines()
    home = str(Store.open(localtask_home).home)
    assert argv[:2] == ["run", "--rm"]
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert f"{home}:{home}" in argv  # the store (and the working copy inside it) mounted as is
    image_at = argv.index("python:3.11-slim")
    assert argv[image_at - 2:image_at] == ["--gpus", "all"]
    assert argv[image_at + 1:image_at + 3] == ["python3", "-u"]
    assert "-e" in argv and "LOCALTASK_TASK_ID" in argv and "LOCALTASK_WORKER_PID" not in argv
    ran_id, cwd = results(log)[0].split()
    assert ran_id == clone.id and cwd == argv[argv.index("-w") + 1]
    assert shlex.join(argv[image_at + 1:image_at + 3]) in log  # the worker shows the command


@pytest.mark.slow
def test_a_container_task_killed_after_abort_has_its_container_stopped(tmp_path, localtask_home, argv_log):
    """SIGKILL of the engine's client would leave the container running: the worker kills it by name."""
    repo = make_repo(tmp_path / "repo", {"job.py": """
        import signal, time
        from localtask import Task
        task = Task.init(project_name="rerun", task_name="stubborn")
        if not task.running_locally():  # under the worker: hold out
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("RESULT started", flush=True)
            time.sleep(60)
        """})
    clone = Task.clone(record(repo, localtask_home), home=localtask_home)
    clone.set_base_docker("python:3.11-slim")
    Task.enqueue(clone, home=localtask_home)
    store = Store.open(localtask_home)
    worker = start_worker_process(localtask_home, "--container", "docker", "--grace", "0.5",
                                  "--poll-interval", "0.05")
    try:
        wait_for(lambda: "RESULT started" in console(store, clone.id), 60, "the task to start")
        clone.abort()
        wait_status(store, clone.id, "stopped", 30)
        kill = Path(f"{argv_log}.kill")
        wait_for(kill.exists, 30, "docker kill")
        assert kill.read_text().split() == ["kill", f"localtask-{clone.id}"]
    finally:
        assert stop_process(worker) == 0
