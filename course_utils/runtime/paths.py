"""The repository's folders, found from this file once (every other module imports them from here)."""

from __future__ import annotations

from pathlib import Path

#: The installed package folder (``course_utils/``).
PACKAGE = Path(__file__).resolve().parent.parent
#: The repository (or bundle) root that holds the package, ``data/``, ``figs/``, ``notebooks/`` and ``results/``.
ROOT = PACKAGE.parent
DATA_DIR = ROOT / "data"
FIGS_DIR = ROOT / "figs"
RESULTS_DIR = ROOT / "results"
NOTEBOOKS_DIR = ROOT / "notebooks"
