"""Slide text: the markdown cells tagged ``slide`` that `make slides` shows instead of the notebook's prose.

A slide cell is written for a projector, not for reading: a ``##``/``###`` title, then at most
:data:`MAX_BULLETS` bullets and :data:`MAX_WORDS` words (the title included; code blocks and figures are not
counted), and at most one figure *or* one code block of at most :data:`MAX_CODE_LINES` lines. A figure is a
markdown image of a file in ``figs/`` (``![설명](../figs/NAME.png)``). Formulas are plain text (ΔW = BA), not LaTeX.
:func:`slide_problems` says what breaks these limits; the tests run it on every slide cell, and the browser test
checks the same limits on the rendered decks.
"""

from __future__ import annotations

import re
from typing import Any

from course_utils.publish.editions import SLIDE, cell_source, tags

MAX_BULLETS = 6  # bullets (or numbered items) on one slide
MAX_WORDS = 60  # whitespace-separated words, title included, code blocks and figures excluded
MAX_CODE_LINES = 12  # lines of the one code block a slide may show
MAX_VISUALS = 1  # one figure or one code block, not both

CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
FIGURE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
TITLE = re.compile(r"^#{2,3} \S")
HTML_TAG = re.compile(r"<[^>\n]+>")
# Markdown syntax that is not a word: heading hashes, bullet markers, emphasis, table pipes, quote marks
MARKUP = re.compile(r"^\s*(?:#{1,6}|[-*+]|\d+[.)]|>)\s+|\*\*|__|\||^\s*:?-{3,}:?\s*$", re.MULTILINE)
HAS_TEXT = re.compile(r"[0-9A-Za-z\uac00-\ud7a3]")
# The decks load no math renderer (no CDN in a lecture hall): LaTeX would show raw, and the Korean font draws "\" as "₩"
LATEX = re.compile(r"\$[^$\n]+\$")


def is_slide(cell: dict[str, Any]) -> bool:
    """Whether `cell` is slide text (a markdown cell tagged ``slide``)."""
    return cell.get("cell_type") == "markdown" and SLIDE in tags(cell)


def code_blocks(markdown: str) -> list[str]:
    """The bodies of the fenced code blocks in `markdown`."""
    return CODE_BLOCK.findall(markdown)


def figures(markdown: str) -> list[str]:
    """The images in `markdown` (markdown or HTML), outside code blocks."""
    return FIGURE.findall(CODE_BLOCK.sub("", markdown))


def prose(markdown: str) -> str:
    """`markdown` without its code blocks, figures, HTML tags and markup: the text a slide shows as words."""
    text = FIGURE.sub(" ", CODE_BLOCK.sub(" ", markdown))
    return MARKUP.sub(" ", HTML_TAG.sub(" ", text))


def words(markdown: str) -> list[str]:
    """The words of `markdown` (whitespace-separated tokens with a letter, digit or Hangul syllable)."""
    return [token for token in prose(markdown).split() if HAS_TEXT.search(token)]


def bullets(markdown: str) -> int:
    """How many bullets or numbered items `markdown` has outside its code blocks."""
    return len(BULLET.findall(CODE_BLOCK.sub("", markdown)))


def slide_problems(markdown: str) -> list[str]:
    """What makes `markdown` too long or too busy for one slide (empty when it fits the limits)."""
    problems = []
    first = markdown.lstrip().split("\n", 1)[0]
    if not TITLE.match(first):
        problems.append(f"starts with {first[:40]!r}, not a '## ' or '### ' title")
    if (n := bullets(markdown)) > MAX_BULLETS:
        problems.append(f"{n} bullets (at most {MAX_BULLETS})")
    if (n := len(words(markdown))) > MAX_WORDS:
        problems.append(f"{n} words (at most {MAX_WORDS}, code and figures not counted)")
    if LATEX.search(CODE_BLOCK.sub("", markdown)):
        problems.append("LaTeX math ($...$) shows raw on a slide: write it in plain text (ΔW = BA, W₀, α/r)")
    blocks, images = code_blocks(markdown), figures(markdown)
    if len(blocks) + len(images) > MAX_VISUALS:
        problems.append(f"{len(images)} figure(s) and {len(blocks)} code block(s) (at most one of either)")
    for block in blocks:
        if (n := len(block.rstrip("\n").splitlines())) > MAX_CODE_LINES:
            problems.append(f"a code block of {n} lines (at most {MAX_CODE_LINES})")
    return problems


def notebook_problems(nb: dict[str, Any], name: str = "notebook") -> list[str]:
    """'NAME cell N: problem' for every slide cell of `nb` that breaks the limits."""
    return [f"{name} cell {index}: {problem}" for index, cell in enumerate(nb.get("cells", []))
            if is_slide(cell) for problem in slide_problems(cell_source(cell))]
