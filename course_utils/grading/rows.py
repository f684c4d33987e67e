"""From checkpoint records to CSV rows: re-judging each answer, choosing among repeated answers, points, totals.

Every answer is judged again by the grader, never trusted from the notebook: a placeholder earns nothing whatever
verdict it claims; a written answer is ``needs_review`` whatever verdict it claims; a checkable answer is judged
against the student's own variant (from the student id in the record, or the submitting folder's name when the
record has none). Run-dependent answers are judged again with their inputs rebuilt where they come from seeded
data (s4_q1), with the measured value from the record otherwise, and the row says which.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from course_utils.exercises import variants
from course_utils.exercises.catalog import QUESTIONS, Question
from course_utils.exercises.engine import fingerprint, is_placeholder
from course_utils.grading.policy import Policy

DEFAULT_POLICY = Policy()  # today's grading: 1 point per judged question, written answers not counted

COLUMNS = ("student", "question", "kind", "status", "verdict", "points", "max_points", "answer", "answered_at",
           "file", "detail", "feedback")
QUESTION_STATUSES = {
    "graded": "judged automatically (verdict correct / incorrect / invalid; points may be partial)",
    "needs_review": "a written answer, recorded for the instructor (no points given automatically)",
    "not_attempted": "the check ran with the None placeholder (whatever verdict the record claims)",
    "missing": "no record of this question in the student's files",
    "duplicate": "answered in two or more of the student's files; the latest answer is graded",
    "id_mismatch": "the record's STUDENT_ID is not the submitting folder's student; judged against the record's id",
    "no_student_id": "a variant question answered without STUDENT_ID (default variant; --strict-ids: the folder's)",
    "extra": "a question outside the assignment's question list: shown, never counted in the maximum",
    "unknown_question": "a record with an id the course does not define",
    "reviewed": "a written answer scored by hand (grade --review review.csv)",
}
FILE_ROW = "(file)"
TOTAL_ROW = "TOTAL"
ANSWER_CHARS = 300
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula injection (OWASP CSV injection)
NUMERIC_COLUMNS = ("points", "max_points")


def fmt_points(value: float) -> str:
    """Points as CSV text: 1, 0, 0.67 (two decimals at most, no trailing zeros)."""
    return f"{round(value, 2):.2f}".rstrip("0").rstrip(".")


def answer_text(answer: Any) -> str:
    """An answer for the CSV: text as is, anything else as JSON, cut to ANSWER_CHARS."""
    import json

    if answer is None:
        return ""
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= ANSWER_CHARS else text[: ANSWER_CHARS - 1] + "…"


def safe_cell(column: str, value: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ (or tab, CR) gets a quote."""
    return "'" + value if column not in NUMERIC_COLUMNS and value.startswith(FORMULA_START) else value


def _same_student(a: str, b: str) -> bool:
    """Whether two ids name one student (NFC, trimmed, case-folded)."""
    try:
        return variants.normalize_id(a) == variants.normalize_id(b)
    except (TypeError, ValueError):
        return False


