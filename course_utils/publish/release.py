"""Two editions from one source: ``python -m course_utils release [--source notebooks] [--out release]``.

* ``release/practice/``: the notebooks with hints, model answers and solution cells, for self-study and Colab;
  only the instructor notes and the slide text (cells tagged ``instructor`` or ``slide``) are dropped. It is
  committed: the Colab badges open it (``editions.PRACTICE_DIR``), and a test fails when it is older than notebooks/.
* ``release/assignment/``: for graded use. Every cell tagged ``solution``, ``instructor`` or ``slide`` is dropped; a
  ``STUDENT_ID = None`` cell (with a short Korean note) follows the notebook's title; the notebook's metadata says
  ``edition: assignment``. In it, ``start_assignment(STUDENT_ID)`` gives each student their own numbers and makes
  ``q.solution()`` say that solutions are withheld.

Then every assignment notebook is checked for answers (:func:`leaks`): a ``<details>`` block, a ``.solution(``
call, a printed model answer, a question's solution text, the numeric answers the course can compute (formatted
as a student would copy them), a set answer listed in full in another notebook, or a choice or set answer written
into a code cell. Any finding stops the release (exit status 1) naming the notebook and the cell, so an untagged
solution cell fails loudly instead of reaching students.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

from course_utils.exercises.catalog import QUESTIONS, Question
from course_utils.publish.editions import CORE, DROPPED, SOLUTION, cell_source, tags, without, write_notebook
from course_utils.runtime.cli import CommandParser

ASSIGNMENT_TAG = "assignment"  # the cells the release adds
#: A relative link target in markdown: ](path) or src="path", not a URL, an anchor or an absolute path.
RELATIVE_LINK = re.compile(r"""(\]\(|src=["'])(?![a-z][a-z0-9+.-]*:|#|/)([^)"'\s]+)""")
CALL = re.compile(r"""checkpoint\(\s*["']([^"'\s]+)["']\s*\)""")
MARKERS = ("<details", "모범 답", "정답:", "정답은")  # what only a model answer says
ALIASES = {  # set answers whose items are also written in Korean: listing all of them elsewhere gives it away
    "s4_q2": {"NF4": ("nf4",), "double quantization": ("double quant", "이중 양자화"),
              "paged optimizers": ("paged optim", "페이지드 옵티마이저", "페이징 옵티마이저")},
}
NOTE = ("**과제용 노트북입니다.** 아래 셀의 `STUDENT_ID`에 학번을 따옴표 안에 적고 실행하세요. 계산 문제의 숫자는 "
        "학번마다 다르고, `q.check(...)`는 여러분의 숫자로 채점합니다. 풀이는 채점이 끝난 뒤 공개합니다.")
STUDENT_CELL = ("from course_utils.exercises.variants import start_assignment\n\n"
                "STUDENT_ID = None  # TODO: 학번, 예) \"2026123456\"\n"
                "start_assignment(STUDENT_ID)")


def _cell(kind: str, source: str, index: int) -> dict[str, Any]:
    """A new cell of the release (tagged core and assignment)."""
    cell = {"cell_type": kind, "id": f"assignment-{index}", "metadata": {"tags": [CORE, ASSIGNMENT_TAG]},
            "source": source}
    return cell | ({"execution_count": None, "outputs": []} if kind == "code" else {})


def practice_edition(nb: dict[str, Any], relink: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """The practice edition of a notebook: everything but the instructor notes and the slide text. With
    `relink` = (source folder, edition folder), relative links in markdown (figures) are rewritten to work there."""
    edition = copy.deepcopy(without(nb, DROPPED["practice"]))
    if relink is not None:
        for cell in edition["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = moved_links(cell_source(cell), *relink)
    return edition


def moved_links(text: str, source: Path, target: Path) -> str:
    """`text` with its relative links, written for a notebook in `source`, pointing at the same files from
    `target` (e.g. ../figs/a.png from notebooks/ is ../../figs/a.png from release/practice/)."""
    def move(match: re.Match) -> str:
        absolute = os.path.normpath(os.path.join(os.path.abspath(source), match[2]))
        return match[1] + Path(os.path.relpath(absolute, os.path.abspath(target))).as_posix()

    return RELATIVE_LINK.sub(move, text)


def student_cell(verdicts: bool = False, max_attempts: int | None = None) -> str:
    """The STUDENT_ID cell, with the grading policy's feedback settings (``[feedback]`` of grading.toml)."""
    extra = (", verdicts=True" if verdicts else "") + (f", max_attempts={max_attempts}" if max_attempts else "")
    return STUDENT_CELL.replace("start_assignment(STUDENT_ID)", f"start_assignment(STUDENT_ID{extra})")


def assignment_edition(nb: dict[str, Any], cell: str = STUDENT_CELL) -> dict[str, Any]:
    """The assignment edition of a notebook: without solution cells and instructor notes, with the STUDENT_ID cell
    (`cell`) after the title."""
    out = copy.deepcopy(without(nb, DROPPED["assignment"]))
    # after the setup cell (Colab installs course_utils there), else after the title
    titled = bool(out["cells"]) and out["cells"][0].get("cell_type") == "markdown"
    at = next((i + 1 for i, c in enumerate(out["cells"]) if c.get("cell_type") == "code"
               and "[colab-setup]" in cell_source(c)), 1 if titled else 0)
    out["cells"][at:at] = [_cell("markdown", NOTE, 0), _cell("code", cell, 1)]
    out.setdefault("metadata", {})["peft_course"] = {"edition": "assignment"}
    return out


def _texts(cell: dict[str, Any]) -> str:
    """A cell's source and the text of its outputs, as one string."""
    parts = [cell_source(cell)]
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
        for value in (output.get("data") or {}).values():
            parts.append("".join(value) if isinstance(value, list) else value if isinstance(value, str) else "")
    return "\n".join(parts)


def _chunks(text: str, size: int = 24) -> list[str]:
    """Distinctive pieces of a solution text: its clauses of at least `size` characters."""
    return [p.strip() for p in re.split(r"[.:;()]\s|, |\n", text) if len(p.strip()) >= size]


@cache
def numeric_tokens(question_id: str) -> tuple[str, ...]:
    """How a student would copy the question's computable answer (practice variant): '96.875', '96.88', '96.9'."""
    question = QUESTIONS[question_id]
    if question.kind != "numeric" or question.draw or (question.context and question.rebuild is None):
        return ()  # a variant question's answers are each student's own: the lesson may use the default numbers
    context = question.rebuild() if question.rebuild else {}
    value = question._expected({**question.params(None), **context})
    tokens = {f"{value:.{d}f}" for d in (1, 2, 3)} | {f"{value:g}"}
    return tuple(sorted(t for t in tokens if len(t.replace(".", "").replace("-", "").lstrip("0")) >= 3))


@cache
def _answer_literals(question_id: str) -> tuple[str, ...]:
    """The choice answer as it would be written into code: '"llama-65b"'."""
    question = QUESTIONS[question_id]
    return (json.dumps(question._expected(question.params(None))),) if question.kind == "choice" else ()


def _set_listed(question: Question, text: str) -> bool:
    """Whether `text` lists every item of a set answer (by its aliases) but not every distractor (an option list)."""
    aliases = ALIASES.get(question.id)
    if not aliases:
        return False
    low = text.lower()
    everything = all(any(a.lower() in low for a in (key, *names)) for key, names in aliases.items())
    distractors = [k for k in getattr(question, "options", {}) if k not in aliases]
    return everything and not all(d.lower() in low for d in distractors)


def leaks(nb: dict[str, Any], name: str, questions: list[Question] | None = None) -> list[str]:
    """Every place of `nb`'s assignment edition that shows an answer, as 'NAME cell N: what' (N: the cell's index in
    `nb`; cells tagged solution are skipped, as the assignment edition drops them)."""
    questions = list(QUESTIONS.values()) if questions is None else questions
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if SOLUTION in tags(cell):
            continue
        text, code = _texts(cell), cell.get("cell_type") == "code"
        where = f"{name} cell {index}"
        found += [f"{where}: model-answer marker {m!r}" for m in MARKERS if m in text]
        if code and re.search(r"\.solution\(", cell_source(cell)):
            found.append(f"{where}: calls .solution()")
        for q in questions:
            found += [f"{where}: solution text of {q.id}: {c[:40]!r}" for c in _chunks(q.explanation) if c in text][:1]
            found += [f"{where}: the answer of {q.id} ({t})" for t in numeric_tokens(q.id)
                      if re.search(rf"(?<![\d.]){re.escape(t)}(?![\d])", text)][:1]
            if code:
                found += [f"{where}: the answer of {q.id} written in code ({lit})" for lit in _answer_literals(q.id)
                          if lit in cell_source(cell)]
            if q.notebook != Path(name).stem and _set_listed(q, text):
                found.append(f"{where}: lists the whole answer of {q.id} (a question of {q.notebook})")
    return found


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell assigns, names it reads); cells that are not plain Python (magics) give nothing."""
    import ast

    try:
        tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return set(), set()
    stored, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            stored |= {node.name} if hasattr(node, "name") else {a.asname or a.name.split(".")[0] for a in node.names}
    return stored, loaded


def solution_only_names(nb: dict[str, Any], name: str) -> list[str]:
    """Cells of the assignment edition that read a name only a (dropped) solution cell defines."""
    code = [(i, c) for i, c in enumerate(nb.get("cells", [])) if c.get("cell_type") == "code"]
    in_solution = set().union(*[_names(cell_source(c))[0] for _, c in code if SOLUTION in tags(c)] or [set()])
    elsewhere = set().union(*[_names(cell_source(c))[0] for _, c in code if SOLUTION not in tags(c)] or [set()])
    only = in_solution - elsewhere
    return [f"{name} cell {i}: uses {sorted(_names(cell_source(c))[1] & only)}, defined only in a solution cell"
            for i, c in code if SOLUTION not in tags(c) and _names(cell_source(c))[1] & only]


def release(source: Path, out: Path, cell: str = STUDENT_CELL) -> list[str]:
    """Write both editions of every notebook in `source` under `out`; return the leaks found (empty when clean)."""
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"--source: no notebooks NN_*.ipynb in {source}")
    for edition in ("practice", "assignment"):
        shutil.rmtree(out / edition, ignore_errors=True)
        (out / edition).mkdir(parents=True)
    problems = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        write_notebook(practice_edition(nb, (source, out / "practice")), out / "practice" / path.name)
        problems += solution_only_names(nb, path.name) + leaks(nb, path.name)  # cells named by their source index
        write_notebook(assignment_edition(nb, cell), out / "assignment" / path.name)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Write release/practice and release/assignment; exit 1 naming each cell that shows an answer."""
    parser = CommandParser(prog="python -m course_utils release", description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="notebooks", help="the source notebooks (default: notebooks)")
    parser.add_argument("--out", default="release", help="where the editions go (default: release)")
    parser.add_argument("--policy", default="", help="grading.toml: its [feedback] (verdicts, max_attempts) goes "
                        "into the assignment's STUDENT_ID cell")
    args = parser.parse_args(argv)
    cell = STUDENT_CELL
    if args.policy:
        from course_utils.grading.policy import load

        rules = load(args.policy)
        cell = student_cell(rules.verdicts, rules.max_attempts)
    try:
        problems = release(Path(args.source), Path(args.out), cell)
    except FileNotFoundError as err:
        parser.error(str(err))
    for problem in problems:
        print(f"release: answer in the assignment edition: {problem}", file=sys.stderr)
    if problems:
        print(f"release: {len(problems)} leak(s); tag those cells 'solution' (or make them neutral) and rerun",
              file=sys.stderr)
        return 1
    print(f"release: {args.out}/practice and {args.out}/assignment written; no answer in the assignment edition")
    return 0
