"""A worker's GPUs: the devices ``nvidia-smi`` lists, the ones ``--gpus`` picks, and which
task holds which (each slot's ``CUDA_VISIBLE_DEVICES``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass

from .exceptions import GpuError

QUERY = ("--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader")


@dataclass(frozen=True)
class Gpu:
    """One device as nvidia-smi lists it (``memory``: its text, such as ``81920 MiB``)."""

    index: int
    uuid: str
    name: str
    memory: str


def query_devices() -> list[Gpu]:
    """The GPUs ``nvidia-smi`` lists; GpuError when it is missing, fails or lists none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        raise GpuError("--gpus reads the devices with nvidia-smi (NVIDIA's driver tools), and there "
                       "is no nvidia-smi on PATH; install the driver, or run the worker without --gpus.")
    try:
        proc = subprocess.run([exe, *QUERY], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GpuError(f"nvidia-smi ({exe}) could not be run: {exc}; check the NVIDIA driver, or run "
                       "the worker without --gpus.") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip() or "no message").splitlines()[0]
        raise GpuError(f"nvidia-smi failed (exit code {proc.returncode}): {said}; check the NVIDIA "
                       "driver, or run the worker without --gpus.")
    devices = [_parse_line(line) for line in proc.stdout.splitlines() if line.strip()]
    if not devices:
        raise GpuError("nvidia-smi lists no GPU on this machine; run the worker without --gpus.")
    return devices


def _parse_line(line: str) -> Gpu:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 4 or not fields[0].isdigit():
        raise GpuError(f"cannot read this line of nvidia-smi {' '.join(QUERY)}: {line!r} "
                       "(expected: index, uuid, name, memory.total).")
    # a device name may itself hold a comma: the memory is the last field
    return Gpu(int(fields[0]), fields[1], ", ".join(fields[2:-1]), fields[-1])


def _match(token: str, devices: list[Gpu]) -> Gpu | None:
    token = token.strip()
    for gpu in devices:
        if (token.isdigit() and int(token) == gpu.index) or (token and token == gpu.uuid):
            return gpu
    return None


def select(spec: str, devices: list[Gpu], visible: str | None = None) -> list[Gpu]:
    """The devices ``spec`` names: ``all``, or indexes / UUIDs separated by commas (``0,1,3``).

    ``visible`` (the worker's own ``CUDA_VISIBLE_DEVICES``, when set) limits the choice to the
    devices it lists, as when the worker itself runs inside an allocation. GpuError otherwise.
    """
    listed = ", ".join(str(g.index) for g in devices)
    if visible is not None:
        allowed = []
        for token in filter(None, (t.strip() for t in visible.split(","))):
            gpu = _match(token, devices)
            if gpu is None:
                raise GpuError(f"CUDA_VISIBLE_DEVICES={visible!r} names {token!r}, which is not one of "
                               f"the GPUs nvidia-smi lists ({listed}); unset it or fix it.")
            allowed.append(gpu)
        if not allowed:
            raise GpuError(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this worker; "
                           "unset it, or run the worker without --gpus.")
        devices, listed = allowed, ", ".join(str(g.index) for g in allowed) + " (CUDA_VISIBLE_DEVICES)"
    spec = (spec or "").strip()
    if spec.lower() == "all":
        return list(devices)
    chosen: list[Gpu] = []
    for token in spec.split(","):
        gpu = _match(token, devices)
        if gpu is None:
            raise GpuError(f"--gpus {spec!r}: {token.strip()!r} is not one of this machine's GPUs "
                           f"({listed}); give their indexes or UUIDs separated by commas, or 'all'.")
        if gpu in chosen:
            raise GpuError(f"--gpus {spec!r} names GPU {gpu.index} twice.")
        chosen.append(gpu)
    return chosen


def cuda_environment(gpus: list[Gpu]) -> dict[str, str]:
    """The variables that show a task only ``gpus`` (none: an empty CUDA_VISIBLE_DEVICES)."""
    # Indexes are nvidia-smi's, which follow the PCI bus; CUDA's own default order is
    # "fastest first", so without CUDA_DEVICE_ORDER an index could name another device.
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(g.index) for g in gpus), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


class GpuPool:
    """A worker's GPUs and the task holding each; safe to use from several threads."""

    def __init__(self, devices: list[Gpu]):
        self.devices = list(devices)
        self._holder: dict[int, str | None] = {g.index: None for g in self.devices}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return len(self.devices)

    def free(self) -> int:
        """How many devices no task holds."""
        with self._lock:
            return sum(1 for holder in self._holder.values() if holder is None)

    def take(self, task_id: str, count: int) -> list[Gpu]:
        """Give ``count`` free devices to ``task_id`` (lowest indexes first); GpuError if too few."""
        with self._lock:
            free = [g for g in self.devices if self._holder[g.index] is None]
            if count > len(free):
                raise GpuError(f"task {task_id} asks for {count} GPU(s) and {len(free)} are free.")
            for gpu in free[:count]:
                self._holder[gpu.index] = task_id
            return free[:count]

    def release(self, task_id: str) -> None:
        """Free the devices ``task_id`` held."""
        with self._lock:
            for index, holder in self._holder.items():
                if holder == task_id:
                    self._holder[index] = None

    def table(self) -> list[dict]:
        """Each device with the task holding it (``task``: an id or None), for the workers table."""
        with self._lock:
            return [dict(asdict(g), task=self._holder[g.index]) for g in self.devices]


def describe(gpus: list[Gpu]) -> str:
    """``0,1 (NVIDIA A100)``: indexes, then the distinct model names."""
    names = ", ".join(dict.fromkeys(g.name for g in gpus))
    return ",".join(str(g.index) for g in gpus) + (f" ({names})" if names else "") if gpus else "none"


def visible_devices() -> str | None:
    """The worker's own CUDA_VISIBLE_DEVICES, or None when it is not set."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")
