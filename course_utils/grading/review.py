"""Written answers scored by a person, once: ``review.csv`` and the review page.

``grade`` writes ``<out>_review.csv`` (or the file named by ``--review``): one row per student and written question
with the full answer, its sha256, the question's maximum and empty ``points`` and ``comment`` columns, and beside it
``<name>.html``, all students' answers grouped by question with the model answer. The instructor fills ``points``
(0 … max) and ``comment``; ``grade --review review.csv`` then merges every filled score into the question rows (status
``reviewed``), the totals, the wide CSV, the report and the feedback files, and rewrites the file with the scores
kept. A row whose answer changed since it was scored (another sha256) is not counted: its status is
``answer_changed`` in review.csv and ``needs_review`` in the grades, with a note, until it is scored again.
"""

from __future__ import annotations

import csv
import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils.exercises.catalog import QUESTIONS
from course_utils.grading.rows import FILE_ROW, TOTAL_ROW, fmt_points, order, total_row, write_csv

COLUMNS = ("student", "question", "max_points", "points", "comment", "status", "answer", "answer_sha256")
STATUSES = {"to_score": "not scored yet", "scored": "scored; merged into the grades",
            "answer_changed": "scored, but the answer changed since: score it again (clear the status)"}


@dataclass(frozen=True)
class Score:
    """One filled review row: points, the instructor's comment, and the answer it was given for."""

    points: float
    comment: str
    sha256: str


def digest(answer: str) -> str:
    """The sha256 of a full answer (what a score was given for)."""
    return hashlib.sha256(answer.encode("utf-8")).hexdigest()


def _unescape(value: str) -> str:
    """A cell as written by write_csv (a leading quote protects formula-like text)."""
    return value[1:] if value.startswith("'") and value[1:2] in ("=", "+", "-", "@", "\t", "\r") else value


def load(path: str | Path) -> dict[tuple[str, str], Score]:
    """The filled scores of a review.csv; a ValueError names the line of a bad score."""
    path = Path(path)
    if not path.is_file():
        return {}
    scores: dict[tuple[str, str], Score] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("student", "question", "points", "answer_sha256") if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"--review {path.name}: columns {missing} are missing; expected {', '.join(COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            text = (row.get("points") or "").strip()
            if not text:
                continue
            try:
                points = float(text.replace(",", "."))
            except ValueError:
                raise ValueError(f"--review {path.name} line {line}: points must be a number, got {text!r}") from None
            top = float(row.get("max_points") or "inf")
            if not 0 <= points <= top:
                raise ValueError(f"--review {path.name} line {line}: points {points:g} outside 0 … {top:g}")
            scores[row["student"], row["question"]] = Score(points, _unescape(row.get("comment") or "").strip(),
                                                            row.get("answer_sha256") or "")
    return scores


def is_reviewable(row: Mapping[str, str]) -> bool:
    """A question row of a written question that holds an answer to read (not missing, not the placeholder)."""
    return (row["kind"] == "written" and row["question"] not in (FILE_ROW, TOTAL_ROW) and bool(row["answer"])
            and row["status"] not in ("extra", "missing", "not_attempted"))


def apply(rows: list[dict[str, str]], scores: Mapping[tuple[str, str], Score]) -> list[dict[str, str]]:
    """`rows` with the filled scores merged (totals recomputed); a changed answer stays needs_review, flagged."""
    if not scores:
        return rows
    out: list[dict[str, str]] = []
    mine: list[dict[str, str]] = []
    for row in rows:
        row = dict(row)
        score = scores.get((row["student"], row["question"]))
        if score is not None and is_reviewable(row):
            if score.sha256 == digest(row.get("answer_full", row["answer"])):
                row |= {"status": "reviewed", "verdict": "reviewed",
                        "points": fmt_points(score.points) if row["max_points"] else "",
                        "feedback": score.comment,
                        "detail": "; ".join(filter(None, [row["detail"], "scored by hand (review.csv)"]))}
            else:
                row["detail"] = "; ".join(filter(None, [row["detail"], "answer changed since it was scored in "
                                                        "review.csv: score it again"]))
        if row["question"] == TOTAL_ROW:
            row = {**row, **total_row(row["student"], mine)}
            mine = []
        elif row["question"] != FILE_ROW:
            mine.append(row)
        out.append(row)
    return out


def review_rows(rows: Sequence[dict[str, str]], scores: Mapping[tuple[str, str], Score]) -> list[dict[str, str]]:
    """The rows of review.csv: every reviewable row, with the scores already given kept."""
    out = []
    for row in rows:
        if not is_reviewable(row):
            continue
        answer = row.get("answer_full", row["answer"])
        score = scores.get((row["student"], row["question"]))
        line = {"student": row["student"], "question": row["question"], "max_points": row["max_points"],
                "answer": answer, "answer_sha256": digest(answer), "status": "to_score"}
        if score is not None:
            changed = score.sha256 != line["answer_sha256"]
            line |= {"points": fmt_points(score.points), "comment": score.comment,
                     "status": "answer_changed" if changed else "scored"}
        out.append(line)
    return sorted(out, key=lambda r: (order(r["question"]), r["student"]))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render(lines: Sequence[dict[str, str]]) -> str:
    """The review page: per written question, its prompt and model answer, then every student's answer."""
    parts = ["<!DOCTYPE html>", '<html lang="ko"><head><meta charset="utf-8"><title>서술형 답 검토</title>',
             "<style>body{font-family:'Noto Sans KR',sans-serif;margin:24px;max-width:1100px}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
             ".model{background:#f4f8ff;padding:8px}.changed{background:#fff3e0}</style></head><body>",
             "<h1>서술형 답 검토</h1>", "<p>점수는 review.csv의 points 열(0 … 만점)에, 의견은 comment 열에 적고 "
             "<code>grade --review review.csv</code>로 다시 채점하세요.</p>"]
    for qid in sorted({line["question"] for line in lines}, key=order):
        mine = [line for line in lines if line["question"] == qid]
        question = QUESTIONS.get(qid)
        prompt = question.prompt_text(None) if question else ""
        model = question._fill(question.explanation, None) if question else ""
        parts += [f"<h2>{_e(qid)} (만점 {_e(mine[0]['max_points'] or '0')}점, {len(mine)}명)</h2>",
                  f"<p><b>질문:</b> {_e(prompt)}</p>", f'<p class="model"><b>모범 답안·채점 기준:</b> {_e(model)}</p>',
                  "<table><tr><th>학생</th><th>답</th><th>점수</th><th>의견</th><th>상태</th></tr>"]
        parts += [f'<tr class="{"changed" if line["status"] == "answer_changed" else ""}"><td>{_e(line["student"])}'
                  f'</td><td>{_e(line["answer"]) or "(답 없음)"}</td><td>{_e(line.get("points", ""))}</td>'
                  f'<td>{_e(line.get("comment", ""))}</td><td>{_e(line["status"])}</td></tr>' for line in mine]
        parts.append("</table>")
    return "\n".join([*parts, "</body></html>", ""])


def write(rows: Sequence[dict[str, str]], path: str | Path, scores: Mapping[tuple[str, str], Score]) -> Path:
    """Write review.csv (atomically, scores kept) and the review page beside it (same name, .html)."""
    lines = review_rows(rows, scores)
    path = write_csv(lines, path, COLUMNS)
    path.with_suffix(".html").write_text(render(lines), encoding="utf-8")
    return path
