"""Artifacts: files and objects a task keeps, under ``<home>/tasks/<id>/artifacts``."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .folders import make_dirs
from .exceptions import ArtifactError, StoreFullError
from .params import is_unicode, shown

if TYPE_CHECKING:
    from .store import Store

MAX_NAME = 200


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ArtifactError(f"Invalid artifact name {shown(name)}: use 1-{MAX_NAME} characters.")
    if ("/" in name or "\\" in name or "\x00" in name or name in (".", "..") or name.startswith(".")
            or not is_unicode(name)):
        raise ArtifactError(
            f"Invalid artifact name {name!r}: it may not contain '/', '\\', NUL or text that is not "
            "valid Unicode, nor start with '.'; an artifact name is a plain name such as 'model' or "
            "'metrics.json'.")
    return name


def artifacts_dir(store: "Store", task_id: str) -> Path:
    return store.task_dir(task_id) / "artifacts"


def _write_atomic(target_dir: Path, filename: str, writer, name: str | None = None,
                  home: Path | None = None) -> tuple[int, str]:
    """Write with ``writer(path)`` to a temporary name, fsync, rename; returns (size, sha256).
    Raises StoreFullError when the disk is full, ArtifactError on another I/O error; either
    way the temporary file is gone."""
    tmp = target_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        make_dirs(target_dir)
        writer(tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
            os.fsync(fh.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, target_dir / filename)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if not isinstance(exc, OSError):
            raise
        from .store import FULL_REMEDY, space_problem

        full = space_problem(target_dir, exc)
        if full:
            raise StoreFullError(
                f"Cannot write artifact {name or filename!r} into the store {home or target_dir}: {full}. "
                f"Nothing was recorded; {FULL_REMEDY}.") from None
        raise ArtifactError(f"Cannot write artifact {filename!r} in {target_dir}: "
                            f"{exc.strerror or exc}. Nothing was recorded.") from None
    return size, digest.hexdigest()


def _zip_files(folder: Path, files: list[Path]):
    """A writer of one zip of ``files``, named relative to ``folder``, sorted."""
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for file in sorted(files):
                if file.is_file():
                    # no mtime, and only the modes git keeps (a checkout's umask decides the rest):
                    # the same files give the same bytes in a re-run, as the csv.gz
                    info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    mode = 0o100755 if file.stat().st_mode & 0o111 else 0o100644
                    info.external_attr = mode << 16
                    with open(file, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    return write


def _zip_folder(folder: Path):
    return _zip_files(folder, list(folder.rglob("*")))


WILDCARDS = ("*", "?", "[")


def _wildcard(obj: Any) -> tuple[Path, str] | None:
    """``(folder, pattern)`` when ``obj`` is a pattern such as ``'out/*.csv'`` (its last part a
    wildcard, its folder existing), as ClearML takes one: the matching files below the folder."""
    if not isinstance(obj, (str, os.PathLike)):
        return None
    text = os.fspath(obj)
    if not isinstance(text, str) or "\x00" in text or len(text) >= 4096:
        return None
    path = Path(text).expanduser()
    if not any(c in path.name for c in WILDCARDS) or len(path.parts) < 2 or path.exists():
        return None
    if any(c in part for part in path.parts[:-1] for c in WILDCARDS):
        return None
    folder = path.parent
    return (folder, path.name) if folder.is_dir() else None


#: the image modes a PNG file keeps as they are
PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


def _is_pil_image(obj: Any) -> bool:
    if type(obj).__module__.split(".")[0] != "PIL":
        return False
    from PIL import Image

    return isinstance(obj, Image.Image)


def _is_of(obj: Any, module: str, attribute: str) -> bool:
    """Whether ``obj`` is a ``module.attribute`` (imported only when the object comes from it)."""
    if type(obj).__module__.split(".")[0] != module:
        return False
    import importlib

    return isinstance(obj, getattr(importlib.import_module(module), attribute))


def prepare(name: str, obj: Any) -> tuple[str, str, Any, dict]:
    """``(kind, filename, writer, meta)`` for an object to upload."""
    pattern = _wildcard(obj)
    if pattern is not None:
        folder, wildcard = pattern
        files = [f for f in folder.rglob(wildcard) if f.is_file()]
        if not files:
            raise ArtifactError(f"Artifact {name!r}: the pattern {os.fspath(obj)!r} matches no file in {folder}.")
        return "folder", name + ".zip", _zip_files(folder, files), {"source": os.fspath(obj),
                                                                     "files": len(files)}
    is_path = isinstance(obj, os.PathLike) or (
        isinstance(obj, str) and "\x00" not in obj and len(obj) < 4096 and os.path.exists(obj))
    if is_path:
        path = Path(obj)
        if path.is_dir():
            return "folder", name + ".zip", _zip_folder(path), {"source": path.name}
        if not path.is_file():
            raise ArtifactError(f"Artifact {name!r}: {path} is not a file or folder.")
        suffix = "".join(path.suffixes[-2:]) if path.suffix else ""
        filename = name if name.endswith(suffix) else name + suffix
        return "file", filename, lambda dst: shutil.copyfile(path, dst), {"source": path.name}
    if isinstance(obj, (dict, list)):
        try:
            text = json.dumps(obj, indent=2, ensure_ascii=False)
            exact = json.loads(text) == obj
        except (TypeError, ValueError, RecursionError):
            exact = False
        if exact:
            return "json", name + ".json", lambda dst: Path(dst).write_text(text, encoding="utf-8"), {}
        # JSON would change it (datetimes, sets, tuples, int keys...): pickled below, so get()
        # gives back what was uploaded.
    if isinstance(obj, str):
        return "text", name + ".txt", lambda dst: Path(dst).write_text(obj, encoding="utf-8"), {}
    if _is_pil_image(obj):
        if obj.mode not in PNG_MODES:
            raise ArtifactError(f"Artifact {name!r}: an image of mode {obj.mode} cannot be kept as PNG; "
                                f"convert it first (image.convert('RGB')).")
        meta = {"size": list(obj.size), "mode": obj.mode}
        return "image", name + ".png", lambda dst: _save_image(obj, dst), meta
    if _is_of(obj, "numpy", "ndarray") and not obj.dtype.hasobject:  # object arrays: pickled
        import numpy

        meta = {"shape": list(obj.shape), "dtype": str(obj.dtype)}
        return "numpy", name + ".npy", lambda dst: _save_numpy(numpy, dst, obj), meta
    if _is_of(obj, "pandas", "DataFrame"):
        meta = {"shape": list(obj.shape)}
        return "pandas", name + ".csv.gz", lambda dst: _save_csv_gz(dst, obj), meta
    try:
        data = pickle.dumps(obj)
    except Exception as exc:
        raise ArtifactError(f"Artifact {name!r}: a {type(obj).__name__} cannot be pickled ({exc}).") from None
    return "pickle", name + ".pkl", lambda dst: Path(dst).write_bytes(data), {"type": type(obj).__name__}


def _save_image(image: Any, dst: Path) -> None:
    with open(dst, "wb") as fh:
        image.save(fh, format="PNG")


def _save_csv_gz(dst: Path, frame: Any) -> None:
    """CSV in gzip with no name or time in its header, so the same frame gives the same bytes."""
    import gzip

    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(frame.to_csv().encode("utf-8"))


def _save_numpy(numpy, dst: Path, obj) -> None:
    with open(dst, "wb") as fh:
        numpy.save(fh, obj, allow_pickle=False)


def _optional(module: str, package: str, artifact: "Artifact") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ArtifactError(f"Artifact {artifact.name!r} of task {artifact.task_id} is a {artifact.type} "
                            f"artifact: reading it needs {package} (pip install {package}); "
                            f"get_local_copy() gives its file.") from None


def upload(store: "Store", task_id: str, name: str, obj: Any, metadata: dict | None = None) -> None:
    """Write the artifact file (temporary name, then rename) and only then commit its row."""
    check_name(name)
    kind, filename, writer, meta = prepare(name, obj)
    meta.update(metadata or {})
    folder = artifacts_dir(store, task_id)
    if folder not in _swept:  # once per folder and process: an upload loop must stay O(1)
        _swept.add(folder)
        remove_stale_temp_files(folder)
    # Never replace a file that a committed row may name: killed between the rename and the
    # commit, that row would describe other bytes. A taken name gets a fresh subfolder instead
    # (the file keeps its name), and the version it supersedes goes once the new row commits.
    previous = store.artifact_filename(task_id, name)
    subfolder = ""
    if previous is not None or (folder / filename).exists():
        subfolder = uuid.uuid4().hex[:16]
    existed = (folder / subfolder / filename).exists()
    try:
        size, sha = _write_atomic(folder / subfolder, filename, writer, name, store.home)
    except BaseException:
        if subfolder:
            remove_file(folder, f"{subfolder}/{filename}")
        raise
    if subfolder:
        filename = f"{subfolder}/{filename}"
    try:
        store.add_artifact(task_id, name, kind, filename, size, sha, meta)
    except BaseException:
        try:  # interrupted after the commit (Ctrl-C), the row names the file: keep it
            committed = store.artifact_filename(task_id, name) == filename
        except BaseException:
            committed = True  # unknown: an unnamed file is harmless, a row without its file is not
        if not existed and not committed:
            remove_file(folder, filename)
        raise
    if previous is not None and previous != filename and not store.artifact_file_named(task_id, previous):
        remove_file(folder, previous)


def remove_file(folder: Path, filename: str) -> None:
    """Remove an artifact file no row names any more, and its version subfolder once empty."""
    try:
        (folder / filename).unlink()
    except OSError:
        pass
    if "/" in filename:
        try:
            (folder / filename).parent.rmdir()
        except OSError:
            pass


#: a temporary file older than this (seconds) was left by a writer killed before its rename.
STALE_TEMP_AGE = 3600.0


#: artifact folders this process has swept of stale temporary files already
_swept: set[Path] = set()


def remove_stale_temp_files(folder: Path, max_age: float = STALE_TEMP_AGE) -> int:
    """Remove the temporary files that killed writers left in an artifacts folder (and its
    version subfolders) more than ``max_age`` seconds ago; no row ever names one. Returns how many."""
    removed = 0
    limit = time.time() - max_age
    for path in [*folder.glob(".tmp-*"), *folder.glob("*/.tmp-*")]:
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
                if path.parent != folder:
                    path.parent.rmdir()  # a subfolder made for the version that never came
        except OSError:
            pass
    return removed


class Artifact:
    """An uploaded artifact: ``get_local_copy()`` gives a path, ``get()`` the object."""

    def __init__(self, store: "Store", task_id: str, row: dict):
        self._store = store
        self.task_id = task_id
        self.name: str = row["name"]
        self.type: str = row["kind"]
        self.size: int = row["size"]
        self.hash: str = row["sha256"]
        self.metadata: dict = row["meta"]
        self.timestamp: float = row["created"]
        self.path = artifacts_dir(store, task_id) / row["filename"]

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def get_local_copy(self, extract_archive: bool = True) -> str:
        """Path of the artifact's file (a folder artifact is extracted into the store's cache)."""
        if not self.path.exists():
            raise ArtifactError(f"Artifact {self.name!r} of task {self.task_id}: its file {self.path} is missing.")
        if self.type == "folder" and extract_archive:
            target = self._store.cache_dir / "artifacts" / self.task_id / self.hash[:16] / self.name
            if not target.is_dir():
                # not named after the artifact: its name may already be as long as a name can be
                tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
                make_dirs(tmp, exist_ok=False)  # an empty folder has no member to create it
                with zipfile.ZipFile(self.path) as zf:
                    zf.extractall(tmp)
                try:
                    os.replace(tmp, target)
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)
            return str(target)
        return str(self.path)

    def get(self) -> Any:
        """The stored object: dict/list for JSON, str for text, the unpickled object, a numpy
        array, a DataFrame, a PIL image, or (as ClearML) the local Path of a file, and of the
        extracted folder of a folder or wildcard artifact."""
        path = self.get_local_copy()
        if self.type == "json":
            return json.loads(Path(path).read_text(encoding="utf-8"))
        if self.type == "text":
            return Path(path).read_text(encoding="utf-8")
        if self.type == "pickle":
            with open(path, "rb") as fh:
                return pickle.load(fh)
        if self.type == "numpy":
            return _optional("numpy", "numpy", self).load(path, allow_pickle=False)
        if self.type == "pandas":
            return _optional("pandas", "pandas", self).read_csv(path, index_col=0, compression="gzip")
        if self.type == "image":
            image = _optional("PIL.Image", "pillow", self).open(path)
            image.load()  # read now: the file is not kept open
            return image
        return Path(path)

    def __repr__(self) -> str:
        return f"Artifact({self.name!r}, type={self.type!r}, size={self.size})"
