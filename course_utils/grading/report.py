"""The class report: ``python -m course_utils grade SUBMISSIONS --out grades.csv --report report.html``.

One self-contained HTML page in Korean (no script, no external file: inline CSS and SVG): the score distribution
of each question as a stacked bar chart, each student's total, the most common wrong answers with the feedback
they got, the written answers waiting for review, and the rows that need the instructor's attention (a STUDENT_ID
that is not the folder's, a file that could not be graded). Built from the grader's rows only, so it is the same
on every rerun.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from course_utils.exercises.catalog import QUESTIONS
from course_utils.grading.rows import FILE_ROW, TOTAL_ROW, order

BANDS = (("정답", "#2e7d32"), ("부분 점수", "#f9a825"), ("오답", "#c62828"), ("검토 대기", "#1565c0"),
         ("미응답", "#9e9e9e"))
TOP_WRONG = 3  # most common wrong answers shown per question
STYLE = """body{font-family:'Noto Sans KR','Malgun Gothic',sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f2f2f2}td.num{text-align:right}.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}"""


def band(row: dict[str, str]) -> str:
    """The chart band of one question row."""
    if row["status"] == "needs_review":
        return "검토 대기"
    if row["status"] in ("missing", "not_attempted") or not row["max_points"]:
        return "미응답"
    points = float(row["points"] or 0)
    return "정답" if points >= float(row["max_points"]) else "부분 점수" if points > 0 else "오답"


def _e(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], body: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """An HTML table (right-aligned numeric columns)."""
    cells = ["<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for line in body:
        cells.append("<tr>" + "".join(f"<td class=\"num\">{_e(v)}</td>" if i in numeric else f"<td>{_e(v)}</td>"
                                      for i, v in enumerate(line)) + "</tr>")
    return "<table>" + "".join(cells) + "</table>" if body else "<p>없음</p>"


def chart(questions: Sequence[str], counts: dict[str, Counter], students: int) -> str:
    """An inline SVG: one stacked horizontal bar per question (share of students per band)."""
    width, left, bar, gap = 640, 150, 22, 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" '
             f'height="{len(questions) * (bar + gap) + 30}" role="img" aria-label="문항별 점수 분포">']
    for i, qid in enumerate(questions):
        y, x = i * (bar + gap), float(left)
        parts.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" font-size="13">{_e(qid)}</text>')
        for name, colour in BANDS:
            n = counts[qid][name]
            if n:
                w = width * n / max(students, 1)
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}">'
                             f"<title>{_e(qid)} {_e(name)}: {n}명</title></rect>")
                if w > 24:
                    parts.append(f'<text x="{x + w / 2:.1f}" y="{y + bar * 0.7:.1f}" text-anchor="middle" '
                                 f'font-size="12" fill="#fff">{n}</text>')
                x += w
    axis = len(questions) * (bar + gap) + 14
    parts += [f'<text x="{left + width * t / 4:.1f}" y="{axis}" text-anchor="middle" font-size="11">{25 * t}%</text>'
              for t in range(5)]
    return "".join(parts) + "</svg>"


def render(rows: Sequence[dict[str, str]]) -> str:
    """The report as one HTML string."""
    question_rows = [r for r in rows if r["question"] not in (FILE_ROW, TOTAL_ROW)]
    totals = [r for r in rows if r["question"] == TOTAL_ROW]
    counted = sorted({r["question"] for r in question_rows if r["max_points"]}, key=order)
    written = sorted({r["question"] for r in question_rows if r["kind"] == "written" and r["status"] != "extra"},
                     key=order)
    counts = {qid: Counter(band(r) for r in question_rows if r["question"] == qid) for qid in counted + written}
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{_e(n)}</span>' for n, c in BANDS)
    review = {r["student"]: 0 for r in totals}
    for r in question_rows:
        review[r["student"]] += r["status"] == "needs_review"
    total_body = [(r["student"], r["points"], r["max_points"], review[r["student"]]) for r in totals]
    mean = sum(float(r["points"]) for r in totals) / max(len(totals), 1)
    top = float(totals[0]["max_points"]) if totals else 0.0
    wrong = Counter((r["question"], r["answer"]) for r in question_rows if r["status"] not in ("missing", "extra",
                    "not_attempted", "needs_review", "reviewed") and r["max_points"]
                    and float(r["points"] or 0) < float(r["max_points"]))
    feedback = {(r["question"], r["answer"]): r["feedback"] for r in question_rows}
    wrong_body = [(qid, answer, n, feedback[qid, answer])
                  for qid in counted for (q, answer), n in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))
                  if q == qid][: TOP_WRONG * max(len(counted), 1)]
    wrong_body = [line for qid in counted for line in [w for w in wrong_body if w[0] == qid][:TOP_WRONG]]
    pending = [(r["student"], r["question"], QUESTIONS[r["question"]].prompt if r["question"] in QUESTIONS else "",
                r["answer"]) for r in question_rows if r["status"] == "needs_review"]
    flagged = ("id_mismatch", "no_student_id", "duplicate")
    flags = [(r["student"], r["question"], r["status"], r["detail"]) for r in rows
             if r["status"] in flagged or (r["question"] == FILE_ROW and r["status"] != "ok")]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="ko"><head><meta charset="utf-8">', "<title>체크포인트 채점 보고서</title>",
        f"<style>{STYLE}</style></head><body>", "<h1>체크포인트 채점 보고서</h1>",
        f"<p>학생 {len(totals)}명 · 자동 채점 문항 {len(counted)}개 (만점 {top:g}점) · 서술형 {len(written)}개 · "
        f"평균 {mean:.2f}점</p>",
        "<h2>문항별 점수 분포</h2>", f'<p class="legend">{legend}</p>', chart(counted + written, counts, len(totals)),
        "<h2>학생별 합계</h2>", _table(("학생", "점수", "만점", "검토 대기 서술형"), total_body, (1, 2, 3)),
        "<h2>자주 나온 오답과 받은 피드백</h2>", _table(("문항", "답", "학생 수", "피드백"), wrong_body, (2,)),
        "<h2>검토를 기다리는 서술형 답</h2>", _table(("학생", "문항", "질문", "답"), pending),
        "<h2>확인이 필요한 항목</h2>", _table(("학생", "문항/파일", "상태", "내용"), flags),
        "</body></html>", ""])


def write_report(rows: Sequence[dict[str, str]], path: str | Path) -> Path:
    """Write the report (UTF-8) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(rows), encoding="utf-8")
    return path
