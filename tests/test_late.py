"""Deadlines (issue 28, item 6): late status, minutes late, raw and adjusted points under the policy's penalty."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from test_grade_robustness import call, output, save

from course_utils.grading import grade, late

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

ROOT = Path(__file__).resolve().parent.parent
POLICY = "[deadline]\nlate_penalty_per_day = 0.1\nmax_late_penalty = 0.3\n[points]\nauto = 10\n"


def right(student: str) -> float:
    from course_utils.exercises.catalog import QUESTIONS

    q = QUESTIONS["s2_q2"]
    return q._expected(q._ctx({}, student))


def totals(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["student"]: r for r in csv.DictReader(handle) if r["question"] == "TOTAL"}


def test_times_from_a_csv_give_late_minutes_and_the_penalty(tmp_path):
    for student in ("ann", "bob", "cid", "dee"):
        save(tmp_path / "c" / student / "01.ipynb", [(call("s2_q2"), [output("s2_q2", right(student), student)])])
    (tmp_path / "times.csv").write_text("student,submitted_at\nann,2026-12-01T23:00:00+09:00\n"
                                        "bob,2026-12-02T00:30:00+09:00\ncid,2026-12-09T10:00:00+09:00\n")
    (tmp_path / "grading.toml").write_text(POLICY)
    done = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out",
                           str(tmp_path / "g.csv"), "--policy", str(tmp_path / "grading.toml"),
                           "--due", "2026-12-01T23:59:00+09:00", "--submission-times", str(tmp_path / "times.csv"),
                           "--feedback-dir", str(tmp_path / "fb")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = totals(tmp_path / "g.csv")
    got = {s: (r["late"], r["minutes_late"], r["raw_points"], r["points"]) for s, r in rows.items()}
    assert got == {"ann": ("on_time", "0", "10", "10"), "bob": ("late", "31", "10", "9"),
                   "cid": ("late", "10681", "10", "7"), "dee": ("unknown", "", "10", "10")}
    wide = list(csv.DictReader((tmp_path / "g_wide.csv").open(encoding="utf-8-sig")))
    assert {r["student"]: r["total"] for r in wide}["cid"] == "7" and "minutes_late" in wide[0]
    assert "31분 늦음" in (tmp_path / "fb" / "bob.html").read_text(encoding="utf-8")


def test_a_canvas_download_names_the_student_and_marks_late_files(tmp_path):
    assert late.canvas_student("smithbob_LATE_1234_5678_01_lora.ipynb") == ("smithbob_1234", True)
    assert late.canvas_student("kimminsu_1235_5679_01_lora.ipynb") == ("kimminsu_1235", False)
    assert late.canvas_student("kim_minsu__01.ipynb") is None
    path = tmp_path / "d" / "smithbob_LATE_1234_5678_01_lora.ipynb"
    save(path, [(call("s2_q2"), [output("s2_q2", 50.0)])])
    assert [s.student for s in grade.discover([tmp_path / "d"])] == ["smithbob_1234"]


def test_without_a_time_zone_the_due_date_is_refused(tmp_path):
    with pytest.raises(ValueError, match="time zone"):
        late.parse_time("2026-12-01T23:59:00", "--due")
