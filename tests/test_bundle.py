"""Issue 12, items 1, 2 and 5: bundles move tasks between stores (``localtask export`` /
``import``), and every bad bundle is refused with the target store unchanged.

Real parts only: a git repository made here with an uncommitted edit and an untracked file, a
task recorded by a real script into store A, bundles written by the real export, imports into
other stores, the original repository moved away, real worker processes rebuilding the code
there (inside a network namespace for the wheels test).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from conftest import init_repo, run_script, task_id_of, write_files
from helpers_worker import LOCALTASK_CLI, child_env
from localtask import BundleError, BundleVersionError, Store, StoreFullError, export_tasks, import_bundle

TRAIN = """
import os
import tqdm  # a recorded package, so that the bundle has a wheel to carry
from extra import factor
from localtask import Task

task = Task.init(project_name="air", task_name="train")
params = {"lr": 0.1}
task.connect(params)
print("lr", params["lr"], "result", params["lr"] * factor, "edited")
for i in range(20):
    task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
if os.environ.get("BLOB"):  # the recording run only: environment variables are not recorded
    task.upload_artifact("blob", os.environ["BLOB"])
    task.upload_artifact("poids du modèle #1", {"a": 1})  # a name with spaces and accents
print("TASK_ID=" + task.id)
"""


def cli(*args: str, home: Path, cwd: Path | None = None, netns: bool = False) -> subprocess.CompletedProcess:
    cmd = [*LOCALTASK_CLI, "--home", str(home), *args]
    return subprocess.run((["unshare", "-n"] if netns else []) + cmd, env=child_env(home), cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(repo, store A, task id, bundle with outputs): a task recorded with an uncommitted edit
    and an untracked file, exported once."""
    root = tmp_path_factory.mktemp("source")
    repo = init_repo(root / "repo", {"train.py": textwrap.dedent(TRAIN).replace("edited", "committed")})
    # uncommitted: an edit, an untracked module, and an untracked file large enough (300 kB) for
    # the diff to be kept as a blob file of the store
    write_files(repo, {"train.py": textwrap.dedent(TRAIN), "extra.py": "factor = 10\n",
                       "data.txt": os.urandom(150_000).hex()})
    blob = root / "blob.bin"
    blob.write_bytes(os.urandom(2 << 20))
    home_a = root / "a"
    task_id = task_id_of(run_script(repo / "train.py", home=home_a, env={"BLOB": str(blob)}))
    bundle = root / "one.ltb"
    export_tasks([task_id[:8]], output=bundle, with_outputs=True, home=home_a)
    return repo, home_a, task_id, bundle


def snapshot(home: Path) -> dict:
    """Every row of every table, and every file (but the database's own) with its hash."""
    conn = sqlite3.connect(str(home / "localtask.db"))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in tables}
    finally:
        conn.close()
    files = {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(home.rglob("*")) if p.is_file() and not p.name.startswith("localtask.db")
             and not p.name.endswith(".lock")}
    return {"rows": rows, "files": files}


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def write_members(out: Path, parts: dict[str, bytes], recompute: bool = True) -> Path:
    """A bundle from ``parts`` (format.json first, manifest last), the manifest's checksums
    made to fit them when ``recompute``: a bundle that is consistent, but altered."""
    manifest = json.loads(parts["manifest.json"])
    if recompute:
        manifest["members"] = {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                               for n, d in parts.items() if n != "manifest.json"}
    parts = {**parts, "manifest.json": json.dumps(manifest).encode()}
    order = ["format.json"] + [n for n in parts if n not in ("format.json", "manifest.json")] + ["manifest.json"]
    with tarfile.open(out, "w") as tar:
        for name in order:
            info = tarfile.TarInfo(name)
            info.size = len(parts[name])
            tar.addfile(info, io.BytesIO(parts[name]))
    return out


