"""The code is ruff-clean (the same check contributors run)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    targets = [p for p in ("course_utils", "tests", "benchmarks", "data") if (ROOT / p).exists()]
    run = subprocess.run([sys.executable, "-m", "ruff", "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
