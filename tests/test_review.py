"""Written answers scored by a person, once (issue 28, item 3): review.csv, the review page, grade --review."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from test_grade_robustness import call, output, save

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

ROOT = Path(__file__).resolve().parent.parent
LONG = "필요한 변화의 랭크가 낮기 때문입니다. " * 30  # longer than the grades CSV's 300 characters


def grade_cli(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "grading.toml").write_text("[points]\nwritten = 2\n", encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out",
                           str(tmp_path / "out" / "grades.csv"), "--policy", str(tmp_path / "grading.toml"), *extra],
                          cwd=ROOT, capture_output=True, text=True)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def fill(path: Path, scores: dict[str, tuple[str, str]]) -> None:
    rows = read(path)
    for row in rows:
        if row["student"] in scores:
            row["points"], row["comment"] = scores[row["student"]]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def class_folder(tmp_path: Path, ann_answer: str = LONG) -> None:
    for student, answer in (("ann", ann_answer), ("bob", "잘 모르겠습니다")):
        save(tmp_path / "c" / student / "01.ipynb", [(call("s2_q1"), [output("s2_q1", answer, student)])])


def test_review_csv_has_one_row_per_written_answer_with_the_full_answer_and_a_page_by_question(tmp_path):
    class_folder(tmp_path)
    assert grade_cli(tmp_path).returncode == 0
    lines = read(tmp_path / "out" / "grades_review.csv")
    assert [(r["student"], r["question"], r["max_points"], r["points"], r["comment"]) for r in lines] == [
        ("ann", "s2_q1", "2", "", ""), ("bob", "s2_q1", "2", "", "")]
    assert lines[0]["answer"] == LONG
    page = (tmp_path / "out" / "grades_review.html").read_text(encoding="utf-8")
    assert page.count("<h2>") == 1 and "모범 답안" in page and "잘 모르겠습니다" in page and "LoRA" in page


def test_grade_review_merges_scores_keeps_them_and_flags_a_changed_answer(tmp_path):
    class_folder(tmp_path)
    grade_cli(tmp_path)
    review = tmp_path / "out" / "grades_review.csv"
    fill(review, {"ann": ("1.5", "좋습니다. 근거를 더 적으세요."), "bob": ("0", "")})
    assert grade_cli(tmp_path, "--review", str(review)).returncode == 0
    rows = {(r["student"], r["question"]): r for r in read(tmp_path / "out" / "grades.csv")}
    assert rows["ann", "s2_q1"]["status"] == "reviewed" and rows["ann", "s2_q1"]["points"] == "1.5"
    assert rows["ann", "TOTAL"]["points"] == "1.5" and rows["ann", "TOTAL"]["max_points"] == "2"
    assert rows["ann", "s2_q1"]["feedback"] == "좋습니다. 근거를 더 적으세요."
    wide = {r["student"]: r for r in read(tmp_path / "out" / "grades_wide.csv")}
    assert wide["ann"]["s2_q1"] == "1.5" and wide["ann"]["total"] == "1.5" and wide["ann"]["needs_review"] == "0"
    kept = {r["student"]: r for r in read(review)}
    assert kept["ann"]["points"] == "1.5" and kept["ann"]["status"] == "scored"
    class_folder(tmp_path, ann_answer="다른 답으로 바꾸었습니다")  # Ann resubmits
    assert grade_cli(tmp_path, "--review", str(review)).returncode == 0
    rows = {(r["student"], r["question"]): r for r in read(tmp_path / "out" / "grades.csv")}
    assert rows["ann", "s2_q1"]["status"] == "needs_review" and "answer changed" in rows["ann", "s2_q1"]["detail"]
    assert rows["ann", "TOTAL"]["points"] == "0" and rows["bob", "s2_q1"]["status"] == "reviewed"
    assert {r["student"]: r["status"] for r in read(review)} == {"ann": "answer_changed", "bob": "scored"}


@pytest.mark.parametrize(("points", "message"), [("3", "outside 0"), ("abc", "must be a number")])
def test_a_bad_score_is_a_one_line_error(tmp_path, points, message):
    class_folder(tmp_path)
    grade_cli(tmp_path)
    review = tmp_path / "out" / "grades_review.csv"
    fill(review, {"ann": (points, "")})
    failed = grade_cli(tmp_path, "--review", str(review))
    assert failed.returncode == 2 and message in failed.stderr and "line 2" in failed.stderr
