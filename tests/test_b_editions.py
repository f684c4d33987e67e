"""Notebooks 02 and 03 split cleanly into editions: no kept cell needs a name that only a dropped cell defines."""

from __future__ import annotations

import ast
import builtins
import json
from pathlib import Path

import pytest

from course_utils.publish import editions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
OURS = ("02_dora_decomposition.ipynb", "03_nf4_quantization.ipynb")


def names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads); shell and magic lines are skipped."""
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


def leaked_names(nb: dict, tag: str) -> list[tuple[int, list[str]]]:
    """(cell index, names) for kept cells that read a name only the cells tagged `tag` bind."""
    kept, dropped, leaks = set(dir(builtins)), set(), []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        bound, read = names(editions.cell_source(cell))
        if tag in editions.tags(cell):
            dropped |= bound
            continue
        missing = sorted((read - kept - bound) & dropped)
        if missing:
            leaks.append((index, missing))
        kept |= bound
    return leaks


def _code(source: str, *tags: str) -> dict:
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source}


def test_the_checker_catches_a_name_from_a_dropped_cell():
    nb = {"cells": [_code("answer = 42", "solution"), _code("print(answer)")]}
    assert leaked_names(nb, "solution") == [(1, ["answer"])]
    assert leaked_names({"cells": [_code("answer = 1"), _code("answer = 42", "solution"), _code("print(answer)")]},
                        "solution") == []


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("tag", [editions.VERIFY, editions.SOLUTION])
def test_no_cell_depends_on_a_dropped_cell(name, tag):
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    assert leaked_names(nb, tag) == [], f"{name}: cells read names that only '{tag}' cells define"


@pytest.mark.parametrize("name", OURS)
def test_model_answers_and_library_checks_are_tagged(name):
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        source, tags = editions.cell_source(cell), editions.tags(cell)
        code = cell["cell_type"] == "code"
        if "<details><summary>모범 답안" in source or code and (".solution(" in source or "모범 답" in source):
            assert editions.SOLUTION in tags, f"{name} cell {index} shows a model answer but is not tagged solution"
            assert "### 질문" not in source and "## " not in source, \
                f"{name} cell {index} mixes an answer with a prompt"
    assert any(editions.VERIFY in editions.tags(c) for c in nb["cells"]), f"{name} has no verify cell"


def test_notebook_03_leaves_notebook_04s_questions_open():
    """s4_q2 (QLoRA's three innovations) is asked in 04: 03 may teach NF4 and DQ but must not list the three."""
    nb = json.loads((NOTEBOOKS / OURS[1]).read_text(encoding="utf-8"))
    text = "\n".join(editions.cell_source(cell) for cell in nb["cells"]).lower()
    for giveaway in ("페이지드", "paged", "s4_q2", "s4_q3"):
        assert giveaway not in text, f"03 mentions {giveaway!r}, part of notebook 04's checkpoint answers"