@cache
def _rebuilt(question_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A question's seeded inputs rebuilt once per grading run, with their fingerprints."""
    rebuild = QUESTIONS[question_id].rebuild
    context = rebuild() if rebuild else None
    return context, {k: fingerprint(v) for k, v in (context or {}).items()}


_JUDGED: dict[str, tuple[Any, str, float]] = {}  # judge() results by (question, answer, variant, context)


def rejudge(question: Question, record: dict[str, Any], student: str | None) -> tuple[str, float, str, str]:
    """(verdict, score, feedback, note) of a record, judged again for `student`'s variant."""
    claimed, answer = str(record.get("verdict", "")), record.get("answer")
    if is_placeholder(answer):
        note = f"placeholder answer (the notebook said {claimed})" if claimed != "not_attempted" else ""
        return "not_attempted", 0.0, "", note
    if not question.checkable:
        verdict, feedback, _ = question.judge(answer, {}, student)
        note = f"written answer: never judged automatically (the notebook said {claimed})" if claimed not in (
            "recorded", "invalid") else ""
        return str(verdict), 0.0, feedback, note
    context, note, context_key = {}, "", {}
    if question.context:
        recorded = record.get("context") if isinstance(record.get("context"), dict) else {}
        rebuilt, prints = _rebuilt(question.id)
        if rebuilt is not None and all(recorded.get(k) == v for k, v in prints.items()):
            context, note, context_key = rebuilt, "re-checked with the seeded inputs rebuilt", prints
        elif all(k in recorded and not isinstance(recorded[k], dict) for k in question.context):
            context = {k: v for k, v in recorded.items() if k in (*question.context, *question.optional_context)}
            note, context_key = "measured value taken from the record as is", context
        else:
            return claimed, 1.0 if claimed == "correct" else 0.0, str(record.get("feedback", "")), \
                "run-dependent: verdict taken from the record as is"
    key = json.dumps([question.id, answer, question.params(student) if question.draw else None, context_key],
                     sort_keys=True, default=repr)  # a class gives the same answers often: judge each once
    if key not in _JUDGED:
        try:
            _JUDGED[key] = question.judge(answer, context, student)
        except Exception as err:  # noqa: BLE001 - a damaged record must not stop the grading run
            return "invalid", 0.0, "", f"cannot judge the recorded answer ({type(err).__name__})"
    verdict, feedback, score = _JUDGED[key]
    if str(verdict) != claimed and claimed and claimed != "submitted":  # "submitted": the assignment edition
        note = "; ".join(filter(None, [note, f"verdict recomputed from the answer (notebook said {claimed})"]))
    return str(verdict), score, feedback, note


def _latest(found: list[tuple[Any, dict]]) -> tuple[Any, dict]:
    """The answer that counts: the latest real answer (a later blank copy never overrides one)."""
    real = [fr for fr in found if not is_placeholder(fr[1].get("answer"))] or found
    return max(real, key=lambda fr: (str(fr[1].get("timestamp", "")), fr[0].submission.name, fr[1]["_cell"],
                                     fr[1].get("_output", 0)))


def _attempt(question: Question, record: dict[str, Any], student: str | None, policy: Policy
             ) -> tuple[dict[str, Any], int | None, str]:
    """(the record with the answer that counts under the policy's attempt rule, its attempt number, a note)."""
    tried = [a for a in record.get("attempts") or [] if isinstance(a, dict) and "answer" in a]
    if not tried or is_placeholder(record.get("answer")):
        return record, None, ""
    tried = tried[: policy.max_attempts] if policy.max_attempts else tried
    index = 0 if policy.count == "first" else len(tried) - 1
    if policy.count == "best" and question.checkable:
        scores = [rejudge(question, {**record, "answer": a["answer"]}, student)[1] for a in tried]
        index = scores.index(max(scores))
    if policy.count == "last" and len(tried) == len(record["attempts"]) and not policy.attempt_penalty:
        return record, len(tried), ""
    note = f"attempt {index + 1} of {len(tried)} counted ({policy.count})"
    return {**record, "answer": tried[index]["answer"]}, index + 1, note


def question_row(student: str, question_id: str, found: list[tuple[Any, dict]], counted: bool,
                 strict_ids: bool = False, policy: Policy = DEFAULT_POLICY) -> dict[str, str]:
    """The row of one (student, question) from the records found in that student's files (`strict_ids`, or the
    policy's ``without_id = "folder"``: a record without a STUDENT_ID is judged against the folder's variant, else
    against the default one); points and attempts follow `policy`."""
    question = QUESTIONS.get(question_id)
    row = {"student": student, "question": question_id, "kind": question.kind if question else ""}
    most = policy.max_points(question_id, question.checkable) if counted and question is not None else 0.0
    max_points = fmt_points(most) if most else ""
    if not found:
        return {**row, "status": "missing", "points": "0" if max_points else "", "max_points": max_points}
    result, record = _latest(found)
    files = sorted({fr.submission.name for fr, _ in found})
    notes = [f"answered in {len(files)} files: {', '.join(files)}"] if len(files) > 1 else []
    common = {"answer": answer_text(record.get("answer")), "answered_at": str(record.get("timestamp", "")),
              "file": result.submission.name}
    if question is None:
        return {**row, **common, "status": "unknown_question", "verdict": str(record.get("verdict", "")),
                "detail": "; ".join(notes)}
    claimed_id = record.get("student")
    mismatch = isinstance(claimed_id, (str, int)) and not _same_student(str(claimed_id), student)
    no_id = bool(question.draw) and claimed_id is None
    judged_as: str | None = str(claimed_id) if mismatch else student
    if mismatch:
        notes.append(f"STUDENT_ID in the record is {claimed_id!r}, the folder is {student!r}")
    elif no_id:
        folder = strict_ids or policy.without_id == "folder"
        judged_as = student if folder else None
        notes.append("no STUDENT_ID in the record: judged against the "
                     + ("folder's variant" if folder else "default (practice) variant"))
    record, attempt, attempt_note = _attempt(question, record, judged_as, policy)
    verdict, score, feedback, note = rejudge(question, record, judged_as)
    if attempt and attempt > 1 and policy.attempt_penalty and question.checkable:
        score = max(0.0, score - policy.attempt_penalty * (attempt - 1))
        attempt_note += f"; penalty {policy.attempt_penalty:g} per attempt after the first"
    common["answer"] = answer_text(record.get("answer"))
    if not question.checkable and isinstance(record.get("answer"), str):
        common["answer_full"] = record["answer"]  # for review.csv (the CSV cell is cut at ANSWER_CHARS)
    notes += [n.strip("; ") for n in (attempt_note, note) if n]
    status = ("extra" if not counted else "id_mismatch" if mismatch else "duplicate" if len(files) > 1
              else "not_attempted" if verdict == "not_attempted" else "needs_review" if verdict == "recorded"
              else "no_student_id" if no_id else "graded")
    points = fmt_points(score * (most or 1.0)) if question.checkable else ""
    return {**row, **common, "status": status, "verdict": verdict, "points": points, "max_points": max_points,
            "detail": "; ".join(notes), "feedback": feedback}


def total_row(student: str, rows: list[dict[str, str]]) -> dict[str, str]:
    """The TOTAL row: points and max points of the assignment's questions, and a count of statuses."""
    counted = [r for r in rows if r.get("max_points")]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"student": student, "question": TOTAL_ROW, "status": "total",
            "points": fmt_points(sum(float(r["points"] or 0) for r in counted)),
            "max_points": fmt_points(sum(float(r["max_points"]) for r in counted)),
            "detail": ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))}


