"""Instructor grading: ``python -m course_utils.grade SUBMISSIONS... --out grades.csv [--execute --jobs N]``.

By default the grader runs **no student code**: it reads the checkpoint records that ``q.check(...)`` left in the
saved notebooks (MIME type ``application/vnd.peft-course.checkpoint+json``). With ``--execute`` each notebook is
first run from scratch in its own fresh kernel, inside its own sandbox (``course_utils.sandbox``: bubblewrap, no
network, a throwaway HOME, limits on time, memory, processes and output); ``--jobs N`` runs N sandboxes at once.
Without a usable sandbox ``--execute`` refuses, unless ``--unsafe-execute`` is given.

Who is the student?
    * a folder given on the command line is a class folder: each sub-folder is one student (the sub-folder's name),
      and every file below it is that student's;
    * a file (given directly, or lying directly in a class folder) belongs to the student named by the part of its
      file name before ``__`` (``kim_minsu__01_lora_math.ipynb`` → ``kim_minsu``), or to its stem when there is none.

One student may hand in several notebooks (01, 02, ...): their questions are merged. When two of a student's files
answer the same question, the row's status is ``duplicate``, its ``detail`` names the files, and the answer with
the latest timestamp is graded.

Output: one CSV row per (student, file) with the file's status, one per (student, question) with the verdict, and
one ``TOTAL`` row per student; sorted, written atomically, identical on every rerun (no time of the grading run
appears in it: ``answered_at`` is the time saved in the notebook, and is left empty with ``--execute``).
Every bad submission becomes a row with a status; the grader never stops on one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils import sandbox
from course_utils.checkpoints import QUESTIONS, RECORD_MIME, Question

COLUMNS = ("student", "question", "kind", "status", "verdict", "points", "max_points", "answer", "answered_at",
           "file", "detail")
FILE_STATUSES = {
    "ok": "read; it holds checkpoint records",
    "no_answers": "a notebook without any checkpoint record (cells not run, or outputs cleared)",
    "cell_error": "a cell raised an error (the records of the other cells still count)",
    "invalid_json": "not valid JSON (a damaged or half-saved file)",
    "not_a_notebook": "not a .ipynb notebook (other file type, or JSON without notebook cells)",
    "too_large": "larger than --max-mb; not read",
    **{status: f"--execute: {text}" for status, text in sandbox.STATUSES.items() if status != "ok"},
}
QUESTION_STATUSES = {
    "graded": "judged automatically (verdict correct / incorrect / invalid)",
    "needs_review": "a written answer, recorded for the instructor (no points given automatically)",
    "not_attempted": "the check ran with the None placeholder",
    "missing": "no record of this question in the student's files",
    "duplicate": "answered in two or more of the student's files; the latest answer is graded",
    "unknown_question": "a record with an id the course does not define",
}
FILE_ROW = "(file)"
TOTAL_ROW = "TOTAL"
ANSWER_CHARS = 300
DEFAULT_MAX_MB = 20.0
DEFAULT_LIMITS = sandbox.Limits()  # --timeout 600 s, --max-memory-mb 8192, ... (course_utils.sandbox)
CALL = re.compile(r"""checkpoint\(\s*["']([^"'\s]+)["']\s*\)""")
NOTEBOOK_SUFFIX = ".ipynb"
SKIPPED_PARTS = {".ipynb_checkpoints", "__MACOSX"}


@dataclass(frozen=True)
class Submission:
    """One submitted file: its student, its path, and the name shown in the CSV."""

    student: str
    path: Path
    name: str


@dataclass
class FileResult:
    """What one file yielded: its status, the records found, and the question ids its code refers to."""

    submission: Submission
    status: str
    detail: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)


# ------------------------------------------------------------------------------------------------------------
# Finding the submissions
# ------------------------------------------------------------------------------------------------------------


def student_from_filename(path: Path) -> str:
    """The student a loose file belongs to: the file name before ``__``, else its stem."""
    stem = path.name[: -len(NOTEBOOK_SUFFIX)] if path.name.endswith(NOTEBOOK_SUFFIX) else path.stem
    return stem.split("__", 1)[0] if "__" in stem else stem


def _visible_files(folder: Path) -> list[Path]:
    """Regular files below `folder`, sorted, skipping hidden files and checkpoint folders."""
    files = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p in SKIPPED_PARTS for p in parts) or not path.is_file():
            continue
        files.append(path)
    return files


def discover(paths: Sequence[str | Path]) -> list[Submission]:
    """Submissions from files and class folders (see the module docstring for who is the student)."""
    found: list[Submission] = []
    for raw in paths:
        root = Path(raw)
        if root.is_file():
            found.append(Submission(student_from_filename(root), root, root.name))
        elif root.is_dir():
            for entry in sorted(root.iterdir()):
                if entry.name.startswith(".") or entry.name in SKIPPED_PARTS:
                    continue
                if entry.is_dir():
                    found += [Submission(entry.name, f, f.relative_to(root).as_posix()) for f in _visible_files(entry)]
                elif entry.is_file():
                    found.append(Submission(student_from_filename(entry), entry, entry.name))
        else:
            raise FileNotFoundError(f"SUBMISSIONS: {raw!s} is neither a file nor a folder")
    return sorted(found, key=lambda s: (s.student, s.name))


# ------------------------------------------------------------------------------------------------------------
# Reading one notebook (saved outputs), or executing it first
# ------------------------------------------------------------------------------------------------------------


def _load(submission: Submission, max_bytes: int) -> tuple[dict | None, str, str]:
    """(notebook dict or None, status, detail) for a file, reading at most `max_bytes`."""
    path = submission.path
    size = path.stat().st_size
    if size > max_bytes:
        return None, "too_large", f"{size:,} bytes > limit {max_bytes:,} bytes (--max-mb)"
    if not path.name.endswith(NOTEBOOK_SUFFIX):
        return None, "not_a_notebook", f"file type {path.suffix or '(none)'}; expected {NOTEBOOK_SUFFIX}"
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(max_bytes + 1).decode("utf-8-sig"))  # tolerate a BOM
    except UnicodeDecodeError as err:
        return None, "invalid_json", f"not UTF-8 text ({err.reason} at byte {err.start})"
    except json.JSONDecodeError as err:
        return None, "invalid_json", f"{err.msg} (line {err.lineno}, column {err.colno})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        return None, "not_a_notebook", "JSON without notebook 'cells' and 'nbformat'"
    return data, "ok", ""


def _source(cell: dict) -> str:
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _records_and_errors(nb: dict) -> tuple[list[dict[str, Any]], list[str], set[str]]:
    """Checkpoint records (in cell order), error outputs ("cell 3: NameError") and referenced ids of a notebook."""
    records, errors, referenced = [], [], set()
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        referenced.update(CALL.findall(_source(cell)))
        outputs = cell.get("outputs", [])
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "error":
                errors.append(f"cell {index}: {output.get('ename', 'error')}")
            data = output.get("data")
            record = data.get(RECORD_MIME) if isinstance(data, dict) else None
            if isinstance(record, str):  # some front ends store JSON MIME data as a string
                try:
                    record = json.loads(record)
                except json.JSONDecodeError:
                    record = None
            if isinstance(record, dict) and isinstance(record.get("question"), str):
                records.append({**record, "_cell": index})
    return records, errors, referenced


def read_submission(submission: Submission, execute: bool = False, limits: sandbox.Limits = DEFAULT_LIMITS,
                    max_bytes: int = int(DEFAULT_MAX_MB * 2**20), sandboxed: bool = True, slot: int = 0
                    ) -> FileResult:
    """Everything one file yields for grading; never raises for a bad file (`slot`: which parallel job)."""
    try:
        nb, status, detail = _load(submission, max_bytes)
    except OSError as err:
        return FileResult(submission, "not_a_notebook", f"cannot read: {err.strerror}")
    if nb is None:
        return FileResult(submission, status, detail)
    if execute:
        if sandboxed and sandbox.unavailable_reason():
            return FileResult(submission, "sandbox_unavailable", sandbox.unavailable_reason())
        try:
            run = sandbox.run_notebook(nb, submission.path.name, limits, sandboxed, slot)
        except Exception as err:  # noqa: BLE001 - e.g. a notebook nbformat cannot convert; never stop the run
            return FileResult(submission, "kernel_error", f"{type(err).__name__}: {err}"[:200])
        if run.notebook is None:
            return FileResult(submission, run.status, run.detail)
        nb, status, detail = run.notebook, run.status, run.detail
    records, errors, referenced = _records_and_errors(nb)
    if execute:  # a record made now carries the grading run's time: keep the CSV the same on every rerun
        records = [{k: v for k, v in record.items() if k != "timestamp"} for record in records]
    notes = [detail] if detail else []
    if errors:
        notes.append("errors in " + ", ".join(errors[:5]) + (" ..." if len(errors) > 5 else ""))
    if status == "ok":
        status = "no_answers" if not records else "cell_error" if errors else "ok"
    return FileResult(submission, status, "; ".join(notes), records, referenced | {r["question"] for r in records})


# ------------------------------------------------------------------------------------------------------------
# From records to rows
# ------------------------------------------------------------------------------------------------------------


def _answer_text(answer: Any) -> str:
    """An answer for the CSV: text as is, anything else as JSON, cut to ANSWER_CHARS."""
    if answer is None:
        return ""
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= ANSWER_CHARS else text[: ANSWER_CHARS - 1] + "…"


def _regrade(question: Question, record: dict[str, Any]) -> tuple[str, str]:
    """(verdict, note): context-free checkable questions are judged again from the recorded answer."""
    verdict = str(record.get("verdict", ""))
    if not question.checkable or question.context or verdict not in ("correct", "incorrect", "invalid"):
        return verdict, ""
    again = str(question.verify(record.get("answer")))
    return again, "" if again == verdict else f"verdict recomputed from the answer (notebook said {verdict})"


def _points(question: Question | None, verdict: str) -> tuple[str, str]:
    """(points, max_points) as CSV text: 1/0 for checkable questions, blank for written or unknown ones."""
    if question is None or not question.checkable:
        return "", ""
    return ("1" if verdict == "correct" else "0"), "1"


def _order(question_id: str) -> tuple[int, str]:
    """Registry order first, unknown ids after, by name."""
    ids = list(QUESTIONS)
    return (ids.index(question_id), "") if question_id in ids else (len(ids), question_id)


def _question_row(student: str, question_id: str, found: list[tuple[FileResult, dict]]) -> dict[str, str]:
    """The row of one (student, question) from the records found in that student's files."""
    question = QUESTIONS.get(question_id)
    row = {"student": student, "question": question_id, "kind": question.kind if question else ""}
    if not found:
        return {**row, "status": "missing", "verdict": "", **dict(zip(("points", "max_points"), _points(question, "")))}
    result, record = max(found, key=lambda fr: (str(fr[1].get("timestamp", "")), fr[0].submission.name, fr[1]["_cell"]))
    files = sorted({fr.submission.name for fr, _ in found})
    notes = [f"answered in {len(files)} files: {', '.join(files)}"] if len(files) > 1 else []
    if question is None:
        return {**row, "status": "unknown_question", "verdict": str(record.get("verdict", "")),
                "answer": _answer_text(record.get("answer")), "answered_at": str(record.get("timestamp", "")),
                "file": result.submission.name, "detail": "; ".join(notes)}
    verdict, note = _regrade(question, record)
    notes += [note] if note else []
    status = ("duplicate" if len(files) > 1 else "not_attempted" if verdict == "not_attempted"
              else "needs_review" if verdict == "recorded" else "graded")
    points, max_points = _points(question, verdict)
    return {**row, "status": status, "verdict": verdict, "points": points, "max_points": max_points,
            "answer": _answer_text(record.get("answer")), "answered_at": str(record.get("timestamp", "")),
            "file": result.submission.name, "detail": "; ".join(notes)}


