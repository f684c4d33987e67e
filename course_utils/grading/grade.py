"""Instructor grading: ``python -m course_utils grade SUBMISSIONS... --out grades.csv [--report report.html]``.

By default the grader runs **no student code**: it reads the checkpoint records that ``q.check(...)`` left in the
saved notebooks (MIME type ``application/vnd.peft-course.checkpoint+json``). With ``--execute`` each notebook is
first run from scratch in its own fresh kernel, inside its own sandbox (``course_utils.grading.sandbox``: bubblewrap, no
network, a throwaway HOME, limits on time, memory, processes and output); ``--jobs N`` runs N sandboxes at once.
Without a usable sandbox ``--execute`` refuses, unless ``--unsafe-execute`` is given.

Who is the student?
    * a folder given on the command line is a class folder: each sub-folder is one student (the sub-folder's name),
      and every file below it is that student's;
    * a file (given directly, or lying directly in a class folder) belongs to the student named by the part of its
      file name before ``__`` (``kim_minsu__01_lora_math.ipynb`` → ``kim_minsu``), or to its stem when there is none.

Folder and file names are Unicode-normalized (NFC: macOS zips write NFD). Symbolic links are never followed (one
that points back into the class folder must not create a student). A student folder without any readable file still
gets a row (``no_notebook``).

One student may hand in several notebooks (01, 02, ...): their questions are merged. When two of a student's files
answer the same question, the row's status is ``duplicate``, its ``detail`` names the files, and the answer with
the latest timestamp is graded.

The assignment's question list (``--assignment release/assignment``, or ``--questions``; by default the ids in
the code of at least half the students whose notebooks call ``checkpoint()``) fixes everyone's maximum: another
id in a student's records is an ``extra`` row that never counts. Answers are judged again, not trusted
(:mod:`course_utils.grading.rows`).

Output: one CSV row per (student, file) with the file's status, one per (student, question) with the verdict, and
one ``TOTAL`` row per student; sorted, written atomically, identical on every rerun (no time of the grading run
appears in it: ``answered_at`` is the time saved in the notebook, and is left empty with ``--execute``). Beside it a
wide CSV (``--wide``, default ``<out>_wide.csv``: one row per student, one column per question, for LMS upload) and,
with ``--report``, the class report (:mod:`course_utils.grading.report`). The CSVs are UTF-8 with a BOM (Excel shows
Korean) and cells that start with = + - @ are escaped.
Every bad submission becomes a row with a status; the grader never stops on one.

The loop (docs/instructors.md): ``--policy grading.toml`` (:mod:`~course_utils.grading.policy`: points, attempts,
deadline, LMS); ``<out>_review.csv`` and its page, merged back with ``--review`` (:mod:`~course_utils.grading.review`);
``--feedback-dir`` (:mod:`~course_utils.grading.feedback`); ``--roster``/``--lms`` (:mod:`~course_utils.grading.lms`);
``--due``/``--submission-times`` (:mod:`~course_utils.grading.late`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils.exercises.catalog import QUESTIONS, RECORD_MIME
from course_utils.grading import late, sandbox
from course_utils.grading.rows import (  # noqa: F401  (the grading API, re-exported)
    COLUMNS,
    FILE_ROW,
    QUESTION_STATUSES,
    TOTAL_ROW,
    grade,
    wide_rows,
    write_csv,
)
from course_utils.runtime.cli import CommandParser

FILE_STATUSES = {
    "ok": "read; it holds checkpoint records",
    "no_answers": "a notebook without any checkpoint record (cells not run, or outputs cleared)",
    "cell_error": "a cell raised an error (the records of the other cells still count)",
    "invalid_json": "not valid JSON (a damaged or half-saved file)",
    "not_a_notebook": "not a .ipynb notebook (other file type, or JSON without notebook cells)",
    "too_large": "larger than --max-mb; not read",
    "no_notebook": "a student folder without any readable file",
    **{status: f"--execute: {text}" for status, text in sandbox.STATUSES.items() if status != "ok"},
}
DEFAULT_MAX_MB = 20.0
DEFAULT_LIMITS = sandbox.Limits()  # --timeout 600 s, --max-memory-mb 8192, ... (course_utils.grading.sandbox)
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


def nfc(name: str) -> str:
    """A name as Unicode NFC (macOS zips store NFD: one student must not become two)."""
    return unicodedata.normalize("NFC", name)


def student_from_filename(path: Path) -> str:
    """The student a loose file belongs to: the file name before ``__``, a Canvas download's ``name_userid``, else
    its stem (NFC)."""
    canvas = late.canvas_student(path.name)
    if canvas:
        return nfc(canvas[0])
    stem = path.name[: -len(NOTEBOOK_SUFFIX)] if path.name.endswith(NOTEBOOK_SUFFIX) else path.stem
    return nfc(stem.split("__", 1)[0] if "__" in stem else stem)


def _skipped(name: str) -> bool:
    """Hidden files and folders, notebook checkpoints, macOS zip metadata."""
    return name.startswith(".") or name in SKIPPED_PARTS


def _visible_files(folder: Path) -> list[Path]:
    """Regular files below `folder`, sorted, never through a symbolic link, skipping hidden and checkpoint parts."""
    files = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not _skipped(d) and not (Path(top) / d).is_symlink()]
        files += [Path(top) / n for n in names if not _skipped(n) and not (Path(top) / n).is_symlink()
                  and (Path(top) / n).is_file()]
    return sorted(files)


def discover(paths: Sequence[str | Path]) -> list[Submission]:
    """Submissions from files and class folders (see the module docstring for who is the student)."""
    found: list[Submission] = []
    for raw in paths:
        root = Path(raw)
        if root.is_file():
            found.append(Submission(student_from_filename(root), root, nfc(root.name)))
        elif root.is_dir():
            for entry in sorted(root.iterdir()):
                if _skipped(entry.name) or entry.is_symlink():
                    continue
                if entry.is_dir():
                    files = _visible_files(entry)
                    found += [Submission(nfc(entry.name), f, nfc(f.relative_to(root).as_posix())) for f in files]
                    if not files:
                        found.append(Submission(nfc(entry.name), entry, nfc(entry.name) + "/"))
                elif entry.is_file():
                    found.append(Submission(student_from_filename(entry), entry, nfc(entry.name)))
        else:
            raise FileNotFoundError(f"SUBMISSIONS: {raw!s} is neither a file nor a folder")
    return sorted(found, key=lambda s: (s.student, s.name))


def assignment_questions(folder: str | Path) -> list[str]:
    """The question ids in the code of the assignment's notebooks (a folder of them, or one notebook)."""
    root = Path(folder)
    paths = sorted(root.glob("*.ipynb")) if root.is_dir() else [root]
    if not paths or not all(p.is_file() for p in paths):
        raise FileNotFoundError(f"--assignment: no notebooks at {folder!s}")
    ids: list[str] = []
    for path in paths:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        ids += [i for c in cells if c.get("cell_type") == "code" for i in CALL.findall(_source(c)) if i not in ids]
    return ids


