"""The benchmarks run at tiny sizes and print their tables. No figure is asserted: timings
belong in the benchmark reports (bench/results/), never in test assertions."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
BENCHMARKS = ["init_overhead", "queue_latency", "scalars", "throughput"]
MEASUREMENT_HEADER = "| measurement | median | min | max | runs |"
TARGET_HEADER = "| target | required | measured | verdict |"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=600)


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def test_every_benchmark_script_is_listed():
    scripts = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in ("benchlib", "run"))
    assert scripts == BENCHMARKS
    run_py = (BENCH / "run.py").read_text()
    for name in BENCHMARKS:
        assert f'"{name}"' in run_py


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_run_prints_its_tables(name, tmp_path):
    proc = _run(str(BENCH / f"{name}.py"), "--quick", "--results-dir", str(tmp_path))
    assert proc.returncode == 0, _explain(proc)
    assert MEASUREMENT_HEADER in proc.stdout, _explain(proc)
    assert TARGET_HEADER in proc.stdout, _explain(proc)
    written = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
    assert MEASUREMENT_HEADER in written and TARGET_HEADER in written
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_run_py_gathers_the_reports_into_latest(tmp_path):
    proc = _run(str(BENCH / "run.py"), "--quick", "--only", "scalars", "--results-dir", str(tmp_path))
    assert proc.returncode == 0, _explain(proc)
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| benchmark | target | required | measured | verdict |" in latest
    assert "\n| scalars | " in latest
    assert MEASUREMENT_HEADER in latest
