"""Run every benchmark in sequence, print one table of their headline figures, and write it
with every report to <results-dir>/latest.md.

    python -m bench [--quick] [--only NAME ...] [--no-competitors]     (or: python bench/run.py)

Exits 1 when a benchmark could not run (a crash, a failed child); a missed target is a
figure, reported as MISSED, not a failure.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B

BENCHMARKS = ("init_overhead", "env_record", "scalars", "reports", "queue_latency", "throughput", "claims", "scale",
              "rerun", "bundles", "slurm_executor", "shared_scale")


def summary_rows(document: str) -> list[list[str]]:
    """The rows of the summary table in a benchmark's report."""
    header = B.md_table(B.SUMMARY_HEADER, []).splitlines()[0]
    rows, inside = [], False
    for line in document.splitlines():
        if line == header:
            inside = True
            continue
        if inside:
            if not line.startswith("|"):
                inside = False
            elif not line.startswith("|---"):
                rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--quick", action="store_true", help="tiny sizes (see each benchmark's --help)")
    p.add_argument("--results-dir", type=Path, default=B.RESULTS_DIR,
                   help=f"where the reports and latest.md go (default {B.RESULTS_DIR})")
    p.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                   help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    p.add_argument("--no-competitors", action="store_true",
                   help="measure localtask and the floors only (no ClearML, MLflow, huey)")
    args = p.parse_args()
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    flags = (["--results-dir", str(args.results_dir)] + (["--quick"] if args.quick else [])
             + (["--no-competitors"] if args.no_competitors else []))

    sections, summary, failed, durations = [], [], [], []
    started = datetime.datetime.now().astimezone()
    load_start, wall_start = B.loadavg(), time.perf_counter()
    for name in names:
        B.progress(f"=== {name}")
        t0, wall0 = time.time(), time.perf_counter()
        # its report goes to its file; only the one table is printed here (progress: stderr)
        proc = subprocess.run([sys.executable, str(B.BENCH_DIR / f"{name}.py"), *flags], stdout=subprocess.DEVNULL)
        took = time.perf_counter() - wall0
        durations.append(f"{name} {took:.0f} s")
        path = args.results_dir / f"{name}.md"
        fresh = path.exists() and path.stat().st_mtime >= t0 - 1
        if proc.returncode != 0 or not fresh:
            failed.append(name)
            sections.append(f"## {name}\n\nFAILED: exit code {proc.returncode} after {took:.0f} s "
                            "(see its output; no figures).\n")
            summary.append((name, "(did not run to the end)", "", "", "", "", "", "ERROR"))
            continue
        document = path.read_text(encoding="utf-8")
        sections.append(document)
        for row in summary_rows(document):
            summary.append((name, *row))

    mode = "quick (tiny sizes: checks that they run; figures mean little)" if args.quick else "full"
    verdicts = [row[-1] for row in summary]
    head = (f"# localtask benchmarks\n\n_{started.isoformat(timespec='seconds')} · mode: {mode} · "
            f"{B.machine_line()} · load average {load_start} at start, {B.loadavg()} at end · "
            f"{time.perf_counter() - wall_start:.0f} s in all ({', '.join(durations)})_\n\n"
            f"Each figure: median, min and max over the runs; a ratio or share is taken pair by pair "
            f"(runs of the same round) and then summarised. Targets: {verdicts.count('MET')} met, "
            f"{verdicts.count('MISSED')} missed, {verdicts.count('ERROR')} not measured. The sections "
            f"below give every benchmark's method and details.\n\n"
            + B.md_table(("benchmark", *B.SUMMARY_HEADER), summary) + "\n")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    latest = args.results_dir / "latest.md"
    tmp = latest.with_name(latest.name + ".tmp")
    tmp.write_text("\n\n".join([head, *sections]), encoding="utf-8")
    os.replace(tmp, latest)
    print(head)
    B.progress(f"wrote {latest}")
    if failed:
        B.progress(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
