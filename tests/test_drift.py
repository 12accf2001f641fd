"""Environment drift: the worker's verdict (what will run against what was recorded), stored on
the task and shown by ``localtask drift`` / ``show``; ``--strict-env`` stops a drifted task
before its script starts. End to end with real venvs, a wheel folder built by ``pip wheel``
from a tiny local package at two versions, and real worker processes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtask import Store, Task
from localtask import drift
from localtask.cli import cli

from helpers_worker import console, make_repo, recorded_id

RECORDED = {
    "python": "3.11.7", "implementation": "cpython", "platform": "linux", "machine": "x86_64",
    "packages": [{"name": "numpy", "version": "1.26.4"}, {"name": "Tiny_Pkg", "version": "1.0"},
                 {"name": "gone", "version": "0.1"},
                 {"name": "localtask", "version": "0.1.0", "editable": True, "path": "/src/localtask"},
                 {"name": "click", "version": "8.1.0", "required_by": ["localtask"]}],
}
HERE = {"python": "3.11.9", "implementation": "cpython", "platform": "linux", "machine": "x86_64",
        "dists": {"numpy": "1.26.4", "tiny-pkg": "2.0", "click": "8.2.0", "requests": "2.32.0",
                  "idle-thing": "1.0"},
        "modules": {"numpy": ["numpy"], "tiny_pkg": ["tiny-pkg"], "requests": ["requests"],
                    "click": ["click"], "idle": ["idle-thing"]}}


def states(verdict: dict) -> dict[str, tuple]:
    return {r["name"]: (r["recorded"], r["running"], r["state"]) for r in verdict["packages"]}


def test_compare_each_package_python_and_platform():
    verdict = drift.compare(RECORDED, HERE, imports={"numpy", "requests", "json"})
    assert states(verdict) == {
        "Tiny_Pkg": ("1.0", "2.0", "other_version"),  # names compared in their normal form
        "gone": ("0.1", None, "missing"),
        "localtask": ("0.1.0", None, "missing"),
        "click": ("8.1.0", "8.2.0", "other_version"),
        "requests": (None, "2.32.0", "extra"),  # imported by the code, not recorded; idle-thing is not imported
    }
    assert verdict["counts"] == {"same": 1, "other_version": 2, "missing": 2, "extra": 1, "provided": 0}
    assert verdict["python"]["state"] == "other_patch" and verdict["platform"]["state"] == "same"
    assert verdict["differs"] is True
    assert drift.warnings(verdict)[:2] == [
        "localtask: WARNING: package Tiny_Pkg was 1.0 when recorded; 2.0 here",
        "localtask: WARNING: package click was 8.1.0 when recorded; 8.2.0 here"]
    assert drift.summary(verdict) == ("differs from the record: 2 at another version, 2 missing, "
                                      "1 imported but not recorded (Python 3.11.7 -> 3.11.9)")


def test_an_edited_drafts_requirement_is_met_by_any_version_it_allows():
    recorded = {**RECORDED, "packages": [{"name": "numpy", "requirement": "numpy>=1.26"},
                                         {"name": "tiny-pkg", "requirement": "tiny-pkg<2"}]}
    verdict = drift.compare(recorded, HERE)
    assert states(verdict) == {"tiny-pkg": (None, "2.0", "other_version")}
    assert drift.warnings(verdict) == ["localtask: WARNING: package tiny-pkg<2 is wanted; 2.0 here"]


def test_what_the_worker_links_is_provided_not_drift():
    """In a venv the worker links its own localtask: it and what only it needs are 'provided'."""
    recorded = {**RECORDED, "packages": [p for p in RECORDED["packages"] if p["name"] != "gone"]}
    here = {**HERE, "dists": {**HERE["dists"], "tiny-pkg": "1.0"}}
    verdict = drift.compare(recorded, here, provided={"localtask": "0.2.0"})
    assert states(verdict) == {"localtask": ("0.1.0", "0.2.0", "provided"), "click": ("8.1.0", "8.2.0", "provided")}
    assert verdict["differs"] is False
    assert drift.summary(verdict) == "as recorded: 2 packages the same (2 provided by the worker; Python 3.11.7 -> 3.11.9)"


@pytest.mark.parametrize("change, state", [({"python": "3.12.1"}, "other_version"),
                                           ({"implementation": "pypy"}, "other_implementation")])
def test_another_python_minor_version_or_implementation_differs(change, state):
    recorded = {**RECORDED, "packages": []}
    verdict = drift.compare(recorded, {**HERE, **change})
    assert verdict["python"]["state"] == state and verdict["differs"] is True


def test_another_platform_differs():
    verdict = drift.compare({**RECORDED, "packages": []}, {**HERE, "machine": "aarch64"})
    assert verdict["platform"] == {"recorded": "linux x86_64", "running": "linux aarch64", "state": "other"}
    assert drift.warnings(verdict) == [
        "localtask: WARNING: the task was recorded on linux x86_64; running on linux aarch64"]


def test_compare_two_recorded_environments():
    other = {**RECORDED, "python": "3.12.0", "packages": [
        {"name": "numpy", "version": "2.0.0"}, {"name": "tiny-pkg", "version": "1.0"}, {"name": "new", "version": "3"}]}
    verdict = drift.compare_tasks(RECORDED, other)
    assert states(verdict) == {"numpy": ("1.26.4", "2.0.0", "other_version"), "gone": ("0.1", None, "missing"),
                               "localtask": ("0.1.0", None, "missing"), "click": ("8.1.0", None, "missing"),
                               "new": (None, "3", "extra")}
    assert verdict["python"]["state"] == "other_version"


def test_code_imports_follow_local_modules_not_installed_ones(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "train.py").write_text("import os, json\nimport helpers\nfrom pkg import model\n"
                                       "def lazy():\n    import torch\n")
    (tmp_path / "helpers.py").write_text("try:\n    import requests\nexcept ImportError:\n    requests = None\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "model.py").write_text("from . import layers\nimport numpy as np\n")
    (tmp_path / "pkg" / "layers.py").write_text("from scipy.linalg import svd\n")
    (tmp_path / "broken.py").write_text("this is not python(\n")
    found = drift.code_imports(tmp_path, {"entry_point": "train.py", "working_dir": "."})
    assert found == {"os", "json", "torch", "requests", "numpy", "scipy"}
    assert drift.code_imports(tmp_path, {"module": "pkg.model", "working_dir": "."}) == {"numpy", "scipy"}


def test_clone_and_reset_drop_the_verdict(localtask_store):
    store = localtask_store
    task_id = "a" * 32
    store.insert_task({"id": task_id, "project": "p", "name": "n", "status": "completed",
                       "script": {}, "environment": {**RECORDED, "drift": {"differs": True}}})
    clone = Task.clone(task_id)
    assert "drift" not in store.get_task(clone.id)["environment"]
    assert store.get_task(clone.id)["environment"]["packages"] == RECORDED["packages"]
    Task.get_task(task_id).reset()
    assert store.get_task(task_id)["environment"] == RECORDED


def test_cli_drift_between_two_tasks_and_without_a_verdict(localtask_store):
    store = localtask_store
    store.insert_task({"id": "a" * 32, "project": "p", "name": "a", "status": "completed", "script": {},
                       "environment": RECORDED})
    store.insert_task({"id": "b" * 32, "project": "p", "name": "b", "status": "completed", "script": {},
                       "environment": {**RECORDED, "packages": [{"name": "numpy", "version": "2.0.0"}]}})
    runner = CliRunner()
    home = ["--home", str(store.home)]
    result = runner.invoke(cli, [*home, "drift", "aaaa", "bbbb"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("they differ: 1 at another version, 4 only in the first\n")
    assert re.search(r"^numpy +1\.26\.4 +2\.0\.0 +other version$", result.output, re.M), result.output
    assert re.search(r"^gone +0\.1 +- +only in aaaaaaaa$", result.output, re.M), result.output
    data = json.loads(runner.invoke(cli, [*home, "drift", "aaaa", "bbbb", "--json"]).output)
    assert data["drift"]["counts"]["other_version"] == 1 and data["other"] == "b" * 32
    result = runner.invoke(cli, [*home, "drift", "aaaa"])
    assert result.exit_code == 0 and "has no verdict: no worker has run it" in result.output
    assert json.loads(runner.invoke(cli, [*home, "drift", "aaaa", "--json"]).output)["drift"] is None
    result = runner.invoke(cli, [*home, "drift", "aaaa", "--here"])
    assert result.exit_code == 0 and "recorded" in result.output and "here" in result.output
    result = runner.invoke(cli, [*home, "drift", "cccc"])
    assert result.exit_code == 1 and "Error: No task id starts with 'cccc'" in result.output


# --------------------------------------------------------------------------- end to end
TINY_SETUP = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
dependencies = {deps}
"""