def order(question_id: str) -> tuple[int, str]:
    """Registry order first, unknown ids after, by name."""
    ids = list(QUESTIONS)
    return (ids.index(question_id), "") if question_id in ids else (len(ids), question_id)


def assignment_ids(results: Sequence[Any]) -> set[str]:
    """The assignment's question list when none is given: the ids in the code of at least half of the students
    whose notebooks call checkpoint() at all (one student's extra question stays out of everyone's maximum)."""
    readable: dict[str, set[str]] = {}
    for r in results:
        if r.referenced:
            readable.setdefault(r.submission.student, set()).update(r.referenced)
    counts: dict[str, int] = {}
    for ids in readable.values():
        for qid in ids:
            counts[qid] = counts.get(qid, 0) + 1
    return {qid for qid, n in counts.items() if 2 * n >= len(readable)}


def grade(results: Iterable[Any], questions: Sequence[str] | None = None, strict_ids: bool = False,
          policy: Policy = DEFAULT_POLICY) -> list[dict[str, str]]:
    """CSV rows for all students: file rows, question rows (in registry order), then a TOTAL row each."""
    results = sorted(results, key=lambda r: (r.submission.student, r.submission.name))
    expected = set(questions) if questions else assignment_ids(results)
    rows: list[dict[str, str]] = []
    for student in sorted({r.submission.student for r in results}):
        mine = [r for r in results if r.submission.student == student]
        rows += [{"student": student, "question": FILE_ROW, "status": r.status, "file": r.submission.name,
                  "detail": r.detail} for r in mine]
        ids = expected | {rec["question"] for r in mine for rec in r.records}
        question_rows = [question_row(student, qid, [(r, rec) for r in mine for rec in r.records
                                                     if rec["question"] == qid], qid in expected, strict_ids, policy)
                         for qid in sorted(ids, key=order)]
        rows += question_rows + [total_row(student, question_rows)]
    return [{column: row.get(column, "") for column in COLUMNS} | ({"answer_full": row["answer_full"]}
                                                                  if "answer_full" in row else {}) for row in rows]


def wide_rows(rows: Sequence[dict[str, str]]) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of the wide table: one row per student, one column of points per counted question."""
    counted = sorted({r["question"] for r in rows if r["max_points"] and r["question"] != TOTAL_ROW}, key=order)
    table: dict[str, dict[str, str]] = {}
    for r in rows:
        line = table.setdefault(r["student"], {"student": r["student"]})
        if r["question"] in counted:
            line[r["question"]] = r["points"]
        elif r["question"] == TOTAL_ROW:
            line |= {key: r[key] for key in ("late", "minutes_late", "raw_points") if key in r}
            line |= {"total": r["points"], "max_points": r["max_points"],
                     "needs_review": str(sum(x["student"] == r["student"] and x["status"] == "needs_review"
                                             for x in rows))}
    late = [key for key in ("late", "minutes_late", "raw_points") if any(key in r for r in rows)]
    return ["student", *counted, "total", "max_points", "needs_review", *late], list(table.values())


def write_csv(rows: Sequence[dict[str, str]], out: str | Path, columns: Sequence[str] = COLUMNS) -> Path:
    """Write rows atomically as UTF-8 with a BOM (Excel shows Korean), formula-like cells escaped."""
    out = Path(out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: safe_cell(c, str(row.get(c, ""))) for c in columns} for row in rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as file:
            file.write(buffer.getvalue())
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return out
