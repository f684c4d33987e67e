"""The import contracts of pyproject.toml [tool.importlinter] hold, and each one fails on a deliberate violation.

The contracts: subpackages form layers; the teaching subpackages never import grading, publish or runs; grading
imports only exercises and runtime; the exercise engine never imports exercise content; no import cycles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {c["id"]: c["name"] for c in
             tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]}
#: contract id -> (module file, an import line that breaks it)
VIOLATIONS = {
    "layers": ("runtime/paths.py", "import course_utils.memory.estimate"),
    "teaching": ("display/diagrams.py", "import course_utils.runs.stored"),
    "grading": ("grading/rows.py", "import course_utils.memory.estimate"),
    "engine": ("exercises/engine.py", "import course_utils.exercises.s2"),
    "acyclic": ("quant/nf4.py", "import course_utils.quant.nf4_fast"),
}


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    """`lint-imports` in `root` (its pyproject.toml), importing the course_utils found there first."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo", *(a for c in contracts for a in ("--contract", c))]
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_every_contract_is_exercised():
    assert set(VIOLATIONS) == set(CONTRACTS)


def test_the_package_keeps_its_contracts():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in run.stdout


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_violation_breaks_the_contract(contract, tmp_path):
    shutil.copytree(ROOT / "course_utils", tmp_path / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    kept = lint_imports(tmp_path, contract)
    assert kept.returncode == 0, kept.stdout + kept.stderr  # the copy keeps it ...
    module, line = VIOLATIONS[contract]
    path = tmp_path / "course_utils" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # deliberate violation\n", encoding="utf-8")
    broken = lint_imports(tmp_path, contract)
    assert broken.returncode != 0  # ... until the violating import is added
    assert f"{CONTRACTS[contract]} BROKEN" in broken.stdout, broken.stdout
    assert line.rsplit(".", 1)[-1] in broken.stdout, broken.stdout  # the report names the import
