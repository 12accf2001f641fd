"""The benchmarks run at tiny sizes and print their tables. No figure is asserted: timings
belong in the benchmark reports (bench/results/), never in test assertions.

The competitors (ClearML, MLflow, huey) are measured only where `pip install -e ".[bench]"`
put them; without them their rows say "not installed" and the scripts still succeed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
BENCH = PROJECT / "bench"
BENCHMARKS = ["bundles", "claims", "env_record", "init_overhead", "queue_latency", "reports", "rerun", "scalars",
              "scale", "shared_scale", "slurm_executor", "throughput"]
HELPERS = {"__init__", "__main__", "benchlib", "competitors", "run"}
MEASUREMENT_HEADER = "| measurement | median | min | max | runs |"
SUMMARY_HEADER = "| measurement | median | min | max | runs | target | verdict |"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=900, cwd=PROJECT)


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def test_every_benchmark_script_is_listed():
    scripts = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in HELPERS)
    assert scripts == BENCHMARKS
    run_py = (BENCH / "run.py").read_text()
    for name in BENCHMARKS:
        assert f'"{name}"' in run_py


def test_summary_line_verdicts():
    sys.path.insert(0, str(BENCH))
    try:
        import benchlib as B
    finally:
        sys.path.remove(str(BENCH))
    s = B.summary([3.0, 1.0, 2.0])
    assert B.Line("x", s, str, "≤ 2", True).cells() == ("x", "2.0", "1.0", "3.0", "3", "≤ 2", "MET")
    assert B.Line("x", s, str, "≤ 1", False).cells()[-1] == "MISSED"
    assert B.Line("x", None, str, "≤ 1", None, note="not installed").cells() == (
        "x (not installed)", "—", "—", "—", "0", "≤ 1", "ERROR")
    assert B.Line("x", s, str).cells()[-2:] == ("—", "")
    assert B.Line("x", None, str, "yes", True, text="yes").cells()[1:] == ("yes", "—", "—", "1", "yes", "MET")


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_run_prints_its_tables(name, tmp_path):
    proc = _run(str(BENCH / f"{name}.py"), "--quick", "--results-dir", str(tmp_path))
    assert proc.returncode == 0, _explain(proc)
    assert MEASUREMENT_HEADER in proc.stdout, _explain(proc)
    assert SUMMARY_HEADER in proc.stdout, _explain(proc)
    written = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
    assert MEASUREMENT_HEADER in written and SUMMARY_HEADER in written
    assert "ERROR" not in written.split("**Summary**")[-1] or "not installed" in written, written
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_python_m_bench_gathers_the_reports_into_one_table(tmp_path):
    proc = _run("-m", "bench", "--quick", "--only", "scalars", "--only", "rerun", "--no-competitors",
                "--results-dir", str(tmp_path))
    assert proc.returncode == 0, _explain(proc)
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    header = "| benchmark | measurement | median | min | max | runs | target | verdict |"
    assert header in latest and header in proc.stdout
    assert "\n| scalars | localtask report_scalar" in latest
    assert "\n| rerun | rebuild of a" in latest
    assert "not run: --no-competitors" in latest
    assert MEASUREMENT_HEADER in latest
