"""The class report (issue 15, item 5): one self-contained Korean HTML page, checked in real Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import CHROMIUM, launch

from course_utils.grading import report
from course_utils.grading.rows import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def row(student: str, question: str, status: str, points: str = "", max_points: str = "", **more: str) -> dict:
    """A grader row with the given fields."""
    kinds = {"s2_q1": "written", "s2_q2": "numeric", "s5_q2": "set"}
    return {c: "" for c in COLUMNS} | {"student": student, "question": question, "status": status, "points": points,
                                       "max_points": max_points, "kind": kinds.get(question, "")} | more


ROWS = [
    row("김민수", "(file)", "ok"),
    row("김민수", "s2_q1", "needs_review", answer="<script>alert(1)</script> 랭크가 낮기 때문"),
    row("김민수", "s2_q2", "graded", "1", "1", verdict="correct", answer="96.9"),
    row("김민수", "s5_q2", "graded", "0.83", "1", verdict="incorrect", answer='["nf4"]',
        feedback="2/3개를 맞혔습니다."),
    row("김민수", "TOTAL", "total", "1.83", "2"),
    row("lee", "(file)", "invalid_json"),
    row("lee", "s2_q1", "missing"),
    row("lee", "s2_q2", "id_mismatch", "0", "1", verdict="incorrect", answer="98.4",
        feedback="A와 B를 모두 세었나요?", detail="STUDENT_ID in the record is 'kim'"),
    row("lee", "s5_q2", "graded", "0.83", "1", verdict="incorrect", answer='["nf4"]', feedback="2/3개를 맞혔습니다."),
    row("lee", "TOTAL", "total", "0.83", "2"),
]


def test_the_report_is_one_self_contained_korean_page():
    page = report.render(ROWS)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="ko">' in page
    for heading in ("문항별 점수 분포", "학생별 합계", "자주 나온 오답과 받은 피드백", "검토를 기다리는 서술형 답",
                    "확인이 필요한 항목"):
        assert f"<h2>{heading}</h2>" in page
    assert "<svg" in page and "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # a student's answer is text, never markup
    assert "학생 2명" in page and "평균 1.33점" in page
    assert page.count("<td>[&quot;nf4&quot;]</td><td class=\"num\">2</td>") == 1  # the common wrong answer, counted
    assert "id_mismatch" in page and "invalid_json" in page
    assert report.render(ROWS) == page  # the same on every rerun


def test_the_cli_writes_the_report_and_the_wide_csv(tmp_path):
    from test_grade_robustness import make_class

    make_class(tmp_path / "class", 6)
    out, page = tmp_path / "grades.csv", tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "class"),
                          "--out", str(out),
                          "--report", str(page)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    html = page.read_text(encoding="utf-8")
    assert "s000" in html and "s2_q2" in html and "검토를 기다리는 서술형 답" in html
    wide = out.with_name("grades_wide.csv").read_text(encoding="utf-8-sig").splitlines()
    assert wide[0] == "student,s2_q2,s5_q2,total,max_points,needs_review" and len(wide) == 7


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"!!! REPORT BROWSER TEST SKIPPED: no chromium at {CHROMIUM} !!!")
def test_the_report_renders_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright
    from test_grade_robustness import make_class

    make_class(tmp_path / "class", 24)
    page_path = tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "class"), "--out",
                          str(tmp_path / "grades.csv"), "--report", str(page_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    SHOTS.mkdir(exist_ok=True)
    profile = tmp_path / "chromium"
    errors: list[str] = []
    with sync_playwright() as playwright:
        context = launch(playwright, profile, 1200, 900)
        try:
            page = context.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("request", lambda req: errors.append(req.url) if not req.url.startswith("file:") else None)
            page.goto(page_path.as_uri())
            assert page.locator("h1").inner_text() == "체크포인트 채점 보고서"
            bars = page.locator("svg rect")
            assert bars.count() >= 3 and bars.first.bounding_box()["width"] > 10
            assert page.locator("table").nth(0).locator("tr").count() == 24 + 1  # one row per student
            page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        finally:
            context.close()
    assert not errors, errors
    assert (SHOTS / "report.png").stat().st_size > 10_000
