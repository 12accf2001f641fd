"""ClearML's ``StorageManager`` for local paths and ``file://`` URLs.

localtask is local-only: any other scheme (``s3://``, ``gs://``, ``azure://``, ``http(s)://``)
raises :class:`LocaltaskError` saying so. Archives are extracted into the store's cache.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path

from .exceptions import LocaltaskError
from .folders import make_dirs

_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def refuse_remote(url: str, what: str = "reach") -> None:
    scheme = str(url).split("://", 1)[0]
    raise LocaltaskError(
        f"Cannot {what} {url}: localtask is local-only and does not speak {scheme}://. Use a local "
        "path or a file:// URL (download the file yourself first, e.g. with the cloud's own CLI, "
        "or mount the bucket and give its local path).")


def _path(url: str | os.PathLike, what: str) -> Path:
    from .models import _local_path

    path = _local_path(url)
    if path is None:
        refuse_remote(str(url), what)
    return path.absolute()


def _cache_root() -> Path:
    from .models import _default_store

    return _default_store().cache_dir / "storage"


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(_ARCHIVES)


def _extract(archive: Path, cache_context: str | None) -> Path:
    stat = archive.stat()
    key = hashlib.sha256(f"{archive}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    base = archive.name
    for suffix in sorted(_ARCHIVES, key=len, reverse=True):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    target = _cache_root() / (cache_context or "global") / f"{key}_{base or 'archive'}"
    if target.is_dir():
        return target
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    make_dirs(tmp, exist_ok=False)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                try:
                    tf.extractall(tmp, filter="data")
                except TypeError:  # Python without extraction filters
                    tf.extractall(tmp)
        os.replace(tmp, target)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.is_dir():  # another process extracted it first
            return target
        raise LocaltaskError(f"Cannot extract the archive {archive}: {exc}") from None
    return target


def _copy(source: Path, destination: Path) -> None:
    make_dirs(destination.parent, exist_ok=True)
    tmp = destination.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise LocaltaskError(f"Cannot copy {source} to {destination}: {exc.strerror}.") from None


class StorageManager:
    """Local files with ClearML's StorageManager calls (every method is a classmethod)."""

    @classmethod
    def get_local_copy(cls, remote_url: str, cache_context: str | None = None, extract_archive: bool = True,
                       name: str | None = None, force_download: bool = False) -> str | None:
        """The local path ``remote_url`` names (a path or ``file://``), or None if it does not
        exist; an archive with ``extract_archive`` is extracted into the store's cache and its
        folder returned."""
        path = _path(remote_url, "get a local copy of")
        if not path.exists():
            return None
        if extract_archive and _is_archive(path):
            return str(_extract(path, cache_context))
        return str(path)

    @classmethod
    def upload_file(cls, local_file: str, remote_url: str, wait_for_upload: bool = True,
                    retries: int | None = None) -> str:
        """Copy ``local_file`` to ``remote_url`` (into it, when it is a folder or ends with ``/``)."""
        source = Path(local_file)
        destination = _path(remote_url, "upload to")
        if not source.is_file():
            raise LocaltaskError(f"Cannot upload {source}: not a file.")
        if str(remote_url).endswith("/") or destination.is_dir():
            destination = destination / source.name
        _copy(source, destination)
        return destination.as_uri() if str(remote_url).startswith("file://") else str(destination)

    @classmethod
    def list(cls, remote_url: str, return_full_path: bool = False, with_metadata: bool = False) -> list:
        """The files below a folder, as paths relative to it (or full ones), sorted."""
        root = _path(remote_url, "list")
        if not root.is_dir():
            return [] if not root.exists() else [str(root) if return_full_path else root.name]
        files = sorted(p for p in root.rglob("*") if p.is_file())
        names = [str(p) if return_full_path else p.relative_to(root).as_posix() for p in files]
        if with_metadata:
            return [{"name": n, "size": p.stat().st_size} for n, p in zip(names, files)]
        return names

    @classmethod
    def download_folder(cls, remote_url: str, local_folder: str | None = None, match_wildcard: str | None = None,
                        overwrite: bool = False, skip_zero_size_check: bool = False) -> str | None:
        """Copy a folder's files (those matching ``match_wildcard``) into ``local_folder``
        (default: the store's cache); returns the local folder."""
        root = _path(remote_url, "download from")
        if not root.is_dir():
            return None
        target = Path(local_folder) if local_folder else _cache_root() / "folders" / hashlib.sha256(
            str(root).encode()).hexdigest()[:16]
        for rel in cls.list(root.as_posix()):
            if match_wildcard and not fnmatch.fnmatch(rel, match_wildcard):
                continue
            destination = target / rel
            if destination.exists() and not overwrite:
                continue
            _copy(root / rel, destination)
        make_dirs(target, exist_ok=True)
        return str(target)

    @classmethod
    def upload_folder(cls, local_folder: str, remote_url: str, match_wildcard: str | None = None,
                      retries: int | None = None) -> None:
        """Copy a local folder's files (those matching ``match_wildcard``) under ``remote_url``."""
        root = Path(local_folder)
        target = _path(remote_url, "upload to")
        if not root.is_dir():
            raise LocaltaskError(f"Cannot upload {root}: not a folder.")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if match_wildcard and not fnmatch.fnmatch(rel, match_wildcard):
                continue
            _copy(path, target / rel)

    @classmethod
    def exists_file(cls, remote_url: str) -> bool:
        return _path(remote_url, "look up").is_file()

    @classmethod
    def get_file_size_bytes(cls, remote_url: str, silence_errors: bool = False) -> int | None:
        path = _path(remote_url, "look up")
        return path.stat().st_size if path.is_file() else None
