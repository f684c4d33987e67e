"""The grading policy file (issue 28, item 2): points, attempts, the variant of a record without STUDENT_ID."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_output
from test_grade_robustness import call, output, save

from course_utils.exercises import engine, variants
from course_utils.exercises.catalog import QUESTIONS, RECORD_MIME, checkpoint
from course_utils.grading import grade, policy

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

ROOT = Path(__file__).resolve().parent.parent
ANN = "ann"


def attempts_output(question_id: str, answers: list, student: str = ANN) -> dict:
    """The output a cell keeps after `answers` were checked one after another in one session (the last record)."""
    bundles: list[dict] = []
    emit, engine._emit = engine._emit, bundles.append
    try:
        variants.start_assignment(student)
        for answer in answers:
            checkpoint(question_id).check(answer)
    finally:
        engine._emit = emit
        variants.end_assignment()
    return new_output("display_data", data=bundles[-1])


def right(question_id: str, student: str = ANN) -> float:
    q = QUESTIONS[question_id]
    return q._expected(q._ctx({}, student))


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grading.toml"
    path.write_text(text, encoding="utf-8")
    return path


def rows_with(tmp_path: Path, text: str) -> dict:
    rules = policy.load(write_policy(tmp_path, text))
    results = [grade.read_submission(s) for s in grade.discover([tmp_path / "c"])]
    return {(r["student"], r["question"]): r for r in grade.grade(results, policy=rules)}


def test_points_per_question_scale_auto_and_count_written(tmp_path):
    save(tmp_path / "c" / ANN / "01.ipynb", [(call("s2_q2"), [output("s2_q2", right("s2_q2"), ANN)]),
                                            (call("s2_q1"), [output("s2_q1", "랭크가 낮아서", ANN)])])
    rows = rows_with(tmp_path, "[points]\ns2_q2 = 2.5\nwritten = 3\n")
    assert rows[ANN, "s2_q2"]["points"] == "2.5" and rows[ANN, "s2_q2"]["max_points"] == "2.5"
    assert rows[ANN, "s2_q1"]["max_points"] == "3" and rows[ANN, "s2_q1"]["points"] == ""
    assert rows[ANN, "TOTAL"]["points"] == "2.5" and rows[ANN, "TOTAL"]["max_points"] == "5.5"


@pytest.mark.parametrize(("count", "penalty", "points", "note"), [
    ("last", 0.0, "0", ""), ("first", 0.0, "0", "attempt 1 of 3"), ("best", 0.0, "1", "attempt 2 of 3"),
    ("best", 0.25, "0.75", "penalty 0.25")])
def test_the_attempt_rule_picks_the_answer_that_counts(tmp_path, count, penalty, points, note):
    answers = [right("s2_q2") - 10, right("s2_q2"), right("s2_q2") - 20]
    save(tmp_path / "c" / ANN / "01.ipynb", [(call("s2_q2"), [attempts_output("s2_q2", answers)])])
    row = rows_with(tmp_path, f'[attempts]\ncount = "{count}"\npenalty = {penalty}\n')[ANN, "s2_q2"]
    assert row["points"] == points and note in row["detail"]
    assert row["status"] == "graded"  # "submitted" is what the assignment edition records, not a claim to recheck


def test_max_attempts_ignores_later_answers(tmp_path):
    answers = [right("s2_q2") - 10, right("s2_q2")]
    save(tmp_path / "c" / ANN / "01.ipynb", [(call("s2_q2"), [attempts_output("s2_q2", answers)])])
    row = rows_with(tmp_path, '[feedback]\nmax_attempts = 1\n[attempts]\ncount = "best"\n')[ANN, "s2_q2"]
    assert row["points"] == "0" and "attempt 1 of 1" in row["detail"]


def test_a_policy_grades_a_record_without_student_id_against_the_folders_variant(tmp_path):
    save(tmp_path / "c" / ANN / "01.ipynb", [(call("s2_q2"), [output("s2_q2", right("s2_q2"))])])
    row = rows_with(tmp_path, "")[ANN, "s2_q2"]
    assert row["points"] == "1" and "folder's variant" in row["detail"]
    row = rows_with(tmp_path, '[variants]\nwithout_id = "default"\n')[ANN, "s2_q2"]
    assert row["points"] == "0" and "default (practice) variant" in row["detail"]


@pytest.mark.parametrize(("text", "message"), [
    ("[points]\ns2_q2 = -1\n", "s2_q2"), ('[attempts]\ncount = "median"\n', "attempts.count"),
    ("[deadline]\ndue = 2026-12-01T23:59:00\n", "time zone"), ("[grades]\n", "unknown sections"),
    ("[points\n", "not valid TOML"), ("[feedback]\nmax_attempts = 0\n", "max_attempts")])
def test_a_bad_policy_is_a_one_line_error(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        policy.load(write_policy(tmp_path, text))


def test_the_cli_reads_the_policy_and_rejects_a_bad_one(tmp_path):
    save(tmp_path / "c" / ANN / "01.ipynb", [(call("s2_q2"), [output("s2_q2", right("s2_q2"), ANN)])])
    good, bad = write_policy(tmp_path, "[points]\nauto = 4\n"), tmp_path / "bad.toml"
    bad.write_text("[points]\nauto = 'x'\n", encoding="utf-8")
    run = [sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out", str(tmp_path / "g.csv")]
    assert subprocess.run([*run, "--policy", str(good)], cwd=ROOT, capture_output=True).returncode == 0
    assert "ann,TOTAL,,total,,4,4" in (tmp_path / "g.csv").read_text(encoding="utf-8-sig")
    failed = subprocess.run([*run, "--policy", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "auto" in failed.stderr


def test_assignment_records_keep_no_feedback_for_the_grader_to_trust():
    record = attempts_output("s2_q2", [50.0])["data"][RECORD_MIME]
    assert record["verdict"] == "submitted" and "score" not in record


def test_release_writes_the_feedback_policy_into_the_student_cell(tmp_path):
    from course_utils.publish import release

    assert release.student_cell() == release.STUDENT_CELL
    cell = release.student_cell(verdicts=True, max_attempts=3)
    assert "start_assignment(STUDENT_ID, verdicts=True, max_attempts=3)" in cell
    rules = policy.load(write_policy(tmp_path, "[feedback]\nverdicts = true\nmax_attempts = 2\n"))
    assert (rules.verdicts, rules.max_attempts) == (True, 2)