JOB = """\
import sys
from pathlib import Path
import tinypkg
from localtask import Task

task = Task.init(project_name="drift", task_name="pinned")
print("TASK_ID=" + task.id)
Path(sys.argv[1]).write_text("ran")
print("RESULT tinypkg", tinypkg.__version__)
"""


def _package(root: Path, name: str, version: str, deps: list[str]) -> Path:
    folder = root / f"{name}-{version}"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (folder / "pyproject.toml").write_text(TINY_SETUP.format(name=name, version=version, deps=json.dumps(deps)))
    return folder


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A wheel folder built by ``pip wheel``: tinypkg 1.0 and 2.0 (both need tinydep), tinydep 1.0."""
    root = tmp_path_factory.mktemp("tiny-src")
    sources = [_package(root, "tinypkg", "1.0", ["tinydep"]), _package(root, "tinypkg", "2.0", ["tinydep"]),
               _package(root, "tinydep", "1.0", [])]
    out = tmp_path_factory.mktemp("wheels")
    for batch in (sources[::2], sources[1:2]):  # one pip call cannot hold two versions of one package
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                        *map(str, batch)], check=True, timeout=600)
    assert sorted(p.name for p in out.iterdir()) == [
        "tinydep-1.0-py3-none-any.whl", "tinypkg-1.0-py3-none-any.whl", "tinypkg-2.0-py3-none-any.whl"]
    return out


def offline() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def make_venv(path: Path, wheels: Path, pin: str) -> Path:
    """A venv with ``pin`` installed offline from ``wheels``, seeing this interpreter's packages
    (localtask among them) after its own through a .pth line; returns its python."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    Path(site, "outer-site.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-index", "--find-links", str(wheels), pin],
                   check=True, env=offline(), timeout=300)
    return python


