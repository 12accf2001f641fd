"""Re-run cost: what a worker pays before a task's process starts, the second time.

1. Code: `localtask.runner.rebuild` of a task recorded in a repository of 1,000 files (one
   changed, one untracked) into a fresh working copy, the repository mirror already cached;
   against copying the same 1,000 files with shutil.copytree (no git: the floor of writing them).
2. Environment: a second `environment.ensure_venv` of the same package list (what
   `--env venv` does for each task), which must reuse the environment and install nothing.
Targets: rebuild under 1 s; environment reuse under 0.5 s.
"""
from __future__ import annotations

import base64
import hashlib
import shutil
import sys
import time
import zipfile
from pathlib import Path

import benchlib as B

NAME = "rerun"
TARGET_REBUILD = 1.0
TARGET_REUSE = 0.5
PACKAGE, VERSION = "localtask_bench_pkg", "1.0"

RECORD_SCRIPT = """\
from localtask import Task

task = Task.init(project_name="bench", task_name="rerun")
task.close()
print("TASK_ID=" + task.id)
"""
CHANGED, UNTRACKED = "src/pkg00/mod00.py", "notes/untracked.txt"


def repo_files(count: int) -> dict[str, str]:
    """``count`` files: packages of 20 modules of a few hundred bytes, and the entry point."""
    files = {".gitignore": "__pycache__/\n", "run.py": RECORD_SCRIPT}
    for k in range(count - len(files)):
        files[f"src/pkg{k // 20:02d}/mod{k % 20:02d}.py"] = (
            f'"""Module {k}."""\n\n\ndef f{k}(x):\n    return x * {k}\n' + "# padding\n" * 20)
    return files


def make_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel of PACKAGE, so that the environment builds offline."""
    folder.mkdir()
    dist = f"{PACKAGE}-{VERSION}"
    path = folder / f"{dist}-py3-none-any.whl"
    entries = {
        f"{PACKAGE}/__init__.py": "VALUE = 1\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: localtask-bench\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            data = text.encode()
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        zf.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return folder


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    n_files = 100 if args.quick else 1_000
    pairs = args.repeat or (3 if args.quick else 10)
    report = B.Report(NAME, f"Re-run cost: code rebuild ({n_files:,} files, cached mirror) and "
                            "environment reuse", args)
    times: dict[str, list[float]] = {"rebuild": [], "copy": [], "reuse": []}
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        env = B.isolated_env(tmp, home)
        files = repo_files(n_files)
        repo = B.make_repo(tmp / "repo", files, env)
        (repo / CHANGED).write_text(files[CHANGED] + "CHANGED = True\n")
        (repo / UNTRACKED).parent.mkdir()
        (repo / UNTRACKED).write_text("untracked\n")
        out = B.run_checked([sys.executable, "run.py"], cwd=repo, env=env).stdout
        task_id = out.strip().split("TASK_ID=")[-1]

        from localtask import Store, environment, runner

        store = Store.open(home)
        row = store.get_task(task_id)
        messages: list[str] = []
        say = messages.append

        def rebuild() -> tuple[float, Path]:
            workdir = runner.make_workdir(store, task_id)
            t0 = time.perf_counter()
            run_dir = runner.rebuild(store, task_id, row["script"], workdir, say)
            return time.perf_counter() - t0, run_dir

        B.progress(f"{NAME}: first rebuild (clones the mirror)")
        first_rebuild, run_dir = rebuild()
        if (run_dir / CHANGED).read_text() != (repo / CHANGED).read_text() or not (run_dir / UNTRACKED).exists():
            raise B.BenchError("the rebuilt working copy lacks the recorded change:\n" + "\n".join(messages))
        rebuilt_files = sum(1 for p in run_dir.rglob("*") if p.is_file() and ".git" not in p.parts)
        runner.remove_workdir(run_dir)
        for i, order in B.rotations(["rebuild", "copy"], pairs):
            B.progress(f"{NAME}: rebuild pair {i + 1}/{pairs}")
            for side in order:
                if side == "rebuild":
                    seconds, run_dir = rebuild()
                    runner.remove_workdir(run_dir)
                else:
                    target = tmp / f"copy-{i}"
                    t0 = time.perf_counter()
                    shutil.copytree(repo, target, ignore=shutil.ignore_patterns(".git"))
                    seconds = time.perf_counter() - t0
                    shutil.rmtree(target)
                times[side].append(seconds)

        wheels = make_wheel(tmp / "wheels")
        recorded = dict(row["environment"], packages=[{"name": PACKAGE, "version": VERSION}])
        B.progress(f"{NAME}: building the environment once (venv + offline install)")
        messages.clear()
        t0 = time.perf_counter()
        python = environment.ensure_venv(store, recorded, say, wheels=str(wheels))
        first_env = time.perf_counter() - t0
        B.run_checked([python, "-c", f"import {PACKAGE}"], cwd=tmp, env=env)
        for i in range(pairs):
            messages.clear()
            t0 = time.perf_counter()
            again = environment.ensure_venv(store, recorded, say, wheels=str(wheels))
            times["reuse"].append(time.perf_counter() - t0)
            if again != python or any("building" in m or "$ " in m for m in messages):
                raise B.BenchError("the second ensure_venv did not simply reuse the environment:\n"
                                   + "\n".join(messages))

    share = B.pairwise(times["rebuild"], times["copy"], lambda a, b: a / b)
    report.text(f"""
        A repository of {len(files):,} committed files, one of them changed and one untracked
        file added, recorded once by `Task.init`. Rebuild: `runner.rebuild` into a fresh
        `runner.make_workdir` (a git working copy borrowing the cached mirror's objects, checkout
        of the recorded commit, `git apply` of the recorded diff); the first one, which clones the
        mirror, took {B.ms(first_rebuild)} and is not counted; {rebuilt_files:,} files in the
        working copy. Floor: `shutil.copytree` of the same working tree without `.git`, in
        alternating pairs. Environment: `environment.ensure_venv` with a one-package list (a
        wheel built here, installed offline with `--no-index --find-links`): the first call built
        it in {B.ms(first_env)} (not counted), then {pairs} calls that must say they reuse it and
        run no command.
    """)
    report.measurements([
        ("rebuild: runner.rebuild (cached mirror)", B.summary(times["rebuild"]), B.ms),
        ("floor: shutil.copytree of the working tree", B.summary(times["copy"]), B.ms),
        ("rebuild ÷ floor (per pair)", B.summary(share), B.times),
        ("environment reuse: second ensure_venv", B.summary(times["reuse"]), B.ms),
    ])
    rebuild_med, reuse_med = B.summary(times["rebuild"]).median, B.summary(times["reuse"]).median
    report.summary([
        B.Line(f"rebuild of a {n_files:,}-file repository, cached mirror", B.summary(times["rebuild"]), B.ms,
               f"< {TARGET_REBUILD:g} s", rebuild_med < TARGET_REBUILD),
        B.Line(f"floor: copying the {n_files:,} files", B.summary(times["copy"]), B.ms),
        B.Line("rebuild ÷ floor (per pair)", B.summary(share), B.times),
        B.Line("environment reuse (`--env venv`, same packages): ensure_venv", B.summary(times["reuse"]), B.ms,
               f"< {TARGET_REUSE:g} s", reuse_med < TARGET_REUSE),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
