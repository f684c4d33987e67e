"""The code is ruff-clean (the same check contributors run)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    targets = [p for p in ("course_utils", "tests", "benchmarks", "data") if (ROOT / p).exists()]
    run = subprocess.run([sys.executable, "-m", "ruff", "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


MAX_MODULE_LINES = 400


def test_every_module_stays_small():
    """One idea per module: no course_utils module grows past the house limit."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "course_utils").rglob("*.py")}
    assert sizes and {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