def worker(python: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "localtask", "--home", str(home), "worker", "--burst",
                           "--name", "drift-test", "--poll-interval", "0.05", *args],
                          capture_output=True, text=True, timeout=600, env={**offline(), "LOCALTASK_QUIET": "1"})


@pytest.mark.slow
def test_a_venv_that_cannot_honour_a_pin_drifts_and_strict_env_stops_it(tmp_path, wheels, localtask_home):
    store = Store.open(localtask_home)
    recording = make_venv(tmp_path / "rec", wheels, "tinypkg==1.0")
    drifted = make_venv(tmp_path / "drifted", wheels, "tinypkg==2.0")
    repo = make_repo(tmp_path / "repo", {"job.py": JOB})
    marker = tmp_path / "ran-marker"
    proc = subprocess.run([str(recording), str(repo / "job.py"), str(marker)], cwd=repo, capture_output=True,
                          text=True, timeout=120, env={**offline(), "LOCALTASK_HOME": str(localtask_home)})
    task_id = recorded_id(proc)
    packages = {p["name"]: p for p in store.get_task(task_id)["environment"]["packages"]}
    assert packages["tinypkg"] == {"name": "tinypkg", "version": "1.0"}
    assert packages["tinydep"] == {"name": "tinydep", "version": "1.0", "required_by": ["tinypkg"]}
    marker.unlink()

    # the worker's venv has tinypkg 2.0: the task runs, with the verdict stored and said
    loose = Task.enqueue(Task.clone(task_id))
    done = worker(drifted, localtask_home)
    assert done.returncode == 0, done.stderr
    row = store.get_task(loose.id)
    log = console(store, loose.id)
    assert row["status"] == "completed", (row["status_reason"], log)
    assert "RESULT tinypkg 2.0" in log and marker.exists()
    verdict = row["environment"]["drift"]
    assert verdict["differs"] is True and verdict["env"] == "current"
    assert {r["name"]: r["state"] for r in verdict["packages"]} == {"tinypkg": "other_version"}
    assert "localtask: WARNING: package tinypkg was 1.0 when recorded; 2.0 here" in log
    assert "localtask: environment differs from the record: 1 at another version" in log
    shown = CliRunner().invoke(cli, ["--home", str(localtask_home), "drift", loose.id[:8]])
    assert shown.exit_code == 0 and re.search(r"^tinypkg +1\.0 +2\.0 +other version$", shown.output, re.M)
    shown = CliRunner().invoke(cli, ["--home", str(localtask_home), "show", loose.id[:8]])
    assert "Drift:        differs from the record: 1 at another version" in shown.output
    assert "tinypkg was 1.0 when recorded; 2.0 here" in shown.output
    marker.unlink()

    # --strict-env: failed before the script starts
    strict = Task.enqueue(Task.clone(task_id))
    done = worker(drifted, localtask_home, "--strict-env")
    assert done.returncode == 0, done.stderr
    row = store.get_task(strict.id)
    log = console(store, strict.id)
    assert row["status"] == "failed"
    assert row["status_reason"].startswith("--strict-env: the environment differs from the record: "
                                           "1 at another version")
    assert not marker.exists() and "RESULT" not in log and "TASK_ID" not in log
    assert row["environment"]["drift"]["differs"] is True

    # the recording venv honours the pin: --strict-env lets it run
    same = Task.enqueue(Task.clone(task_id))
    done = worker(recording, localtask_home, "--strict-env")
    row = store.get_task(same.id)
    assert row["status"] == "completed", (row["status_reason"], console(store, same.id), done.stderr)
    assert row["environment"]["drift"]["differs"] is False
    assert "RESULT tinypkg 1.0" in console(store, same.id)


