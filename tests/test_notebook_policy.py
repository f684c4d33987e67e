"""Committed notebooks: outputs only in nbval reference cells, Korean prose, the Colab badge and setup cells first."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.publish.colab import badge_cell_source, configured_repo, setup_cell_source

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
    repo, fix = configured_repo(), "run `make colab` (python -m course_utils colab)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == badge_cell_source(repo, path.name), \
        f"{path.name}: cell 0 is not the Open-in-Colab badge for {repo}: {fix}"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == setup_cell_source(repo), f"{path.name}: first code cell is not the setup cell: {fix}"


SHOWN_LIMIT = 60  # lines: what a student reads on one screen (LLMs-from-scratch's LoRALayer is 12)
SHOW_CALL = re.compile(r"show_source\(([\w.]+)\)")
PRIVATE_ATTRIBUTE = re.compile(r"\b\w+\._(?!_)\w+")


def _imports(code: str) -> dict[str, object]:
    """The names the notebook's `from course_utils... import ...` lines bind, imported for real."""
    import ast
    import importlib

    names: dict[str, object] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                names[alias.asname or alias.name] = value if value is not None else importlib.import_module(
                    f"{node.module}.{alias.name}")
    return names


def _code_without_magics(nb) -> str:
    """All code cells joined, shell/magic lines dropped so the text parses as Python."""
    lines = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
             if not line.lstrip().startswith(("!", "%"))]
    return "\n".join(lines)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shown_code_is_public_and_teaching_sized(path):
    import inspect

    code = _code_without_magics(nbformat.read(path, as_version=4))
    namespace = _imports(code)
    for expression in SHOW_CALL.findall(code):
        assert not any(part.startswith("_") for part in expression.split(".")), f"{path.name} shows {expression}"
        head, *rest = expression.split(".")
        obj = namespace[head]
        for part in rest:
            obj = getattr(obj, part)
        lines = len(inspect.getsource(obj).splitlines())
        assert lines <= SHOWN_LIMIT, f"{path.name}: show_source({expression}) is {lines} lines (> {SHOWN_LIMIT})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_call_no_private_names(path):
    code = _code_without_magics(nbformat.read(path, as_version=4))
    assert PRIVATE_ATTRIBUTE.findall(code) == [], f"{path.name} reaches into private names"
    assert not re.search(r"from course_utils[\w.]* import [^\n]*\b_\w", code), f"{path.name} imports a private name"
