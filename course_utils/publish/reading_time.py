"""How long a student needs for each section: a read-and-run estimate to check the minutes the notebooks state.

    python -m course_utils reading-time notebooks/0*.ipynb                  # reading only
    python -m course_utils reading-time notebooks/0*.ipynb --executed build # plus run time of `make run`'s copies

The estimate of a section is what a student reads and runs in it (instructor notes, slide cells and the folded
setup code are not read by a student):

- prose: Korean text at :data:`CHARS_PER_MINUTE` non-space characters per minute (technical prose with formulas
  and tables; general Korean prose reads about twice as fast);
- code: :data:`CODE_LINES_PER_MINUTE` non-comment lines per minute;
- checkpoint questions: :data:`MINUTES_PER_QUESTION` each, to think and write an answer;
- run time: the seconds its cells took in an executed copy (nbclient's timing metadata), when one is given.

`tests/test_notebook_text.py` checks that each section states at least its reading estimate (prose, code and
questions; the run time depends on the machine and is reported here, in the note of the change, and in docs/).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from course_utils.publish import editions
from course_utils.publish.colab import FORM_VIEW
from course_utils.runtime.cli import CommandParser

CHARS_PER_MINUTE = 300
CODE_LINES_PER_MINUTE = 10
MINUTES_PER_QUESTION = 2
#: The badge line under a section head: "**필수** · 약 N분".
SECTION_MINUTES = re.compile(r"^\*\*(필수|심화)\*\*\s*·\s*약 (\d+)분")
QUESTION = re.compile(r"^\*\*Q\d", re.MULTILINE)
#: Cells a student does not read: those the practice edition drops (instructor notes, slide text); and the folded
#: Colab setup cell (see :func:`folded`).
UNREAD_TAGS = editions.DROPPED["practice"]


@dataclass
class Section:
    """One `##` section of a notebook and what a student reads and runs in it."""

    title: str
    badge: str
    stated: int
    chars: int = 0
    code_lines: int = 0
    questions: int = 0
    run_seconds: float = 0.0

    @property
    def reading(self) -> float:
        """Minutes to read the prose and the code and answer the questions."""
        return (self.chars / CHARS_PER_MINUTE + self.code_lines / CODE_LINES_PER_MINUTE
                + self.questions * MINUTES_PER_QUESTION)

    @property
    def estimate(self) -> float:
        """Reading plus run time, in minutes."""
        return self.reading + self.run_seconds / 60


def folded(cell: dict[str, Any]) -> bool:
    """Whether Colab shows the cell as a form with its code folded away (the setup cell)."""
    meta = cell.get("metadata", {})
    return all(meta.get(key) == value for key, value in FORM_VIEW.items())


def cell_seconds(cell: dict[str, Any]) -> float:
    """Seconds the cell ran, from nbclient's timing metadata (0.0 when it has none)."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def sections(nb: dict[str, Any], executed: dict[str, Any] | None = None) -> list[Section]:
    """The notebook's badged sections with their reading counts (and run seconds from `executed`, the same
    notebook executed: its cells are matched by position)."""
    if executed is not None and len(executed["cells"]) != len(nb["cells"]):
        raise ValueError(f"executed has {len(executed['cells'])} cells, the notebook {len(nb['cells'])}")
    found: list[Section] = []
    for index, cell in enumerate(nb["cells"]):
        source = editions.cell_source(cell)
        badge = editions.section_badge(cell)
        if badge:
            lines = [line.strip() for line in source.splitlines() if line.strip()]
            match = SECTION_MINUTES.match(lines[1]) if len(lines) > 1 else None
            if match is None:
                raise ValueError(f"cell {index}: the badge line must say '**{badge}** · 약 N분'")
            found.append(Section(lines[0].lstrip("# "), badge, int(match.group(2))))
        if not found:
            continue
        section = found[-1]
        if executed is not None and cell["cell_type"] == "code":
            section.run_seconds += cell_seconds(executed["cells"][index])
        if UNREAD_TAGS & set(editions.tags(cell)) or folded(cell):
            continue
        if cell["cell_type"] == "markdown":
            section.chars += len(re.sub(r"\s", "", source))
            section.questions += len(QUESTION.findall(source))
        elif cell["cell_type"] == "code":
            section.code_lines += sum(1 for line in source.splitlines()
                                      if line.strip() and not line.strip().startswith("#"))
    return found


def totals(found: list[Section]) -> dict[str, dict[str, float]]:
    """Stated minutes and estimates summed per badge."""
    out = {}
    for badge in ("필수", "심화"):
        mine = [s for s in found if s.badge == badge]
        out[badge] = {"stated": sum(s.stated for s in mine), "reading": sum(s.reading for s in mine),
                      "estimate": sum(s.estimate for s in mine)}
    return out


def report(path: Path, executed_dir: Path | None = None) -> str:
    """A plain-text table of one notebook's sections: stated minutes, reading, run and estimate."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    executed = None
    if executed_dir is not None and (executed_dir / path.name).is_file():
        executed = json.loads((executed_dir / path.name).read_text(encoding="utf-8"))
    found = sections(nb, executed)
    rows = [f"{path.name}", f"  {'badge':4} {'stated':>6} {'read':>6} {'run':>6} {'est':>6}  section"]
    for s in found:
        rows.append(f"  {s.badge:4} {s.stated:6d} {s.reading:6.1f} {s.run_seconds / 60:6.1f} "
                    f"{s.estimate:6.1f}  {s.title[:50]}")
    for badge, sums in totals(found).items():
        rows.append(f"  {badge} stated {sums['stated']} min; reading {sums['reading']:.1f}, "
                    f"read and run {sums['estimate']:.1f} (rounded up: {math.ceil(sums['estimate'])})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table of every notebook given."""
    parser = CommandParser(prog="python -m course_utils reading-time", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--executed", type=Path, help="folder of executed copies (python -m course_utils run)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(report(path, args.executed))
    return 0
