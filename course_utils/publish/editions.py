"""One source, several editions: the cell tags every notebook carries and the section tagger.

Tags (``cell.metadata.tags``):

- ``core`` / ``deep``: the cell belongs to a 필수 (core) or 심화 (optional deep-dive) section. A section starts at a
  markdown cell whose first line is a ``## `` heading and whose next non-empty line starts with ``**필수**`` or
  ``**심화**`` (the badge students see). Cells before the first section are core. :func:`tag_sections` sets
  these two tags from the badges, so the badge is the single source.
- ``solution``: practice edition only (model answers, ``.solution()`` calls, cells that print or assert an answer).
  The assignment edition drops these cells, so no other cell may use a name that only a solution cell defines.
- ``verify``: a verification-only cell (compares with a library, bit-exact checks); hidden in demo and slides.
  No other cell may use a name that only a verify cell defines.
- ``keep_output``: the cell keeps its committed output (see the output policy in tests).
- ``instructor``: a markdown note for instructors (how a stored run was made, make targets, caches, tolerances,
  how the text changed between editions). Students never get it: the practice and assignment editions and the
  slides drop it, and tests keep course plumbing out of every other markdown cell. Its text starts with
  :data:`INSTRUCTOR_HEADING` so the source notebook shows whom it is for.
- ``slide``: slide text, a short markdown cell written for the lecture slides (see ``publish/slide_text.py``), placed
  right after its section's header. `make slides` shows these cells instead of the section's prose; the practice
  and assignment editions drop them (students read the prose), and in the source notebook they carry
  ``"jupyter": {"source_hidden": true}`` so JupyterLab shows them collapsed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CORE, DEEP, SOLUTION, VERIFY, KEEP_OUTPUT = "core", "deep", "solution", "verify", "keep_output"
INSTRUCTOR, SLIDE = "instructor", "slide"
INSTRUCTOR_HEADING = "**강사용 메모**"
#: Tags whose cells students never see, per edition.
DROPPED = {"practice": frozenset({INSTRUCTOR, SLIDE}), "assignment": frozenset({SOLUTION, INSTRUCTOR, SLIDE}),
           "slides": frozenset({VERIFY, INSTRUCTOR})}
#: The student edition that Colab opens (relative to the repository root, committed); `make release` writes it.
PRACTICE_DIR = "release/practice"
BADGES = {"필수": CORE, "심화": DEEP}
SECTION_HEAD = re.compile(r"^## (?!#)")
UNBADGED_HEADS = ("## 참고문헌",)  # the references list closes a notebook without a badge
BADGE = re.compile(r"^\*\*(필수|심화)\*\*")


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def tags(cell: dict[str, Any]) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def section_badge(cell: dict[str, Any]) -> str | None:
    """'필수' or '심화' when `cell` opens a section with a badge; '' for a section head without one; else None."""
    if cell.get("cell_type") != "markdown" or SLIDE in tags(cell):  # a slide's title is not a section head
        return None
    lines = [line for line in cell_source(cell).splitlines() if line.strip()]
    if not lines or not SECTION_HEAD.match(lines[0]) or lines[0].strip() in UNBADGED_HEADS:
        return None
    match = BADGE.match(lines[1].strip()) if len(lines) > 1 else None
    return match.group(1) if match else ""


def tag_sections(nb: dict[str, Any]) -> dict[str, Any]:
    """Set each cell's core/deep tag from its section's badge (in place); a head without a badge is an error."""
    current = CORE
    for index, cell in enumerate(nb["cells"]):
        badge = section_badge(cell)
        if badge == "":
            heading = cell_source(cell).splitlines()[0]
            raise ValueError(f"cell {index} opens a section without a **필수**/**심화** badge: {heading!r}")
        if badge:
            current = BADGES[badge]
        kept = [tag for tag in tags(cell) if tag not in (CORE, DEEP)]
        cell.setdefault("metadata", {})["tags"] = kept + [current]
    return nb


def without(nb: dict[str, Any], drop: set[str] | frozenset[str]) -> dict[str, Any]:
    """A copy of `nb` without the cells that carry any tag in `drop`."""
    kept = [cell for cell in nb["cells"] if not set(tags(cell)) & set(drop)]
    return {**nb, "cells": kept}


def write_notebook(nb: dict[str, Any], path: str | Path) -> None:
    """Write a notebook the way the repository stores them (indent 1, UTF-8, trailing newline)."""
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """python -m course_utils editions NOTEBOOK...: set core/deep tags from the section badges."""
    from course_utils.runtime.cli import CommandParser

    parser = CommandParser(prog="python -m course_utils editions", description=main.__doc__)
    parser.add_argument("notebooks", nargs="+")
    for name in parser.parse_args(argv).notebooks:
        nb = json.loads(Path(name).read_text(encoding="utf-8"))
        write_notebook(tag_sections(nb), name)
    return 0