def test_import_keeps_ids_and_content_and_a_second_import_changes_nothing(source, tmp_path):
    _, home_a, task_id, bundle = source
    home_b = tmp_path / "b"
    report = import_bundle(bundle, home=home_b)
    assert report.imported == [task_id] and report.commits == 1 and not report.conflicts
    a, b = Store.open(home_a), Store.open(home_b)
    assert b.fingerprints([task_id], True) == a.fingerprints([task_id], True)
    assert b.get_scalars(task_id) == a.get_scalars(task_id) and len(b.get_scalars(task_id)) == 20
    assert b.get_parameters(task_id) == a.get_parameters(task_id)
    assert b.get_code(task_id) == a.get_code(task_id) and b"extra.py" in b.get_code(task_id)
    assert b.code_refs([task_id]) == a.code_refs([task_id]) != []  # the large diff's blob came along
    assert [a["name"] for a in b.get_artifacts(task_id)] == ["blob", "poids du modèle #1"]
    for artifact in b.get_artifacts(task_id):
        stored = b.tasks_dir / task_id / "artifacts" / artifact["filename"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == artifact["sha256"]
    assert b.console_path(task_id).read_text() == a.console_path(task_id).read_text()

    before = snapshot(home_b)
    again = import_bundle(bundle, home=home_b)
    assert again.unchanged == [task_id] and not again.changed
    assert snapshot(home_b) == before


def test_a_task_changed_here_is_reported_and_skipped_unless_replace(source, tmp_path):
    _, home_a, task_id, bundle = source
    home_b = tmp_path / "b"
    import_bundle(bundle, home=home_b)
    b = Store.open(home_b)
    b.update_task(task_id, comment="edited in the lab")
    before = snapshot(home_b)
    report = import_bundle(bundle, home=home_b)
    assert list(report.conflicts) == [task_id] and "--replace" in report.conflicts[task_id]
    assert snapshot(home_b) == before

    proc = ok(cli("import", str(bundle), home=home_b))
    assert "skipped 1" in proc
    replaced = import_bundle(bundle, home=home_b, replace=True)
    assert replaced.replaced == [task_id]
    assert b.get_task(task_id)["comment"] == ""
    assert b.fingerprints([task_id], True) == Store.open(home_a).fingerprints([task_id], True)
    assert b.count_scalars(task_id) == 20  # replaced, not added twice


def test_export_refuses_no_selection_and_running_tasks(source, tmp_path):
    _, home_a, task_id, _ = source
    with pytest.raises(BundleError, match="Name the tasks"):
        export_tasks(output=tmp_path / "x.ltb", home=home_a)
    with pytest.raises(BundleError, match="No task matches"):
        export_tasks(project="no such project", output=tmp_path / "x.ltb", home=home_a)
    refused = cli("export", "--status", "completed", "--tag", "no-such-tag", "-o", str(tmp_path / "x.ltb"),
                  home=home_a)
    assert refused.returncode == 1 and refused.stderr.startswith("Error: No task matches"), refused.stderr
    out = ok(cli("export", "--project", "air", "--status", "completed", "-o", str(tmp_path / "f.bundle"),
                 home=home_a))
    assert "1 task(s), 1 commit(s), 0 wheel(s)" in out
    assert list(json.loads(members(tmp_path / "f.bundle")["manifest.json"])["tasks"]) == [task_id]
    (tmp_path / "f.bundle").unlink()
    out = ok(cli("clone", task_id, "--queue", "default", home=home_a))
    clone = next(w for w in out.split() if len(w) == 32)
    with pytest.raises(BundleError, match="still queued or running"):
        export_tasks([clone], output=tmp_path / "x.ltb", home=home_a)
    assert not list(tmp_path.glob("*.ltb")) and not list(tmp_path.glob(".*"))
    ok(cli("delete", clone, "-y", "--force", home=home_a))


def test_a_bundle_of_an_older_schema_imports_and_a_second_import_is_a_no_op(source, tmp_path):
    """A bundle from schema 1 (no ``archived`` column, no reports or model tables): the rows go
    in with the defaults of the newer columns, and the comparison uses the bundle's columns."""
    _, home_a, task_id, bundle = source
    parts = members(bundle)
    db = tmp_path / "old.db"
    db.write_bytes(parts["tasks.db"])
    conn = sqlite3.connect(str(db))
    conn.execute("ALTER TABLE tasks DROP COLUMN archived")
    for table in ("plots", "samples", "single_values", "models", "task_models"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    columns = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
    conn.close()
    parts["tasks.db"] = db.read_bytes()
    fmt = json.loads(parts["format.json"])
    parts["format.json"] = json.dumps({**fmt, "schema_version": 1}).encode()
    manifest = json.loads(parts["manifest.json"])
    manifest["fingerprints"] = Store.open(home_a).fingerprints([task_id], True, columns)
    parts["manifest.json"] = json.dumps(manifest).encode()
    old = write_members(tmp_path / "old.ltb", parts)
    home_b = tmp_path / "b"
    assert import_bundle(old, home=home_b).imported == [task_id]
    b = Store.open(home_b)
    assert b.get_task(task_id)["archived"] == 0 and b.count_scalars(task_id) == 20
    assert import_bundle(old, home=home_b).unchanged == [task_id]


def _truncated(bundle: Path, out: Path) -> Path:
    out.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    return out


def _tampered(bundle: Path, out: Path) -> Path:
    parts = members(bundle)
    name = next(n for n in parts if n.endswith("console.log"))
    parts[name] = parts[name].replace(b"0.1", b"0.9")
    return write_members(out, parts, recompute=False)


def _newer(bundle: Path, out: Path) -> Path:
    parts = members(bundle)
    fmt = json.loads(parts["format.json"])
    parts["format.json"] = json.dumps({**fmt, "schema_version": fmt["schema_version"] + 1}).encode()
    return write_members(out, parts)


def _without_commits(bundle: Path, out: Path) -> Path:
    parts = {n: d for n, d in members(bundle).items() if not n.startswith("git/")}
    manifest = json.loads(parts["manifest.json"])
    manifest["repos"] = {}
    parts["manifest.json"] = json.dumps(manifest).encode()
    return write_members(out, parts)


def _escaping(bundle: Path, out: Path) -> Path:
    parts = members(bundle)
    parts["tasks/../../escaped.txt"] = b"outside the staging folder"
    return write_members(out, parts)


def _not_a_bundle(bundle: Path, out: Path) -> Path:
    out.write_bytes(b"PK\x03\x04 a zip, not a bundle" * 100)
    return out


@pytest.mark.parametrize("make, error, words", [
    (_truncated, BundleError, "truncated or damaged"),
    (_tampered, BundleError, "checksum differs: tasks/"),
    (_newer, BundleVersionError, "newer localtask"),
    (_without_commits, BundleError, "lacks commit(s)"),
    (_not_a_bundle, BundleError, "truncated or damaged"),
    (_escaping, BundleError, "not a plain relative path"),
], ids=["truncated", "tampered", "newer-store", "commits-missing", "not-a-bundle", "path-escape"])
def test_a_bad_bundle_gets_its_error_and_the_store_is_unchanged(source, tmp_path, make, error, words):
    _, _, task_id, bundle = source
    home_b = tmp_path / "b"
    Store.open(home_b)
    bad = make(bundle, tmp_path / "bad.ltb")
    before = snapshot(home_b)
    with pytest.raises(error) as caught:
        import_bundle(bad, home=home_b)
    assert words in str(caught.value) and "Nothing was imported" in str(caught.value), caught.value
    assert snapshot(home_b) == before
    proc = cli("import", str(bad), home=home_b)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr
    assert import_bundle(bundle, home=home_b).imported == [task_id]  # the good one still goes in


def test_a_disk_that_fills_during_import_leaves_the_store_unchanged(source, tmp_path):
    """The child may not write a file past 1 MiB (``ulimit -f``): the 2 MiB artifact does not fit."""
    _, _, task_id, bundle = source
    home_b = tmp_path / "b"
    Store.open(home_b)
    before = snapshot(home_b)
    code = textwrap.dedent(f"""
        import resource, signal
        from localtask import Store, StoreFullError, import_bundle
        Store.open({str(home_b)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        try:
            import_bundle({str(bundle)!r}, home={str(home_b)!r})
        except StoreFullError as exc:
            print("FULL", exc)
        """)
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(home_b), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("FULL "), proc.stdout + proc.stderr
    assert "File too large" in proc.stdout and str(home_b) in proc.stdout and "Nothing was imported" in proc.stdout
    assert snapshot(home_b) == before
    assert import_bundle(bundle, home=home_b).imported == [task_id]


def test_a_full_disk_during_import_leaves_the_store_unchanged(source, tmp_path):
    """The store on a 6 MiB tmpfs filled up to its last megabyte: the 2 MiB artifact does not fit."""
    from helpers_robust import fill_disk, small_tmpfs

    _, _, task_id, bundle = source
    with small_tmpfs(tmp_path / "fs", "6m") as fs:
        home_b = fs / "home"
        Store.open(home_b)
        before = snapshot(home_b)
        filler = fill_disk(fs, leave=1 << 20)
        with pytest.raises(StoreFullError) as caught:
            import_bundle(bundle, home=home_b)
        message = str(caught.value)
        assert "No space left on device" in message and str(home_b) in message, message
        assert "Nothing was imported" in message and "free space" in message, message
        assert snapshot(home_b) == before
        assert not list((home_b / "cache" / "imports").iterdir())  # no staging left behind
        filler.unlink()
        assert import_bundle(bundle, home=home_b).imported == [task_id]


def test_a_failed_transaction_puts_the_moved_files_back(source, tmp_path, monkeypatch):
    """Another process holds the store's write lock past the busy timeout: the rows cannot be
    written after the files were renamed into place, and the renames are undone."""
    from localtask import StoreLockedError

    _, _, task_id, bundle = source
    home_b = tmp_path / "b"
    monkeypatch.setenv("LOCALTASK_BUSY_TIMEOUT", "0.3")
    Store.open(home_b)
    before = snapshot(home_b)
    holder = sqlite3.connect(str(home_b / "localtask.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError):
            import_bundle(bundle, home=home_b)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert snapshot(home_b) == before
    assert not (home_b / "tasks" / task_id).exists() and not (home_b / "cache" / "wheels").exists()
    assert not list((home_b / "cache" / "repos").glob("*.git"))
    assert import_bundle(bundle, home=home_b).imported == [task_id]


@pytest.mark.slow
def test_the_lab_rebuilds_and_runs_the_task_without_the_repository(source, tmp_path):
    repo, _, task_id, bundle = source
    home_b = tmp_path / "b"
    ok(cli("import", str(bundle), home=home_b))
    hidden = repo.with_name("repo.away")
    repo.rename(hidden)  # neither the remote (there is none) nor the original repository
    try:
        out = ok(cli("clone", task_id[:8], "--set", "General/lr=0.5", "--queue", "default", home=home_b))
        clone_id = next(w for w in out.split() if len(w) == 32)
        ok(cli("worker", "--burst", "--quiet", home=home_b))
        store = Store.open(home_b)
        assert store.get_task(clone_id)["status"] == "completed", ok(cli("log", clone_id, home=home_b))
        assert "lr 0.5 result 5.0 edited" in store.console_path(clone_id).read_text()
    finally:
        hidden.rename(repo)


def _netns_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


@pytest.mark.slow
def test_an_offline_lab_runs_the_task_in_a_venv_from_the_bundles_wheels(source, tmp_path):
    if not _netns_works():
        pytest.skip("unshare -n (a network namespace) is not permitted here: needs root or user namespaces")
    repo, home_a, task_id, _ = source
    bundle = tmp_path / "wheels.ltb"
    out = ok(cli("export", task_id, "--wheels", "-o", str(bundle), home=home_a))
    assert "wheel(s)" in out and "0 wheel(s)" not in out
    wheels = {n: d for n, d in members(bundle).items() if n.startswith("wheels/")}
    assert any(n.startswith("wheels/tqdm-") for n in wheels)
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    for name, data in wheels.items():
        (folder / name.split("/")[1]).write_bytes(data)
    again = tmp_path / "from-folder.ltb"  # the same wheels out of a local folder, with no network
    ok(cli("export", task_id, "--wheels-from", str(folder), "-o", str(again), home=home_a, netns=True))
    assert sorted(n for n in members(again) if n.startswith("wheels/")) == sorted(wheels)
    home_b = tmp_path / "b"
    ok(cli("import", str(bundle), home=home_b, netns=True))
    hidden = repo.with_name("repo.away")
    repo.rename(hidden)
    try:
        out = ok(cli("clone", task_id[:8], "--queue", "default", home=home_b))
        clone_id = next(w for w in out.split() if len(w) == 32)
        ok(cli("worker", "--burst", "--quiet", "--env", "venv", home=home_b, netns=True))
        console = Store.open(home_b).console_path(clone_id).read_text()
        assert Store.open(home_b).get_task(clone_id)["status"] == "completed", console
        assert f"--no-index --find-links {home_b / 'cache' / 'wheels'}" in console, console
        assert "lr 0.1 result 1.0 edited" in console
    finally:
        hidden.rename(repo)


@pytest.mark.slow
def test_an_offline_lab_reproduces_an_imported_run_identically(source, tmp_path):
    """The issue's whole path: a run with uncommitted changes and packages, exported with its
    outputs and wheels, imported into a store with no network, re-run there by `localtask
    reproduce` in a venv from the bundle's wheels alone: identical, aspect by aspect."""
    if not _netns_works():
        pytest.skip("unshare -n (a network namespace) is not permitted here: needs root or user namespaces")
    repo, home_a, _, _ = source
    task_id = task_id_of(run_script(repo / "train.py", home=home_a))
    bundle = tmp_path / "run.ltb"
    ok(cli("export", task_id, "--with-outputs", "--wheels", "-o", str(bundle), home=home_a))
    home_b = tmp_path / "lab"
    ok(cli("import", str(bundle), home=home_b, netns=True))
    assert "unchanged 1" in ok(cli("import", str(bundle), home=home_b, netns=True))
    hidden = repo.with_name("repo.away")
    repo.rename(hidden)
    try:
        mark = json.loads(ok(cli("reproduce", task_id[:8], "--json", home=home_b, netns=True)))
        ok(cli("worker", "--burst", "--quiet", "--env", "venv", home=home_b, netns=True))
        shown = ok(cli("show", mark["task_id"], "--json", home=home_b, netns=True))
    finally:
        hidden.rename(repo)
    verdict = json.loads(shown)["reproduction"]
    assert verdict["verdict"] == "identical", json.dumps(verdict, indent=1)
    assert [a["aspect"] for a in verdict["details"]["aspects"]][:3] == ["status", "code", "parameters"]


def test_gc_removes_the_staging_folder_of_a_killed_import(tmp_path):
    from localtask import leftovers

    store = Store.open(tmp_path / "b")
    staging = store.cache_dir / "imports" / "import-0123"
    (staging / "files").mkdir(parents=True)
    (staging / "files" / "tasks.db").write_bytes(b"half")
    assert leftovers.sweep(store).temp_files == []  # young: an import may be running
    os.utime(staging, (0, 0))
    assert leftovers.sweep(store).temp_files == [staging]
    assert not staging.exists()


def test_progress_bars_are_drawn_when_asked(source, tmp_path, capsys):
    _, home_a, task_id, _ = source
    export_tasks([task_id], output=tmp_path / "p.ltb", with_outputs=True, home=home_a, progress=True)
    import_bundle(tmp_path / "p.ltb", home=tmp_path / "b", progress=True)
    err = capsys.readouterr().err
    assert "export" in err and "unpack" in err and "B/s" in err, err


def test_export_of_a_task_whose_commit_is_nowhere_is_refused(tmp_path):
    store = Store.open(tmp_path / "a")
    store.insert_task({"id": "ab" * 16, "project": "p", "name": "lost", "status": "completed",
                       "script": {"kind": "git", "repository": str(tmp_path / "gone"), "commit": "cd" * 20,
                                  "entry_point": "train.py"}})
    with pytest.raises(BundleError, match="cannot be found") as caught:
        export_tasks(["abab"], output=tmp_path / "x.ltb", home=tmp_path / "a")
    assert "ab" * 16 in str(caught.value) and "No bundle was written" in str(caught.value)
    assert not (tmp_path / "x.ltb").exists() and not list(tmp_path.glob(".localtask-export-*"))