@pytest.mark.slow
def test_env_venv_built_from_the_wheel_folder_honours_the_pin(tmp_path, wheels, localtask_home):
    """--env venv installs the recorded closure (tinydep too) from the wheel folder offline; the
    worker's linked localtask and what only it needs are 'provided'; no drift."""
    store = Store.open(localtask_home)
    recording = make_venv(tmp_path / "rec", wheels, "tinypkg==1.0")
    repo = make_repo(tmp_path / "repo", {"job.py": JOB})
    proc = subprocess.run([str(recording), str(repo / "job.py"), str(tmp_path / "m1")], cwd=repo,
                          capture_output=True, text=True, timeout=120,
                          env={**offline(), "LOCALTASK_HOME": str(localtask_home)})
    task_id = recorded_id(proc)
    environment = store.get_task(task_id)["environment"]
    keep = [p for p in environment["packages"] if p["name"] in ("tinypkg", "tinydep", "localtask")
            or "localtask" in (p.get("required_by") or ()) or p.get("required_by") == ["GitPython"]
            or p.get("required_by") == ["gitdb"]]
    clone = Task.clone(task_id)
    store.update_task(clone.id, environment={**environment, "packages": keep})  # no setuptools wheel offline
    Task.enqueue(clone)
    began = time.monotonic()
    done = worker(Path(sys.executable), localtask_home, "--env", "venv", "--wheels", str(wheels), "--strict-env")
    row = store.get_task(clone.id)
    log = console(store, clone.id)
    assert row["status"] == "completed", (row["status_reason"], log, done.stderr)
    assert "RESULT tinypkg 1.0" in log
    assert "tinydep==1.0" in log and "click==" not in log  # the closure, minus what localtask alone needs
    verdict = row["environment"]["drift"]
    assert verdict["differs"] is False and verdict["env"] == "venv"
    assert verdict["counts"]["provided"] >= 3 and verdict["counts"]["same"] == 2, verdict
    assert len(list((store.cache_dir / "venvs").glob("*/.localtask-inventory.json"))) == 1  # for the next run
    print(f"\nvenv built and ran in {time.monotonic() - began:.1f} s")


def test_the_pages_execution_endpoint_carries_the_verdict(localtask_store):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from localtask import ui

    store = localtask_store
    verdict = drift.compare(RECORDED, HERE)
    store.insert_task({"id": "d" * 32, "project": "p", "name": "d", "status": "completed", "script": {},
                       "environment": {**RECORDED, "drift": verdict}})
    with TestClient(ui.create_app(store.home, "t" * 32), base_url="http://127.0.0.1:8080") as client:
        res = client.get(f"/api/tasks/{'d' * 32}/execution", headers={"X-Localtask-Token": "t" * 32})
    assert res.status_code == 200, res.text
    assert res.json()["drift"] == verdict
