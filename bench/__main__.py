"""``python -m bench``: every benchmark, one table, bench/results/latest.md (see run.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402

sys.exit(run.main())
