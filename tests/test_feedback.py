"""Feedback to each student (issue 28, item 4): one self-contained Korean page each, nothing of anyone else."""

from __future__ import annotations

import csv
import html
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "fixtures" / "grading" / "submissions"


def test_each_student_gets_a_page_with_their_answers_only_and_no_file_names(tmp_path):
    run = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(SUBMISSIONS), "--out",
                          str(tmp_path / "grades.csv"), "--feedback-dir", str(tmp_path / "feedback")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with (tmp_path / "grades.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    students = sorted({r["student"] for r in rows})
    pages = {p.stem: p.read_text(encoding="utf-8") for p in (tmp_path / "feedback").glob("*.html")}
    assert len(pages) == len(students)
    files = {r["file"] for r in rows if r["file"]} | {Path(r["file"]).name for r in rows if r["file"]}
    for student in students:
        page = next(text for text in pages.values() if f"<h1>{html.escape(student)} 님의" in text)
        assert "<script" not in page and 'src="http' not in page and 'lang="ko"' in page
        assert not [f for f in files if f and html.escape(f) in page], student
        total = next(r for r in rows if r["student"] == student and r["question"] == "TOTAL")
        assert f"<b>{total['points']}</b> / {total['max_points']}점" in page
        mine = {r["answer"] for r in rows if r["student"] == student}
        others = {r["answer"] for r in rows if r["student"] != student and len(r["answer"]) >= 8} - mine
        leaked = [a for a in others if html.escape(a) in page]
        assert not leaked, (student, leaked)
        for r in rows:
            if r["student"] == student and r["answer"] and r["question"] not in ("(file)", "TOTAL"):
                assert html.escape(r["answer"]) in page
