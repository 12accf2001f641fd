"""The full dependency record of Task.init: the imported distributions and their whole
requirement closure from installed metadata (installed by real pip from wheels the test
writes), and where packages come from (pip's configuration and variables)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from localtask import Task
from localtask.packages import closure, normal, provided_by, read_pip_files

from conftest import run_script, task_id_of, write_script


def make_wheel(folder: Path, name: str, version: str, *, requires: list[str] = (),
               extras: list[str] = (), module: str | None = None) -> Path:
    """A pure-Python wheel written by hand, with ``Requires-Dist`` and ``Provides-Extra`` lines."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    entries = {f"{module or name}/__init__.py": f"__version__ = {version!r}\n",
               f"{dist}/METADATA": "\n".join(meta) + "\n",
               f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: localtask-tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n"}
    record = []
    for path, text in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    entries[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in entries.items():
            zf.writestr(path, text)
    return wheel


def offline_env(**extra: str) -> dict[str, str]:
    """No pip configuration or variable of this machine; ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _no_pip_config(monkeypatch, tmp_path):
    """No pip configuration of this machine reaches the recording scripts."""
    if read_pip_files([Path("/etc/pip.conf")]):  # read by pip (and so by localtask) whatever we set
        pytest.skip("/etc/pip.conf sets index options on this machine")
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "no-global-config"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder pip installed ``tinyapp`` (and what it needs) and ``tinyold`` into.

    tinyapp needs tinydep (never imported by tinyapp's import), tinydep2 with its ``speed``
    extra (which needs tinyspeed) and tinyold only on Python 2 (a marker that is false here).
    """
    root = tmp_path_factory.mktemp("closure")
    wheels = root / "wheels"
    make_wheel(wheels, "tinyapp", "1.0", requires=[
        "tinydep>=1.0", "Tiny_Dep2[speed]", 'tinyold; python_version < "3"', 'tinyfast; extra == "fast"'],
        extras=["fast"])
    make_wheel(wheels, "tinydep", "1.2")
    make_wheel(wheels, "tiny-dep2", "2.0", module="tiny_dep2", extras=["speed"],
               requires=['tinyspeed; extra == "speed"'])
    make_wheel(wheels, "tinyspeed", "0.5")
    make_wheel(wheels, "tinyold", "0.1")
    make_wheel(wheels, "tinyfast", "0.1")
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-index", "--find-links", str(wheels), "--target", str(target), "tinyapp",
                    "tinyold", "tinyfast"], check=True, env=offline_env())
    return target


SCRIPT = """
import tinyapp
from localtask import Task

print("TASK_ID=" + Task.init(project_name="deps", task_name="closure").id)
"""


def recorded_packages(tmp_path: Path, home: Path, site: Path, **env: str) -> dict[str, dict]:
    script = write_script(tmp_path / "job" / "job.py", SCRIPT)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    proc = run_script(script, home=home, env={"PYTHONPATH": path, **env})
    task = Task.get_task(task_id_of(proc), home=home)
    return {p["name"]: p for p in task.get_environment()["packages"]}, task.get_environment()


def test_closure_records_dependencies_that_were_never_imported(tmp_path, home, site):
    packages, _ = recorded_packages(tmp_path, home, site)
    # imported: as before, no required_by
    assert packages["tinyapp"] == {"name": "tinyapp", "version": "1.0"}
    # needed by tinyapp, never imported
    assert packages["tinydep"] == {"name": "tinydep", "version": "1.2", "required_by": ["tinyapp"]}
    assert packages["tiny-dep2"]["required_by"] == ["tinyapp"]
    # the extra tinyapp asks of tiny-dep2 is followed
    assert packages["tinyspeed"] == {"name": "tinyspeed", "version": "0.5", "required_by": ["tiny-dep2"]}
    # installed, but the marker is false here / the extra was never asked for
    assert "tinyold" not in packages and "tinyfast" not in packages
    # localtask's own dependencies are recorded too, as needed by localtask
    assert packages["filelock"]["required_by"] == ["localtask"]
    assert "localtask" in packages["click"]["required_by"]
    assert "GitPython" in packages["gitdb"]["required_by"]


def test_the_cached_index_gives_the_same_record(tmp_path, home, site):
    first, _ = recorded_packages(tmp_path, home, site)
    cached = list((home / "cache").glob("dists-*.json"))
    assert len(cached) == 1 and "graph" in json.loads(cached[0].read_text())
    second, _ = recorded_packages(tmp_path, home, site)
    assert second == first


def test_index_options_from_pip_config_and_variables_without_credentials(tmp_path, home, site):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://alice:s3cret@pypi.example.invalid/simple\n"
                    "extra-index-url = https://mirror.example.invalid/simple\n"
                    "  https://bob:tok@other.example.invalid/simple\n"
                    "[install]\nfind-links = /srv/wheels\n")
    _, env = recorded_packages(tmp_path, home, site, PIP_CONFIG_FILE=str(conf),
                               PIP_FIND_LINKS="/opt/lab-wheels /opt/more",
                               UV_INDEX_URL="https://uv.invalid/s?token=qwerty")
    assert env["index"]["pip"] == {
        "index_url": "https://pypi.example.invalid/simple",
        "extra_index_urls": ["https://mirror.example.invalid/simple", "https://other.example.invalid/simple"],
        "find_links": ["/opt/lab-wheels", "/opt/more"],  # the variable wins over the file, as in pip
        "sources": [str(conf), "PIP_FIND_LINKS"],
    }
    assert env["index"]["uv"] == {"index_url": "https://uv.invalid/s", "sources": ["UV_INDEX_URL"]}
    for path in [*home.rglob("*.json"), home / "localtask.db"]:  # the cached index too
        text = path.read_bytes()
        assert b"s3cret" not in text and b"tok@" not in text and b"qwerty" not in text, path


def test_no_index_options_when_nothing_is_set(tmp_path, home, site):
    _, env = recorded_packages(tmp_path, home, site)
    assert "index" not in env


def test_closure_walk_and_worker_provided_packages():
    graph = {"app": {"": [["lib", []]], "gpu": [["cuda", []]]}, "lib": {"": [["app", []]]},
             "cuda": {}, "localtask": {"": [["click", []]]}, "click": {}}
    assert closure(graph, ["app"]) == {"app": {"lib"}, "lib": {"app"}}
    assert closure(graph, ["App", "missing"]) == {"app": {"lib"}, "lib": {"app"}}
    assert closure({"app": {"": [["lib", ["gpu"]]]}, "lib": {"gpu": [["cuda", []]]}, "cuda": {}},
                   ["app"]) == {"app": set(), "lib": {"app"}, "cuda": {"lib"}}
    packages = [{"name": "localtask"}, {"name": "click", "required_by": ["localtask"]},
                {"name": "numpy"}, {"name": "Foo_Bar", "required_by": ["localtask", "numpy"]}]
    assert provided_by(packages, ["localtask"]) == {"localtask", "click"}
    assert normal("Foo_Bar.baz") == "foo-bar-baz"
