"""Grades an LMS imports (issue 28, item 5): rosters of Canvas and Moodle, matching, the import files."""

from __future__ import annotations

import csv
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from test_grade_robustness import call, output, save

from course_utils.grading import lms

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

ROOT = Path(__file__).resolve().parent.parent
CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Old Quiz (11)
    Points Possible,,,,,10
"김, 민수",101,2026000001,minsu@uni.ac.kr,A,
"이, 영희",102,2026000002,yh@uni.ac.kr,A,
"박, 철수",103,2026000003,cs@uni.ac.kr,B,
"최, 지우",104,2026000004,jw@uni.ac.kr,B,
"""
MOODLE_ROSTER = """First name;Surname;ID number;Email address
민수;김;2026000001;minsu@uni.ac.kr
영희;이;2026000002;yh@uni.ac.kr
철수;박;2026000003;cs@uni.ac.kr
지우;최;2026000004;jw@uni.ac.kr
"""
NFD = unicodedata.normalize("NFD", "이영희")


def make_class(tmp_path: Path, yh_folder: str) -> Path:
    for folder, student in (("2026000001", "2026000001"), (yh_folder, None), ("cs_folder", "2026000003"),
                            ("stranger", None)):
        save(tmp_path / "c" / folder / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 50.0, student)])])
    return tmp_path / "c"


def run(tmp_path: Path, kind: str, roster: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8-sig")
    return subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out",
                           str(tmp_path / "out" / "grades.csv"), "--roster", str(tmp_path / "roster.csv"),
                           "--lms", kind, "--assignment-title", "PEFT 과제 1", *extra],
                          cwd=ROOT, capture_output=True, text=True)


def read(path: Path, **kwargs) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines(), **kwargs))


def test_canvas_import_file_follows_the_gradebook_header_rules(tmp_path):
    make_class(tmp_path, NFD)
    done = run(tmp_path, "canvas", CANVAS_ROSTER, "--assignment-id", "77")
    assert done.returncode == 0, done.stderr
    lines = read(tmp_path / "out" / "grades_canvas.csv")
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "PEFT 과제 1 (77)"]
    assert lines[1] == ["    Points Possible", "", "", "", "", "1"]
    assert [line[:3] for line in lines[2:]] == [["김, 민수", "101", "2026000001"], ["박, 철수", "103", "2026000003"],
                                                 ["이, 영희", "102", "2026000002"]]  # NFD folder, record id, folder
    assert not (tmp_path / "out" / "grades_canvas.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    unmatched = read(tmp_path / "out" / "grades_canvas_unmatched.csv")
    assert ["submission_without_roster_entry", "stranger", "no roster entry"] in unmatched
    assert ["roster_student_without_submission", "최, 지우", ""] in unmatched


def test_moodle_import_file_has_one_identifier_a_grade_and_a_feedback_column(tmp_path):
    make_class(tmp_path, NFD + "_42_assignsubmission_file_")
    done = run(tmp_path, "moodle", MOODLE_ROSTER)
    assert done.returncode == 0, done.stderr
    lines = read(tmp_path / "out" / "grades_moodle.csv")
    assert lines[0] == ["Email address", "PEFT 과제 1", "PEFT 과제 1 feedback"]
    assert sorted(line[0] for line in lines[1:]) == ["cs@uni.ac.kr", "minsu@uni.ac.kr", "yh@uni.ac.kr"]
    assert all(line[1] == "0" and line[2].startswith("합계 0/1점") for line in lines[1:])


@pytest.mark.parametrize(("kind", "roster", "extra", "message"), [
    ("canvas", MOODLE_ROSTER, (), "is a moodle export"),
    ("canvas", CANVAS_ROSTER, ("--assignment-title", "Final Grade"), "Canvas drops"),
    ("canvas", "a,b\n1,2\n", (), "neither a Canvas")])
def test_a_wrong_roster_or_title_is_a_one_line_error(tmp_path, kind, roster, extra, message):
    make_class(tmp_path, "yh")
    done = run(tmp_path, kind, roster, *extra)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1


def test_two_submissions_for_one_roster_entry_are_not_both_matched():
    entry = lms.Entry({"ID": "1"}, {"2026000001"}, "김민수")
    matched, unmatched, absent = lms.match({"2026000001": [], "copy": ["2026000001"]}, [entry])
    assert list(matched) == ["2026000001"] and unmatched == [("copy", "roster entry '김민수' already matched")]
    assert absent == []