# ------------------------------------------------------------------------------------------------------------
# Reading one notebook (saved outputs), or executing it first
# ------------------------------------------------------------------------------------------------------------


def _load(submission: Submission, max_bytes: int) -> tuple[dict | None, str, str]:
    """(notebook dict or None, status, detail) for a file, reading at most `max_bytes`."""
    path = submission.path
    if path.is_dir():
        return None, "no_notebook", "the folder holds no readable file"
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
        for position, output in enumerate(outputs if isinstance(outputs, list) else []):
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
                records.append({**record, "_cell": index, "_output": position})
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
# Command line
# ------------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """The CLI's arguments."""
    statuses = "; ".join(f"{k}: {v}" for k, v in {**FILE_STATUSES, **QUESTION_STATUSES}.items())
    parser = CommandParser(
        prog="python -m course_utils grade",
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
    parser.add_argument("--assignment", default="",
                        help="the assignment's notebooks (e.g. release/assignment): their question ids are graded")
    parser.add_argument("--questions", default="",
                        help="comma-separated question ids to grade (default: --assignment's, else the ids in the "
                             "code of at least half the students whose notebooks call checkpoint())")
    parser.add_argument("--policy", default="", help="the grading policy (grading.toml: points, attempts, deadline, "
                        "LMS; see course_utils.grading.policy); default: 1 point per judged question, latest answer")
    parser.add_argument("--strict-ids", action="store_true",
                        help="judge a variant answer without STUDENT_ID against the folder's variant (default: the "
                             "default variant, flagged no_student_id)")
    parser.add_argument("--wide", default="", help="the wide CSV for LMS upload (default: <out>_wide.csv)")
    parser.add_argument("--review", default="",
                        help="review.csv with hand-given points for written answers: merged into every output and "
                             "rewritten with the scores kept (default: <out>_review.csv is written, not merged)")
    parser.add_argument("--roster", default="", help="the LMS's roster export (Canvas gradebook CSV or Moodle CSV)")
    parser.add_argument("--lms", default="", choices=("", "canvas", "moodle"), help="write that LMS's import file")
    parser.add_argument("--lms-out", default="", help="the LMS import file (default: <out>_<lms>.csv)")
    parser.add_argument("--assignment-title", default="", help="the LMS column's title (default: the policy's)")
    parser.add_argument("--assignment-id", type=int, default=-1, help="Canvas: the assignment's id (0: a new one)")
    parser.add_argument("--due", default="", help="the deadline, ISO 8601 with a time zone (default: the policy's)")
    parser.add_argument("--submission-times", default="", help="CSV student,submitted_at (default: the policy's)")
    parser.add_argument("--feedback-dir", default="", help="write one Korean HTML feedback page per student here")
    parser.add_argument("--report", default="", help="also write the class report (one self-contained HTML page)")
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
    from course_utils.grading import policy as policies

    policy = policies.load(args.policy) if args.policy else policies.Policy()
    questions = [q.strip() for q in args.questions.split(",") if q.strip()]
    if args.assignment:
        try:
            questions += [q for q in assignment_questions(args.assignment) if q not in questions]
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
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
    rows = grade(results, questions or None, args.strict_ids, policy)
    out = Path(args.out)
    from course_utils.grading import review

    review_path = Path(args.review) if args.review else out.with_name(f"{out.stem}_review.csv")
    scores = review.load(review_path)
    rows = review.apply(rows, scores) if args.review else rows
    review.write(rows, review_path, scores)
    due = late.parse_time(args.due, "--due") if args.due else policy.due
    if due is not None:
        times_file = args.submission_times or policy.submissions
        flagged = {s.student for s in submissions if (late.canvas_student(s.path.name) or ("", False))[1]}
        rows = late.apply(rows, due, late.read_times(times_file) if times_file else {}, flagged,
                          policy.late_penalty_per_day, policy.max_late_penalty)
    write_csv(rows, args.out, COLUMNS + (late.COLUMNS if due is not None else ()))
    columns, wide = wide_rows(rows)
    write_csv(wide, args.wide or out.with_name(f"{out.stem}_wide{out.suffix or '.csv'}"), columns)
    if args.report:
        from course_utils.grading import report

        report.write_report(rows, args.report)
    if args.feedback_dir:
        from course_utils.grading import feedback

        feedback.write(rows, args.feedback_dir)
    roster, kind = args.roster or policy.roster, args.lms or policy.lms
    if bool(roster) != bool(kind):
        parser.error("--roster and --lms go together (or [lms] roster and kind in the policy)")
    if roster:
        from course_utils.grading import lms

        target = args.lms_out or out.with_name(f"{out.stem}_{kind}.csv")
        title = args.assignment_title or policy.assignment
        hits, misses = lms.export_graded(rows, results, roster, kind, target, title,
                                         policy.assignment_id if args.assignment_id < 0 else args.assignment_id)
        print(f"grade: {kind} import file {target}: {hits} matched, {misses} submissions without a roster entry")
    students = len({r.submission.student for r in results})
    problems = sum(r.status not in ("ok",) for r in results)
    print(f"graded {students} students, {len(results)} files ({problems} with a problem status) -> {args.out}")
    return 0