def _total_row(student: str, rows: list[dict[str, str]]) -> dict[str, str]:
    """The TOTAL row: points, max points and a count of statuses."""
    points = sum(int(r["points"]) for r in rows if r.get("points"))
    max_points = sum(int(r["max_points"]) for r in rows if r.get("max_points"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    return {"student": student, "question": TOTAL_ROW, "status": "total", "points": str(points),
            "max_points": str(max_points), "detail": detail}


def grade(results: Iterable[FileResult], questions: Sequence[str] | None = None) -> list[dict[str, str]]:
    """CSV rows for all students: file rows, question rows (in registry order), then a TOTAL row each."""
    results = sorted(results, key=lambda r: (r.submission.student, r.submission.name))
    expected = set(questions) if questions else {q for r in results for q in r.referenced}
    rows: list[dict[str, str]] = []
    for student in sorted({r.submission.student for r in results}):
        mine = [r for r in results if r.submission.student == student]
        rows += [{"student": student, "question": FILE_ROW, "status": r.status, "file": r.submission.name,
                  "detail": r.detail} for r in mine]
        ids = expected | ({rec["question"] for r in mine for rec in r.records} if not questions else set())
        question_rows = [_question_row(student, qid, [(r, rec) for r in mine for rec in r.records
                                                      if rec["question"] == qid])
                         for qid in sorted(ids, key=_order)]
        rows += question_rows + [_total_row(student, question_rows)]
    return [{column: row.get(column, "") for column in COLUMNS} for row in rows]


def write_csv(rows: Sequence[dict[str, str]], out: str | Path) -> Path:
    """Write rows as UTF-8 CSV atomically: a temp file in the same folder, then os.replace."""
    out = Path(out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(buffer.getvalue())
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return out


# ------------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """The CLI's arguments."""
    statuses = "; ".join(f"{k}: {v}" for k, v in {**FILE_STATUSES, **QUESTION_STATUSES}.items())
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grade",
        description="Grade submitted course notebooks from their saved checkpoint records into one CSV.",
        epilog=f"Statuses: {statuses}.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSIONS",
                        help="class folders (one sub-folder per student) and/or files named STUDENT__*.ipynb")
    parser.add_argument("--out", required=True, help="the CSV to write (replaced atomically)")
    parser.add_argument("--execute", action="store_true",
                        help="run each notebook from scratch in its own sandboxed kernel before grading")
    parser.add_argument("--unsafe-execute", action="store_true",
                        help="--execute without a sandbox (limits only): student code runs with your rights")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once with --execute (default 1)")
    limits = {"timeout": "seconds for the whole notebook", "max_memory_mb": "MiB of address space per process",
              "max_output_mb": "MiB of output kept per notebook", "max_processes": "processes and threads"}
    for name, text in limits.items():
        default = getattr(DEFAULT_LIMITS, name)
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default,
                            help=f"--execute: {text} (default {default:g})")
    parser.add_argument("--questions", default="",
                        help="comma-separated question ids to grade (default: every id the submissions refer to)")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                        help=f"files larger than this are not read (default {DEFAULT_MAX_MB:g} MiB)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Grade SUBMISSIONS into --out; print a one-line summary. Exit 2 on bad arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    if min(args.timeout, args.max_mb, args.max_memory_mb, args.max_output_mb, args.max_processes, args.jobs) <= 0:
        parser.error("--timeout, --max-mb, --max-memory-mb, --max-output-mb, --max-processes and --jobs must be > 0")
    execute = args.execute or args.unsafe_execute
    if args.execute and not args.unsafe_execute and sandbox.unavailable_reason():
        print(f"grade: --execute refused: {sandbox.unavailable_reason()}; pass --unsafe-execute to run the "
              "students' code without a sandbox", file=sys.stderr)
        return 2
    questions = [q.strip() for q in args.questions.split(",") if q.strip()]
    unknown = [q for q in questions if q not in QUESTIONS]
    if unknown:
        parser.error(f"--questions: unknown ids {unknown}; valid ids: {', '.join(QUESTIONS)}")
    try:
        submissions = discover(args.submissions)
    except FileNotFoundError as err:
        parser.error(str(err))
    limits = sandbox.Limits(timeout=args.timeout, max_memory_mb=args.max_memory_mb, max_output_mb=args.max_output_mb,
                            max_processes=args.max_processes)
    results = sandbox.in_slots(lambda submission, slot: read_submission(
        submission, execute, limits, int(args.max_mb * 2**20), not args.unsafe_execute, slot),
        submissions, args.jobs if execute else 1)
    rows = grade(results, questions or None)
    write_csv(rows, args.out)
    students = len({r.submission.student for r in results})
    problems = sum(r.status not in ("ok",) for r in results)
    print(f"graded {students} students, {len(results)} files ({problems} with a problem status) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
