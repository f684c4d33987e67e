"""Committed notebooks: outputs only in nbval reference cells, Korean prose, the Colab badge and setup cells first."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.colab import badge_cell_source, configured_repo, setup_cell_source

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_the_series_starts_at_00():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_only_in_reference_cells(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tagged = "keep_output" in cell.metadata.get("tags", [])
        checked = cell.source.startswith(CHECK_MARK)
        where = f"{path.name} cell {index}"
        assert tagged == checked, f"{where}: '{CHECK_MARK}' and the keep_output tag go together"
        if checked:
            assert cell.outputs and cell.execution_count, f"{where}: reference cell committed without output"
        else:
            assert not cell.outputs, f"{where}: output committed (run `make strip`)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_korean_prose_and_setup_first(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and all(HANGUL.search(text) for text in markdown[:3])
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "setup(" in code[1], f"{path.name}: the code cell after the Colab setup cell must call setup()"
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "assert " in sources, f"{path.name} asserts none of its key numbers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_setup_cell_come_first(path):
    nb = nbformat.read(path, as_version=4)
    repo, fix = configured_repo(), "run `make colab` (python -m course_utils.colab)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == badge_cell_source(repo, path.name), \
        f"{path.name}: cell 0 is not the Open-in-Colab badge for {repo}: {fix}"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == setup_cell_source(repo), f"{path.name}: first code cell is not the setup cell: {fix}"
