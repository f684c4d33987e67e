"""Slide text (cells tagged `slide`): short enough for a slide, one per numbered section, kept out of the student
editions, and the only prose a deck shows. The rendered decks are checked in a browser in tests/test_slides.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from test_notebook_text import plumbing  # the one list of course-plumbing words

from course_utils.publish import editions, release, slide_text, slides

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBERED = re.compile(r"^## \d+\.")
GOOD = "### 1. 제목\n- 하나\n- 둘\n\n```python\nx = 1\n```"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------
# Self-tests of the checker: what must fail and what must pass
# ------------------------------------------------------------------------------------------------


def test_a_short_slide_passes():
    assert slide_text.slide_problems(GOOD) == []
    assert slide_text.slide_problems("## 제목\n\n![그림](../figs/x.png)\n\n짧은 글 한 줄") == []


@pytest.mark.parametrize(("text", "what"), [
    ("### 제목\n" + "\n".join(f"- 항목 {i}" for i in range(slide_text.MAX_BULLETS + 1)), "bullets"),
    ("### 제목\n" + " ".join(["단어"] * slide_text.MAX_WORDS), "words"),  # the title's word makes it one too many
    ("### 제목\n```python\n" + "x = 1\n" * (slide_text.MAX_CODE_LINES + 1) + "```", "a code block of"),
    ("### 제목\n![그림](a.png)\n```python\nx = 1\n```", "figure(s) and"),
    ("### 제목\n![그림](a.png)\n![그림](b.png)", "figure(s) and"),
    ("- 제목 없이 시작하는 글", "not a '## ' or '### ' title"),
    ("### 제목\n- $h = W_0 x$", "LaTeX"),
])
def test_a_slide_over_the_limits_fails(text, what):
    problems = slide_text.slide_problems(text)
    assert any(what in p for p in problems), problems


def test_words_are_counted_without_code_figures_and_markup():
    text = "### 1. 제목 **굵게**\n- `peft` 층\n\n![긴 설명이 붙은 그림](../figs/x.png)\n```python\na b c d e f\n```"
    assert slide_text.words(text) == ["1.", "제목", "굵게", "`peft`", "층"]
    assert slide_text.bullets(text) == 1 and slide_text.bullets("1. 하나\n2. 둘\n- 셋") == 3


def test_notebook_problems_name_the_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## 1. 절\n**필수** · 약 1분"),
        nbformat.v4.new_markdown_cell("### 1. 너무 긴 슬라이드\n" + "- 항목\n" * 7, metadata={"tags": ["slide"]}),
        nbformat.v4.new_markdown_cell("- 항목\n" * 7),  # not slide text: the prose may be as long as it needs
    ])
    assert slide_text.notebook_problems(nb, "01_x.ipynb") == ["01_x.ipynb cell 1: 7 bullets (at most 6)"]


# ------------------------------------------------------------------------------------------------
# The notebooks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_slide_cell_fits_a_slide(path):
    assert slide_text.notebook_problems(_load(path), path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_numbered_section_has_slide_text_right_after_its_head(path):
    cells = _load(path)["cells"]
    heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and not slide_text.is_slide(c)
             and NUMBERED.match(editions.cell_source(c))]
    assert heads, f"{path.name} has no numbered sections"
    missing = [editions.cell_source(cells[i]).splitlines()[0] for i in heads
               if i + 1 >= len(cells) or not slide_text.is_slide(cells[i + 1])]
    assert missing == [], f"{path.name}: sections without a slide cell (tagged '{editions.SLIDE}') right after " \
                          f"their head: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_slide_cells_are_collapsed_markdown_in_the_notebook(path):
    for index, cell in enumerate(_load(path)["cells"]):
        if editions.SLIDE in editions.tags(cell):
            assert cell["cell_type"] == "markdown", f"{path.name} cell {index}: slide text must be markdown"
            assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, \
                f"{path.name} cell {index}: a slide cell carries \"jupyter\": {{\"source_hidden\": true}}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_editions_drop_the_slide_text(path):
    nb = _load(path)
    assert any(slide_text.is_slide(c) for c in nb["cells"])
    for edition in (release.practice_edition(nb), release.assignment_edition(nb)):
        assert not any(editions.SLIDE in editions.tags(c) for c in edition["cells"]), path.name
    prose = [c for c in nb["cells"] if not slide_text.is_slide(c)]
    assert len(release.practice_edition(nb)["cells"]) == len(editions.without(
        {"cells": prose}, {editions.INSTRUCTOR})["cells"])  # nothing else is dropped


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_deck_shows_the_slide_text_and_no_prose_or_plumbing(path):
    nb = nbformat.read(path, as_version=4)
    deck = slides.prepare(nb).cells
    title = next(c.source.splitlines()[0] for c in nb.cells if slides.heading_level(c) == 1)
    assert deck[0].source == title
    for cell in deck[1:]:
        if cell.cell_type == "markdown":
            assert slide_text.is_slide(cell), f"{path.name}: prose on a slide: {cell.source[:60]!r}"
        else:  # a figure a code cell drew, without its code
            assert cell.metadata["transient"]["remove_source"] and cell.outputs, path.name
    found = [what for cell in deck for what in plumbing(cell.source)]
    assert found == [], f"{path.name}: course plumbing on a slide: {found}"
    kinds = [c.metadata["slideshow"]["slide_type"] for c in deck]
    assert set(kinds) <= {"slide", "subslide"}, kinds


def test_a_section_shows_the_figure_its_code_drew_when_the_slide_has_none():
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Fig>"}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 00. 제목\n\n긴 소개"),
        nbformat.v4.new_markdown_cell("## 1. 절\n**필수** · 약 5분\n\n긴 설명"),
        nbformat.v4.new_markdown_cell("### 1. 절\n- 요점", metadata={"tags": ["slide", "core"],
                                                                "jupyter": {"source_hidden": True}}),
        nbformat.v4.new_code_cell("draw()", outputs=[png, {"output_type": "stream", "name": "stdout", "text": "x\n"}]),
        nbformat.v4.new_markdown_cell("본문 산문"),
        nbformat.v4.new_markdown_cell("## 참고문헌\n\n- 논문"),
    ])
    deck = slides.prepare(nb).cells
    assert [c.source for c in deck] == ["# 00. 제목", "### 1. 절\n- 요점", "draw()"]
    assert [c.metadata["slideshow"]["slide_type"] for c in deck] == ["slide", "slide", "subslide"]
    assert list(deck[2].outputs[0]["data"]) == ["image/png"] and len(deck[2].outputs) == 1
    assert "jupyter" not in deck[1].metadata and "jupyter" in nb.cells[2].metadata  # the notebook is unchanged
    nb.cells[2].source += "\n\n![그림](../figs/x.png)"
    assert [c.source[:6] for c in slides.prepare(nb).cells] == ["# 00. ", "### 1."]  # its own figure instead


def test_figures_are_copied_beside_the_decks(tmp_path):
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "x.png").write_bytes(b"png")
    out = tmp_path / "deck"
    (tmp_path / "notebooks").mkdir()
    text = slides.link_figures("![그림](../figs/x.png) ![없음](../figs/none.png)", tmp_path / "notebooks", out)
    assert text == "![그림](figs/x.png) ![없음](../figs/none.png)"
    assert (out / slides.FIGS_DIR / "x.png").read_bytes() == b"png"
