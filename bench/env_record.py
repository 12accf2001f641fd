"""What the full dependency record costs Task.init: the packages in use with their whole
requirement closure and the index options, against the imported distributions alone.

Targets: with the distribution index cached (every run after the first in an unchanged
environment), recording the environment of a process that imported pandas and matplotlib
takes at most 5 ms (median), closure included; the first run (no cache: every
distribution's metadata and Requires-Dist read) is reported, not targeted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import benchlib as B

NAME = "env_record"
TARGET_MS = 5.0

# One process per round: the imports a training script makes, then each way of recording
# its packages, timed with perf_counter. The in-process memo is dropped before each call, so
# each call pays what a fresh Task.init pays: reading the cache file (or building it).
CHILD = """\
import json, sys, time
from pathlib import Path
for name in ("numpy", "pandas", "matplotlib", "PIL"):
    try:
        __import__(name)
    except ImportError:
        pass
from localtask import capture

cache = Path(sys.argv[1])
calls = int(sys.argv[2])

def timed(fn):
    out = []
    for _ in range(calls):
        capture._INDEX_MEMO.clear()
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return sorted(out)[len(out) // 2], result

def imported_only():
    index = capture.dist_index(cache)
    names = {n for top in capture.imported_top_levels() for n in index["modules"].get(top, ())}
    return [index["dists"][n] for n in names]

t0 = time.perf_counter()
capture._dist_index()
cold = time.perf_counter() - t0
capture.dist_index(cache)  # writes the cache file
full, env = timed(lambda: capture.capture_environment(cache))
only, pkgs = timed(imported_only)
print(json.dumps({"cold": cold, "full": full, "imported_only": only, "recorded": len(env["packages"]),
                  "imported": len(pkgs), "bytes": len(json.dumps(env)),
                  "closure_only": sorted(p["name"] for p in env["packages"] if p.get("required_by"))}))
"""


def main() -> int:
    args = B.parser(__doc__.splitlines()[0]).parse_args()
    rounds = args.repeat or (2 if args.quick else 7)
    calls = 5 if args.quick else 30
    report = B.Report(NAME, "Recording the environment: the full dependency record on Task.init's path", args)
    results = []
    with B.tempdir(NAME) as tmp_s:
        tmp = Path(tmp_s)
        env = B.isolated_env(tmp, tmp / "home")
        (tmp / "child.py").write_text(CHILD)
        for i in range(rounds):
            B.progress(f"{NAME}: round {i + 1}/{rounds}")
            cache = tmp / f"cache-{i}"
            cache.mkdir()
            out = B.run_checked([sys.executable, str(tmp / "child.py"), str(cache), str(calls)], cwd=tmp,
                                env=env).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    full = [r["full"] for r in results]
    only = [r["imported_only"] for r in results]
    extra = [a - b for a, b in zip(full, only)]
    cold = [r["cold"] for r in results]
    last = results[-1]
    report.text(f"""
        A child process imports numpy, pandas, matplotlib and Pillow (those installed), then
        records its environment {calls} times per round ({rounds} rounds; the median call of each
        round), dropping the in-process memo before each call: what a fresh `Task.init` pays with
        the distribution index cached on disk. "imported only" is the record before the closure
        (the distributions of the imported modules, no requirement walk, no index options).
        Cold: building the index from every installed distribution's metadata (once per
        environment change).
    """)
    report.measurements([
        ("capture_environment, cached index (closure + index options)", B.summary(full), B.ms),
        ("imported distributions only, cached index", B.summary(only), B.ms),
        ("the closure's extra cost (per round)", B.summary(extra), B.ms),
        ("cold: index with requirement graph, no cache", B.summary(cold), B.ms),
    ])
    report.text(f"Recorded (last round): {last['recorded']} packages, of which {last['imported']} imported "
                f"and {len(last['closure_only'])} only required ({', '.join(last['closure_only']) or 'none'}); "
                f"{last['bytes']:,} bytes of environment JSON.")
    med = B.summary(full).median
    report.summary([
        B.Line("environment record on Task.init, cached index", B.summary(full), B.ms,
               f"≤ {TARGET_MS:.0f} ms", med * 1000 <= TARGET_MS),
        B.Line("the closure's extra cost", B.summary(extra), B.ms),
        B.Line("first run in an environment (no cache)", B.summary(cold), B.ms),
    ])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
