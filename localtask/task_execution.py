"""ClearML's calls that edit what a task runs: ``set_repo``, ``set_script``, ``set_packages``,
``add_requirements``, ``set_base_docker`` (and ``set_python_version``, localtask's own).

:class:`ExecutionEdits` is a mixin of :class:`localtask.task.Task`. Every call goes through
:func:`localtask.execution_edit.edit_execution`: a draft only (or the process recording the task,
as ClearML allows before ``execute_remotely``), each change checked, nothing changed on error.
As in ClearML, the calls are ignored in a task run by a worker.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from . import package_list
from ._logging import get_logger

log = get_logger("localtask.task")


class ExecutionEdits:
    """Edits of a task's code, packages, Python and container image (a mixin of Task)."""

    #: ``add_requirements`` calls made before ``Task.init``: name -> requirement entry
    _forced_requirements: dict[str, dict[str, Any]] = {}
    _ignored_requirements: set[str] = set()

    def _edit_execution(self, **changes: Any) -> list[str]:
        # imported here: the edit machinery (git, dataclasses) costs Task.init 12 ms at import
        from .execution_edit import ExecutionEdit, edit_execution

        if getattr(self, "_attached", False):
            log.info("localtask: task %s runs under a worker: execution edits are ignored", self.id)
            return []
        return edit_execution(self.store, self.id, ExecutionEdit(**changes),
                              owner=self._can_write_freely())

    def set_repo(self, repo: str | None = None, branch: str | None = None, commit: str | None = None) -> None:
        """Run the task from ``repo`` (a git URL, or the path of a local clone: its checked-out
        commit and branch are taken unless given), ``branch`` (alone: its head commit now) and
        ``commit``. ``branch=""`` clears the branch name. Raises ExecutionEditError for a
        repository, branch or commit that does not exist (nothing is changed)."""
        self._edit_execution(repository=repo, branch=branch, commit=commit)

    def set_script(self, repository: str | None = None, branch: str | None = None, commit: str | None = None,
                   diff: str | bytes | None = None, working_dir: str | None = None,
                   entry_point: str | None = None) -> None:
        """Edit the task's code: as :meth:`set_repo`, plus the uncommitted ``diff`` (``""`` drops
        it; it must apply to the commit), the ``working_dir`` and the ``entry_point`` (relative
        to the repository root, or to ``working_dir`` as ClearML writes it)."""
        if isinstance(diff, str):
            diff = diff.encode("utf-8")
        self._edit_execution(repository=repository, branch=branch, commit=commit, diff=diff,
                             working_dir=working_dir, entry_point=entry_point)

    def set_packages(self, packages: str | os.PathLike | Sequence[str] | None) -> None:
        """Replace the task's package list: requirement lines (``["tqdm>=2.1", "numpy==1.26.4"]``),
        the path of a requirements file, or ``""`` to clear it. Each line is checked with
        ``packaging.requirements``; a malformed one raises ExecutionEditError."""
        if packages is None:
            return
        if isinstance(packages, (str, os.PathLike)) and str(packages) and Path(packages).is_file():
            self._edit_execution(packages=packages)
        elif isinstance(packages, str):
            self._edit_execution(packages=packages.splitlines())
        else:
            self._edit_execution(packages=list(packages))

    def set_python_version(self, version: str) -> None:
        """The Python the worker runs the task with (``"3.12"``): it finds that interpreter and
        fails the task clearly when it has none."""
        self._edit_execution(python=version)

    def set_base_docker(self, docker_cmd: str | None = None, docker_image: str | None = None,
                        docker_arguments: str | Sequence[str] | None = None,
                        docker_setup_bash_script: str | Sequence[str] | None = None) -> None:
        """The container image the task runs in (a worker with ``--container docker|podman``);
        ``docker_cmd`` is ClearML's old form, the image followed by its arguments. An empty image
        removes it. Raises ExecutionEditError for a name that is not an image reference."""
        cmd = docker_cmd or docker_image or ""
        image = cmd.split(" ")[0] if cmd else ""
        if not docker_arguments and docker_cmd and len(docker_cmd.split(" ")) > 1:
            docker_arguments = docker_cmd.split(" ", 1)[1]
        if docker_arguments is not None and not isinstance(docker_arguments, str):
            docker_arguments = " ".join(docker_arguments)
        if docker_setup_bash_script is not None and not isinstance(docker_setup_bash_script, str):
            docker_setup_bash_script = "\n".join(docker_setup_bash_script)
        self._edit_execution(image=image, image_arguments=docker_arguments or "",
                             image_setup=docker_setup_bash_script or "")

    def get_base_docker(self) -> str | None:
        """The image and its arguments, as ClearML gives them, or None."""
        env = self.get_environment() or {}
        if not env.get("image"):
            return None
        return env["image"] + (f" {env['image_arguments']}" if env.get("image_arguments") else "")

    @classmethod
    def add_requirements(cls, package_name: str, package_version: str | None = None) -> None:
        """Add a package to what the next ``Task.init`` of this process records (ClearML: call it
        before ``Task.init``). ``package_version``: None for the installed version, ``""`` for
        none, ``"2.4.0"`` or a specifier (``">=2.4"``). A path to a requirements file adds each
        of its lines. Raises ExecutionEditError for a malformed requirement."""
        from . import current_run

        if current_run.get() is not None:
            log.warning("localtask: Task.add_requirements(%r) after Task.init: it applies to the next "
                        "task this process records; edit this one with set_packages()", package_name)
        if os.path.exists(package_name):
            entries = package_list.read_file(package_name)
        else:
            if package_version is None:
                from importlib import metadata

                try:
                    package_version = metadata.version(package_name)
                except metadata.PackageNotFoundError:
                    package_version = ""
            version = str(package_version).strip()
            if version and version[0].isdigit():
                version = "==" + version
            entries = [package_list.parse_line(package_name + version, "add_requirements") or {}]
        for entry in entries:
            if entry:
                ExecutionEdits._forced_requirements[package_list.normal_name(entry["name"])] = entry

    def _refreshed_environment(self) -> dict[str, Any]:
        """The environment captured again (packages imported since ``Task.init``), keeping what
        this process set on its task: the image, an edited package list, an edited Python."""
        from . import capture

        fresh = self._record_forced_requirements(capture.capture_environment(self.store.cache_dir))
        stored = self.get_environment() or {}
        kept = [key for key in ("image", "image_arguments", "image_setup") if stored.get(key)]
        if stored.get("packages_edited"):
            kept += ["packages", "packages_edited"]
        if stored.get("python_edited"):
            kept += ["python", "python_edited"]
        return {**fresh, **{key: stored[key] for key in kept}}

    @staticmethod
    def _record_forced_requirements(environment: dict[str, Any]) -> dict[str, Any]:
        """``environment`` with the packages ``add_requirements`` asked for."""
        forced = ExecutionEdits._forced_requirements
        if forced:
            environment["packages"] = package_list.apply(environment.get("packages") or [],
                                                         set_=forced.values())
        ignored = ExecutionEdits._ignored_requirements
        if ignored:
            environment["packages"] = [p for p in environment.get("packages") or []
                                       if package_list.normal_name(p.get("name", "")) not in ignored]
        return environment

    @classmethod
    def ignore_requirements(cls, package_name: str) -> None:
        """Leave ``package_name`` out of the packages the next ``Task.init`` of this process
        records (ClearML: call it before ``Task.init``); a worker's re-run does not install it."""
        ExecutionEdits._ignored_requirements.add(package_list.normal_name(str(package_name)))
