"""The whole grading loop on the fixture class (issue 28, done-when): grade -> review.csv filled -> grade --review
-> totals, wide CSV, Canvas and Moodle files and the per-student feedback all agree."""

from __future__ import annotations

import csv
import html
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "fixtures" / "grading" / "submissions"
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kim", "mallory")
POLICY = """[points]
auto = 2
written = 3
[attempts]
count = "last"
[lms]
assignment = "PEFT 과제 1"
"""


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def grade(tmp_path: Path, *extra: str, lms: str = "canvas") -> None:
    roster = tmp_path / f"{lms}_roster.csv"
    done = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(SUBMISSIONS), "--out",
                           str(tmp_path / "out" / "grades.csv"), "--policy", str(tmp_path / "grading.toml"),
                           "--report", str(tmp_path / "out" / "report.html"), "--feedback-dir",
                           str(tmp_path / "out" / "feedback"), "--roster", str(roster), "--lms", lms, *extra],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_grade_review_regrade_and_every_output_agrees(tmp_path):
    (tmp_path / "grading.toml").write_text(POLICY, encoding="utf-8")
    canvas = ["Student,ID,SIS User ID,SIS Login ID,Section"] + [
        f'"{s.title()}, Test",{100 + i},2026{i:06d},{s},A' for i, s in enumerate(STUDENTS)]
    (tmp_path / "canvas_roster.csv").write_text("\n".join(canvas) + "\n", encoding="utf-8")
    moodle = ["First name,Surname,Username,Email address"] + [f"{s.title()},Test,{s},{s}@uni.ac.kr" for s in STUDENTS]
    (tmp_path / "moodle_roster.csv").write_text("\n".join(moodle) + "\n", encoding="utf-8")
    grade(tmp_path)
    review = tmp_path / "out" / "grades_review.csv"
    lines = read(review)
    assert lines and all(line["max_points"] == "3" and line["points"] == "" for line in lines)
    for n, line in enumerate(lines):  # the instructor scores every written answer once
        line["points"], line["comment"] = str(n % 4), f"의견 {line['student']} {line['question']}"
    with review.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    grade(tmp_path, "--review", str(review))
    canvas_rows = list(csv.reader((tmp_path / "out" / "grades_canvas.csv").read_text(encoding="utf-8").splitlines()))
    grade(tmp_path, "--review", str(review), lms="moodle")

    rows = read(tmp_path / "out" / "grades.csv")
    totals = {r["student"]: r for r in rows if r["question"] == "TOTAL"}
    for student, total in totals.items():  # the total is the sum of the question rows, hand scores included
        mine = [r for r in rows if r["student"] == student and r["max_points"] and r["question"] != "TOTAL"]
        assert abs(sum(float(r["points"] or 0) for r in mine) - float(total["points"])) < 0.011, student
    assert all(r["status"] != "needs_review" for r in rows)
    scored = {(line["student"], line["question"]): str(int(line["points"])) for line in lines}
    for (student, question), points in scored.items():
        row = next(r for r in rows if r["student"] == student and r["question"] == question)
        assert row["status"] == "reviewed" and row["points"] == points
    wide = {r["student"]: r for r in read(tmp_path / "out" / "grades_wide.csv")}
    assert {s: w["total"] for s, w in wide.items()} == {s: t["points"] for s, t in totals.items()}
    assert canvas_rows[0][-1] == "PEFT 과제 1" and canvas_rows[1][-1] == next(iter(totals.values()))["max_points"]
    assert {r[3]: r[-1] for r in canvas_rows[2:]} == {s: t["points"] for s, t in totals.items()}
    moodle_rows = read(tmp_path / "out" / "grades_moodle.csv")
    moodle_totals = {r["Email address"].split("@")[0]: r["PEFT 과제 1"] for r in moodle_rows}
    assert moodle_totals == {s: t["points"] for s, t in totals.items()}
    for student, total in totals.items():
        page = (tmp_path / "out" / "feedback" / f"{student}.html").read_text(encoding="utf-8")
        assert f"<b>{total['points']}</b> / {total['max_points']}점" in page
        for (who, question), _ in scored.items():
            comment = html.escape(f"의견 {who} {question}")
            assert (comment in page) == (who == student), (student, who)
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert all(f"<td>{s}</td><td class=\"num\">{t['points']}</td>" in report for s, t in totals.items())
