"""The bundle file: a tar archive whose members are checked against a manifest of checksums.

Layout (member names): ``format.json`` first (format and store schema version, so a bundle from
a newer store is refused before anything is unpacked), then the members, then
``manifest.json`` last with the size and sha256 of every other member. A truncated file lacks
its manifest or ends inside a member; a changed member no longer matches its checksum.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Callable

from .exceptions import BundleError, BundleVersionError, StoreFullError
from .store_base import FULL_REMEDY, SCHEMA_VERSION, space_problem

FORMAT = "localtask-bundle"
FORMAT_VERSION = 1
FORMAT_MEMBER = "format.json"
MANIFEST = "manifest.json"
CHUNK = 1 << 20
#: no control characters (NUL included) and no backslash, which some tar readers take for a separator
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")

Progress = Callable[[int], None]


def check_member_name(name: str) -> str:
    """``name`` if it is a plain relative path inside the bundle, else a BundleError."""
    if (not name or _UNSAFE.search(name) or name.startswith("/")
            or any(part in ("", ".", "..") for part in name.split("/"))):
        raise BundleError(f"The bundle holds a member named {name!r}, which is not a plain relative "
                          "path: it was not written by localtask export. Nothing was imported.")
    return name


class _Hashing(io.RawIOBase):
    """A reader that hashes (and reports) what passes through it."""

    def __init__(self, raw: BinaryIO, progress: Progress | None):
        self.raw, self.progress = raw, progress
        self.sha, self.size = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        if self.progress and data:
            self.progress(len(data))
        return data


class BundleWriter:
    """Writes a bundle to a temporary file beside ``path``, renamed into place by :meth:`close`."""

    def __init__(self, path: Path, schema_version: int = SCHEMA_VERSION):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{uuid.uuid4().hex[:8]}")
        self.members: dict[str, dict[str, Any]] = {}
        try:
            self.tar = tarfile.open(self.tmp, "w", format=tarfile.PAX_FORMAT)
            self.tar.copybufsize = CHUNK  # tarfile's default of 16 kB costs 4 calls per 64 kB
        except OSError as exc:
            raise BundleError(f"Cannot write the bundle {self.path}: {exc.strerror or exc}.") from None
        self.add_bytes(FORMAT_MEMBER, json.dumps(
            {"format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": schema_version}).encode())

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(check_member_name(name))
        info.size, info.mode, info.mtime = size, 0o600, 0
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.members[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def add_file(self, name: str, source: Path, progress: Progress | None = None) -> None:
        with open(source, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            reader = _Hashing(fh, progress)
            self.tar.addfile(self._info(name, size), reader)
        self.members[name] = {"size": reader.size, "sha256": reader.sha.hexdigest()}

    def close(self, manifest: dict[str, Any]) -> None:
        """Write the manifest (with every member's checksum) and move the bundle into place."""
        data = json.dumps({**manifest, "members": self.members}, indent=1, sort_keys=True).encode()
        info = self._info(MANIFEST, len(data))
        self.tar.addfile(info, io.BytesIO(data))
        self.tar.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.tar.close()
        except (OSError, tarfile.TarError):
            pass
        self.tmp.unlink(missing_ok=True)


def _check_format(data: bytes, path: Path) -> None:
    try:
        fmt = json.loads(data)
        ok = fmt.get("format") == FORMAT
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise BundleError(f"{path} is not a localtask bundle (its {FORMAT_MEMBER} is not ours); make one "
                          "with 'localtask export'. Nothing was imported.")
    version = fmt.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or fmt.get("format_version", 0) > FORMAT_VERSION:
        raise BundleVersionError(
            f"The bundle {path} was written by a newer localtask (store schema version {version}, bundle "
            f"format {fmt.get('format_version')}; this localtask understands up to {SCHEMA_VERSION} and "
            f"{FORMAT_VERSION}). Upgrade localtask here (pip install -U localtask), or export again with "
            "this lab's version. Nothing was imported.")


def extract(path: Path, staging: Path, store_home: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Unpack the bundle at ``path`` into the folder ``staging`` and return its manifest, after
    checking that every member is present, whole and unchanged (BundleError otherwise;
    StoreFullError when the store's disk has no room for it)."""
    path = Path(path)
    seen: dict[str, dict[str, Any]] = {}
    manifest_data = None
    truncated = (f"The bundle {path} is truncated or damaged ({{}}): copy it again from its source. "
                 "Nothing was imported.")
    try:
        with tarfile.open(path, "r|") as tar:
            for number, member in enumerate(tar):
                name = check_member_name(member.name)
                if not member.isfile():
                    raise BundleError(f"The bundle member {name!r} is not a regular file: this bundle "
                                      "was not written by localtask export. Nothing was imported.")
                if name in seen or manifest_data is not None:
                    raise BundleError(f"The bundle {path} has a member {name!r} twice or after its "
                                      "manifest: it was altered after export. Nothing was imported.")
                source = tar.extractfile(member)
                if name in (FORMAT_MEMBER, MANIFEST):
                    data = source.read(64 << 20)
                    if name == FORMAT_MEMBER:
                        if number != 0:
                            raise BundleError(truncated.format(f"{FORMAT_MEMBER} is not its first member"))
                        _check_format(data, path)
                        seen[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    else:
                        manifest_data = data
                    continue
                if number == 0:
                    _check_format(b"", path)
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                reader = _Hashing(source, progress)
                with open(target, "wb") as out:
                    while chunk := reader.read(CHUNK):
                        out.write(chunk)
                    # on disk before the rows naming it commit: a crash never leaves a row whose file is short
                    os.fsync(out.fileno())
                if reader.size != member.size:
                    raise BundleError(truncated.format(f"member {name} ends early"))
                seen[name] = {"size": reader.size, "sha256": reader.sha.hexdigest()}
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(truncated.format(exc)) from None
    except OSError as exc:
        full = space_problem(staging, exc)
        if full:
            raise StoreFullError(f"Cannot unpack the bundle {path} into the store {store_home}: {full}. "
                                 f"Nothing was imported; {FULL_REMEDY}.") from None
        if not Path(path).is_file():
            raise BundleError(f"No bundle file at {path}.") from None
        raise BundleError(f"Cannot read the bundle {path}: {exc.strerror or exc}.") from None
    if manifest_data is None:
        raise BundleError(truncated.format(f"it has no {MANIFEST}, which is written last"))
    try:
        manifest = json.loads(manifest_data)
        listed = manifest["members"]
    except (ValueError, KeyError, TypeError):
        raise BundleError(truncated.format(f"its {MANIFEST} is not valid")) from None
    missing = sorted(set(listed) - set(seen))
    extra = sorted(set(seen) - set(listed))
    changed = sorted(n for n in set(seen) & set(listed) if seen[n] != listed[n])
    if missing or extra or changed:
        what = "; ".join(f"{label}: {', '.join(names[:5])}" for label, names in
                         (("missing", missing), ("not in the manifest", extra), ("checksum differs", changed))
                         if names)
        raise BundleError(f"The bundle {path} does not match its manifest ({what}): it was truncated, "
                          "damaged or altered after export. Copy it again from its source. Nothing was imported.")
    return manifest
