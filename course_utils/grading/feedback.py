"""Feedback to each student: ``grade ... --feedback-dir DIR`` writes one self-contained Korean HTML page per student.

Each page holds that student's rows only: per question the prompt, their answer, the verdict, points out of the
maximum, the grader's feedback text and the instructor's comment (review.csv), then the total (and, with a deadline,
the late status and the points before the penalty). No file name, no detail column, nothing of another student.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from course_utils.exercises.catalog import QUESTIONS
from course_utils.grading.rows import FILE_ROW, TOTAL_ROW

VERDICTS = {"correct": "정답", "incorrect": "오답", "invalid": "형식 오류", "not_attempted": "미응답",
            "recorded": "검토 대기", "reviewed": "강사 채점", "": "제출 없음"}
STYLE = ("body{font-family:'Noto Sans KR','Malgun Gothic',sans-serif;margin:24px;max-width:900px;color:#222}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;"
         "text-align:left}th{background:#f2f2f2}.total{font-size:1.2em}")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def file_name(student: str, taken: set[str]) -> str:
    """A safe, unique file name for a student's page (Korean letters kept)."""
    base = re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"
    name, n = f"{base}.html", 2
    while name in taken:
        name, n = f"{base}_{n}.html", n + 1
    taken.add(name)
    return name


def render(student: str, rows: Sequence[dict[str, str]]) -> str:
    """One student's page from their question rows and TOTAL row."""
    questions = [r for r in rows if r["question"] not in (FILE_ROW, TOTAL_ROW) and r["status"] != "extra"]
    total = next((r for r in rows if r["question"] == TOTAL_ROW), None)
    body = []
    for r in questions:
        question = QUESTIONS.get(r["question"])
        prompt = question.prompt_text(student) if question else ""
        verdict = VERDICTS.get(r["verdict"], r["verdict"]) if r["status"] != "missing" else "제출 없음"
        points = f"{r['points'] or '–'} / {r['max_points']}" if r["max_points"] else "(점수 없음)"
        label = "강사 의견: " if r["status"] == "reviewed" and r["feedback"] else ""
        body.append(f"<tr><td>{_e(r['question'])}</td><td>{_e(prompt)}</td><td>{_e(r['answer'])}</td>"
                    f"<td>{_e(verdict)}</td><td>{_e(points)}</td><td>{_e(label + r['feedback'])}</td></tr>")
    summary = ""
    if total is not None:
        summary = f'<p class="total">합계: <b>{_e(total["points"])}</b> / {_e(total["max_points"])}점</p>'
        if total.get("late"):
            summary += (f"<p>제출: {_e(total['late'])} ({_e(total.get('minutes_late', ''))}분 늦음), 감점 전 "
                        f"{_e(total.get('raw_points', ''))}점</p>")
    return "\n".join([
        "<!DOCTYPE html>", f'<html lang="ko"><head><meta charset="utf-8"><title>{_e(student)} 채점 결과</title>',
        f"<style>{STYLE}</style></head><body>", f"<h1>{_e(student)} 님의 채점 결과</h1>", summary,
        "<table><tr><th>문항</th><th>질문</th><th>내 답</th><th>결과</th><th>점수</th><th>피드백</th></tr>",
        *body, "</table>", "<p>서술형 답은 강사가 읽고 점수와 의견을 적었습니다. 질문은 강사에게 하세요.</p>",
        "</body></html>", ""])


def write(rows: Sequence[dict[str, str]], folder: str | Path) -> dict[str, Path]:
    """Write one page per student into `folder`; returns {student: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written = {}
    for student in sorted({r["student"] for r in rows}):
        path = folder / file_name(student, taken)
        path.write_text(render(student, [r for r in rows if r["student"] == student]), encoding="utf-8")
        written[student] = path
    return written
