"""Record what reproduces a run: the code (git state or a file snapshot) and the environment."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .exceptions import CaptureError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# Settings that would change the diff's format, forced back to git's defaults so that a
# user's config (noprefix, colour, external tools, textconv) never reaches the patch.
GIT_CONFIG_OVERRIDES = (
    "diff.noprefix=false", "diff.mnemonicPrefix=false", "diff.relative=false",
    "diff.suppressBlankEmpty=false", "color.ui=never", "color.diff=never", "core.quotePath=true",
    "diff.external=", "core.pager=cat",
)


#: folders a framework writes each run's outputs into (Hydra's ``outputs/``): never recorded as code
RUN_OUTPUT_FOLDERS: list[Path] = []

def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE")}
    env.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    if extra:
        env.update(extra)
    return env


def git(args: list[str], cwd: str | os.PathLike, *, env: dict[str, str] | None = None,
        check: bool = True, input: bytes | None = None,
        new_session: bool = False) -> subprocess.CompletedProcess:
    """Run git with the user's diff/colour settings neutralised; raises CaptureError on failure.
    ``new_session``: out of the caller's process group (a Ctrl-C there does not reach it)."""
    try:
        proc = subprocess.run(_git_cmd(args), cwd=cwd, env=env or git_env(), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=new_session)
    except FileNotFoundError:
        raise CaptureError("git is not installed or not on PATH; install git to record or rebuild code.") from None
    if check and proc.returncode != 0:
        raise CaptureError(f"git {' '.join(args[:2])} failed in {cwd}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def strip_credentials(url: str) -> str:
    """Remove user:password (or a token) from a URL; keep an ssh user such as ``git@``."""
    if not url or "://" not in url:
        return url  # local path or scp-like git@host:path: nothing secret in it
    scheme, _, rest = url.partition("://")
    # Found as git does, not with urlsplit: a password may hold a literal '#' or '?' (urlsplit
    # would cut the netloc there and keep the secret), so the userinfo is everything before the
    # last '@' that comes before the first '/'.
    first_slash = rest.find("/") if "/" in rest else len(rest)
    at = rest.rfind("@", 0, first_slash)
    if at < 0:
        head = rest[:first_slash]
        port = head.partition(":")[2]
        if ":" not in head or port.isdigit() or head.startswith("[") or "@" not in rest[first_slash:]:
            return url
        # "user:pa/ss@host/...": a '/' in the password; git would not parse it either, but the
        # secret must not be stored: the userinfo ends at the last '@' before the host's '/'.
        next_at = rest.find("@", first_slash)
        host_end = rest.find("/", next_at) if "/" in rest[next_at:] else len(rest)
        at = rest.rfind("@", 0, host_end)
    userinfo, rest = rest[:at], rest[at + 1:]
    if "ssh" in scheme:
        user = userinfo.split(":", 1)[0]  # an ssh user name is not a secret; a password is
        if user:
            rest = f"{user}@{rest}"
    return f"{scheme}://{rest}"


def _pick_remote(config_lines: str, branch_remote: str | None) -> str | None:
    remotes: dict[str, str] = {}
    for line in config_lines.splitlines():
        key, _, value = line.partition(" ")
        match = re.fullmatch(r"remote\.(.+)\.url", key)
        if match:
            remotes.setdefault(match.group(1), value.strip())
    for name in (branch_remote, "origin"):
        if name and name in remotes:
            return remotes[name]
    return next(iter(remotes.values()), None)


def _read_branch(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/"):]
    return None


def _git_cmd(args: list[str]) -> list[str]:
    cmd = ["git"]
    for setting in GIT_CONFIG_OVERRIDES:
        cmd += ["-c", setting]
    return cmd + args


def _spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(_git_cmd(args), cwd=cwd, env=env or git_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, what: str, check: bool = True) -> tuple[int, bytes]:
    out, err = proc.communicate()
    if check and proc.returncode != 0:
        raise CaptureError(f"git {what} failed: {err.decode(errors='replace').strip()}")
    return proc.returncode, out


def _excluded_pathspecs(top: Path, exclude: list[Path]) -> list[str]:
    """``:(exclude,literal)`` pathspecs for the folders of ``exclude`` inside the repository at ``top``."""
    rels = []
    real_top = top.resolve()
    for folder in exclude:
        try:
            rel = Path(folder).resolve().relative_to(real_top)
        except (ValueError, OSError):
            continue
        if rel.parts and rel.as_posix() not in rels:  # (a store that is the top itself cannot be told apart)
            rels.append(rel.as_posix())
    if rels:  # git add refuses a pathspec, even an excluding one, that names an ignored path
        ignored = git(["check-ignore", "--", *rels], top, check=False).stdout.decode().splitlines()
        rels = [r for r in rels if r not in ignored]
    return [f":(exclude,literal){r}" for r in rels]


def capture_git(start: Path, exclude: list[Path] | None = None) -> tuple[dict[str, Any], bytes] | None:
    """Git facts of the repository holding ``start``, and the uncommitted diff; None outside git.

    The diff covers staged, unstaged and untracked-not-ignored files, binary-safe, and is built
    through a temporary index (``GIT_INDEX_FILE``) so the user's own index is never touched.
    Folders in ``exclude`` (the store, when it lives inside the repository) are never part of it.
    Independent git calls run concurrently: this sits on Task.init's start-up path.
    """
    start_dir = start if start.is_dir() else start.parent
    proc = git(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-path", "index"],
               start_dir, check=False)
    if proc.returncode != 0:
        return None
    top_s, git_dir_s, index_s = proc.stdout.decode().splitlines()[:3]
    top, git_dir = Path(top_s), Path(git_dir_s)
    index_path = Path(index_s) if os.path.isabs(index_s) else start_dir / index_s
    branch = _read_branch(git_dir)
    skip = _excluded_pathspecs(top, exclude or [])
    tmp_index = str(git_dir / f"localtask-index-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        try:
            # copy2 keeps the index's mtime: git's racy-clean check compares each entry with it,
            # so a file rewritten (same size) just after the index was written is still diffed.
            shutil.copy2(index_path, tmp_index)
        except FileNotFoundError:
            pass  # no index yet: git add builds one from scratch
        env = git_env({"GIT_INDEX_FILE": tmp_index})
        head_p = _spawn(["rev-parse", "--verify", "-q", "HEAD^{commit}"], top)
        conf_p = _spawn(["config", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$"], top)
        add_p = _spawn(["add", "-A", "--", ".", *skip], top, env)
        code, out = _finish(head_p, "rev-parse", check=False)
        commit = out.decode().strip() if code == 0 else None
        _finish(add_p, "add")
        diff_p = _spawn(["diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "--no-textconv",
                         "--no-renames", "--src-prefix=a/", "--dst-prefix=b/", commit or EMPTY_TREE,
                         *(["--", ".", *skip] if skip else [])], top, env)
        conf = _finish(conf_p, "config", check=False)[1].decode(errors="replace")
        diff = _finish(diff_p, "diff")[1]
    finally:
        try:
            os.unlink(tmp_index)
        except FileNotFoundError:
            pass
    branch_remote = None
    if branch:
        for line in conf.splitlines():
            if line.startswith(f"branch.{branch}.remote "):
                branch_remote = line.split(" ", 1)[1].strip()
    remote = _pick_remote(conf, branch_remote)
    info = {
        "kind": "git",
        "repository": strip_credentials(remote) if remote else str(top),
        "remote": bool(remote),
        "local_path": str(top),
        "branch": branch,
        "commit": commit,
    }
    return info, diff


def _main_module() -> tuple[Path | None, str | None]:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and (path.startswith("<") or not os.path.isfile(path)):
        path = None  # a script read from stdin (``python - < job.py``): nothing on disk to record
    spec = getattr(main, "__spec__", None)
    module = None
    if spec is not None and spec.name and spec.name != "__main__":
        module = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
    return (Path(path).absolute() if path else None), module


def local_modules(folder: Path, exclude: list[Path] | None = None) -> dict[str, bytes]:
    """Source files of modules imported so far from ``folder`` (and its sub-packages), none
    from the folders of ``exclude``."""
    files: dict[str, bytes] = {}
    skip = [Path(p).absolute() for p in exclude or ()]
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        try:
            rel = Path(path).absolute().relative_to(folder)
        except ValueError:
            continue
        if any(Path(path).absolute().is_relative_to(s) for s in skip):
            continue
        if any(part in ("site-packages", "dist-packages") or part.startswith(".") for part in rel.parts):
            continue
        try:
            files[rel.as_posix()] = Path(path).read_bytes()
        except OSError:
            continue
    return files


def snapshot(files: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])
    return buf.getvalue()


def capture_script(argv: list[str] | None = None, cwd: Path | None = None,
                   exclude: list[Path] | None = None) -> tuple[dict[str, Any], bytes | None]:
    """``(script_info, code_bytes)`` for the running program.

    In git: repository, branch, commit, entry point and working directory relative to the
    repository root, argv, and the diff as code. Outside git: the entry script and the local
    modules it imported, zipped, as code. Nothing under the folders of ``exclude`` (the store)
    is ever part of the code.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cwd = (cwd or Path.cwd()).absolute()
    entry, module = _main_module()
    info: dict[str, Any] = {"argv": argv, "module": module, "interactive": entry is None and module is None}
    if entry is None:
        info.update(kind="none", entry_point=None, working_dir=str(cwd))
        return info, None
    result = capture_git(entry, exclude)
    if result is not None:
        git_info, diff = result
        # git gives the real path of the top; the script may have been reached through a
        # symlinked folder. Its folder is resolved, not the file: a symlinked script stays
        # the link the checkout rebuilds.
        top = Path(git_info["local_path"]).resolve()
        info.update(git_info)
        try:
            info["entry_point"] = (entry.parent.resolve() / entry.name).relative_to(top).as_posix()
        except ValueError:
            info["entry_point"] = entry.as_posix()
        try:
            info["working_dir"] = cwd.resolve().relative_to(top).as_posix()
        except ValueError:
            info["working_dir"] = str(cwd)
        info["diff_size"] = len(diff)
        info["diff_files"] = diff_files(diff)
        if (top / ".gitmodules").is_file():
            info["submodules"] = True
            sys.stderr.write(f"localtask: {top} has git submodules: their commits and changes are not "
                             "recorded, and a worker does not check them out\n")
        return info, diff
    root = cwd if module else entry.parent
    files = local_modules(root, exclude)
    try:
        rel_entry = entry.relative_to(root).as_posix()
        files.setdefault(rel_entry, entry.read_bytes())
    except (ValueError, OSError):
        rel_entry = entry.name
        files.setdefault(rel_entry, entry.read_bytes())
    info.update(kind="files", repository=None, branch=None, commit=None, entry_point=rel_entry,
                working_dir=".", local_path=str(root), files=sorted(files))
    if cwd != root:
        try:
            info["working_dir"] = cwd.relative_to(root).as_posix()
        except ValueError:
            info["working_dir"] = str(cwd)
    return info, snapshot(files)


def diff_files(diff: bytes) -> list[str]:
    """Paths touched by a git diff, from its ``diff --git`` headers."""
    names = []
    for line in diff.split(b"\n"):
        if line.startswith(b"diff --git "):
            rest = line[len(b"diff --git "):].decode("utf-8", "replace")
            half = rest.split(" b/", 1)
            names.append(half[-1] if len(half) == 2 else rest)
    return names


# --------------------------------------------------------------------- environment
def _site_key() -> str:
    parts = [f"v{INDEX_FORMAT}"]
    # sys.path[0] is the script's own folder: it changes with every script and every file
    # written next to it, and holds no installed distributions worth a cache miss.
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(entry)
    from .packages import pip_config_files

    for conf in pip_config_files():  # the index options are cached with the distributions
        try:
            parts.append(f"{conf}:{os.stat(conf).st_mtime_ns}")
        except OSError:
            parts.append(f"{conf}:-")
    return sys.executable + "|" + "|".join(parts)


#: the layout of the cached index; bumped when it changes, so an older cache is never read
INDEX_FORMAT = 2


def _dist_index() -> dict[str, Any]:
    """Every installed distribution: name, version, install source, top-level modules; their
    requirement graph (:func:`localtask.packages.requirements_of`) and pip's config files."""
    from importlib import metadata

    from . import packages as P

    dists: dict[str, dict[str, Any]] = {}
    modules: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    graph: dict[str, dict[str, list[list[Any]]]] = {}
    for dist in metadata.distributions():
        meta = dist.metadata  # parsed on each access: read it once
        name = meta["Name"]
        if not name or P.normal(name) in names:
            continue  # the first on sys.path is the one imported, as in importlib
        names[P.normal(name)] = name
        graph[P.normal(name)] = P.requirements_of(dist, meta)
        entry: dict[str, Any] = {"name": name, "version": meta["Version"]}
        direct = dist.read_text("direct_url.json")
        if direct:
            try:
                data = json.loads(direct)
            except ValueError:
                data = {}
            url = strip_credentials(data.get("url", ""))
            if data.get("dir_info", {}).get("editable"):
                entry.update(editable=True, url=url)
            elif "vcs_info" in data:
                entry.update(url=url, vcs=data["vcs_info"].get("vcs"),
                             commit=data["vcs_info"].get("commit_id"))
            elif url.startswith("file:"):
                entry.update(url=url)
            if data.get("subdirectory") and "url" in entry:
                entry["subdirectory"] = data["subdirectory"]
        if entry.get("url", "").startswith("file:"):
            from urllib.request import url2pathname

            entry["path"] = url2pathname(urlsplit(entry["url"]).path)  # %20 is a space on disk
        dists[name] = entry
        tops = set()
        top_level = dist.read_text("top_level.txt")
        if top_level:
            tops.update(t.strip() for t in top_level.split() if t.strip())
        else:
            for file in dist.files or ():
                first = file.parts[0] if file.parts else ""
                if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
                    continue
                tops.add(first[:-3] if first.endswith(".py") else first.split(".")[0])
        tops.add(name.lower().replace("-", "_"))
        for top in tops:
            modules.setdefault(top, []).append(name)
    return {"dists": dists, "modules": modules, "names": names,
            "graph": graph,
            "pip_files": P.read_pip_files(P.pip_config_files())}


_INDEX_MEMO: dict[str, dict[str, Any]] = {}


def dist_index(cache_dir: Path | None) -> dict[str, Any]:
    """:func:`_dist_index`, cached on disk until ``sys.path`` or a site folder changes."""
    if cache_dir is None:
        return _dist_index()
    import zlib  # a cache key, not security: zlib is far cheaper to import than hashlib

    site = _site_key().encode()
    key = f"{zlib.crc32(site):08x}{zlib.adler32(site):08x}{len(site):x}"
    if key in _INDEX_MEMO:  # a worker asks once per task: read the file once per process
        return _INDEX_MEMO[key]
    path = cache_dir / f"dists-{key}.json"
    try:
        index = _INDEX_MEMO[key] = json.loads(path.read_text())
        return index
    except (OSError, ValueError):
        pass
    index = _INDEX_MEMO[key] = _dist_index()
    try:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index))
        os.replace(tmp, path)
    except OSError:
        pass
    return index


def imported_top_levels() -> frozenset[str]:
    return frozenset(name.partition(".")[0] for name in list(sys.modules))


def packages_in_use(cache_dir: Path | None = None, index: dict[str, Any] | None = None,
                    imported: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Distributions whose top-level modules this process has imported, and everything they
    require (their installed requirement closure), with exact versions. A package in the list
    only because others need it carries ``required_by`` (the names of those)."""
    from .packages import closure

    imported = imported_top_levels() if imported is None else imported
    index = index or dist_index(cache_dir)
    names = set()
    for top in imported:
        for name in index["modules"].get(top, ()):
            names.add(name)
    by_normal = index["names"]
    roots = {n: index["dists"][n] for n in names}
    needed = closure(index["graph"], [key for key, n in by_normal.items() if n in roots])
    out = []
    for key, parents in needed.items():
        name = by_normal[key]
        entry = index["dists"][name]
        if name not in roots:
            entry = {**entry, "required_by": sorted((by_normal[p] for p in parents), key=str.lower)}
        out.append(entry)
    return sorted(out, key=lambda e: e["name"].lower())


def capture_environment(cache_dir: Path | None = None) -> dict[str, Any]:
    """Python version and implementation, platform, the packages in use with their whole
    requirement closure, and the package-index options (``index``) when any is set."""
    from .packages import index_options

    imported = imported_top_levels()  # before the index: building it imports packaging
    index = dist_index(cache_dir)
    env = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "machine": os.uname().machine,
        "executable": sys.executable,
        "packages": packages_in_use(index=index, imported=imported),
    }
    options = index_options(index.get("pip_files") or [])
    if options:
        env["index"] = options
    return env
