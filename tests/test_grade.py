"""The grading CLI over fixture submissions: every bad kind becomes a row, the CSV is stable, --execute isolates."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.exercises.engine import RECORD_MIME
from course_utils.grading import grade, sandbox

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "grading"
SUBMISSIONS = FIXTURES / "submissions"
EXPECTED = FIXTURES / "expected_grades.csv"
# Sandboxed where bubblewrap works (CI installs it; tests/test_grade_sandbox.py says loudly when it is missing).
EXECUTE = "--unsafe-execute" if sandbox.unavailable_reason() else "--execute"
MAX_MB = "0.25"  # heidi's notebook (about 0.3 MB of output) is over it, the others far below
FILE_STATUS = {
    "alice": ["ok"], "bob": ["cell_error"], "carol": ["ok", "ok"], "dave": ["not_a_notebook"],
    "erin": ["invalid_json"], "frank": ["no_answers"], "grace": ["ok"], "heidi": ["too_large"],
    "ivan": ["cell_error"], "judy": ["not_a_notebook"], "kim": ["ok"], "mallory": ["ok"],
}


def run_cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """python -m course_utils grade ARGS, as an instructor runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "course_utils", "grade", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The CSV's rows as dicts."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def by_key(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """Question and TOTAL rows keyed by (student, question)."""
    return {(r["student"], r["question"]): r for r in rows if r["question"] != grade.FILE_ROW}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    """One grading run over the fixtures (saved outputs only)."""
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    run = run_cli(SUBMISSIONS, "--max-mb", MAX_MB, "--out", out)
    assert run.returncode == 0, run.stderr
    assert "graded 12 students, 13 files" in run.stdout
    return out, read_rows(out)


def test_the_fixture_run_gives_the_expected_csv(graded):
    out, _ = graded
    assert out.read_bytes() == EXPECTED.read_bytes()


def test_a_rerun_gives_identical_bytes_from_another_folder(graded, tmp_path):
    out, _ = graded
    again = tmp_path / "again.csv"
    run = run_cli(SUBMISSIONS, "--max-mb", MAX_MB, "--out", again, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert again.read_bytes() == out.read_bytes()


def test_every_bad_submission_is_a_row_with_its_status(graded):
    _, rows = graded
    files = {}
    for row in rows:
        if row["question"] == grade.FILE_ROW:
            files.setdefault(row["student"], []).append(row["status"])
    assert files == FILE_STATUS
    assert {r["status"] for r in rows if r["question"] == grade.FILE_ROW} <= set(grade.FILE_STATUSES)
    assert {r["status"] for r in rows if r["question"] not in (grade.FILE_ROW, grade.TOTAL_ROW)} <= set(
        grade.QUESTION_STATUSES)


def test_verdicts_points_and_totals(graded):
    _, rows = graded
    rows = by_key(rows)
    assert rows["alice", "s2_q2"]["verdict"] == "correct" and rows["alice", "s2_q2"]["points"] == "1"
    assert rows["alice", "s2_q1"]["status"] == "needs_review" and rows["alice", "s2_q1"]["points"] == ""
    assert (rows["alice", "TOTAL"]["points"], rows["alice", "TOTAL"]["max_points"]) == ("2", "2")
    assert rows["bob", "s2_q2"]["verdict"] == "incorrect" and rows["bob", "s2_q2"]["answer"] == "98.4375"
    assert rows["bob", "s4_q2"]["verdict"] == "incorrect" and rows["bob", "TOTAL"]["points"] == "0"
    for student in ("dave", "erin", "frank", "heidi", "judy"):
        assert {rows[student, q]["status"] for q in ("s2_q1", "s2_q2", "s4_q2")} == {"missing"}
        assert (rows[student, "TOTAL"]["points"], rows[student, "TOTAL"]["max_points"]) == ("0", "2")


def test_two_files_for_one_student_are_flagged_and_the_later_answer_counts(graded):
    _, rows = graded
    row = by_key(rows)["carol", "s2_q2"]
    assert row["status"] == "duplicate" and row["verdict"] == "correct"  # duplicate outranks no_student_id
    assert row["file"] == "carol/01_lora_math (1).ipynb" and row["answered_at"].startswith("2026-11-21")
    assert "carol/01_lora_math.ipynb" in row["detail"] and "carol/01_lora_math (1).ipynb" in row["detail"]


def test_a_colab_saved_notebook_grades_like_a_jupyter_one(graded):
    _, rows = graded
    rows = by_key(rows)
    same = ("status", "verdict", "points", "answer", "answered_at")
    for question in ("s2_q1", "s2_q2", "s4_q2", "TOTAL"):
        assert [rows["grace", question][c] for c in same] == [rows["alice", question][c] for c in same]
    colab = json.loads((SUBMISSIONS / "grace" / "01_lora_math.ipynb").read_text(encoding="utf-8"))
    assert "colab" in colab["metadata"] and colab["nbformat_minor"] == 0
    assert all("id" not in cell and "id" in cell["metadata"] for cell in colab["cells"])


def test_loose_files_belong_to_the_student_before_the_double_underscore(graded):
    _, rows = graded
    assert by_key(rows)["kim", "s2_q2"]["file"] == "kim__01_lora_math.ipynb"
    assert grade.student_from_filename(Path("lee_jisoo__02_dora.ipynb")) == "lee_jisoo"
    assert grade.student_from_filename(Path("park.ipynb")) == "park"


def test_a_hand_edited_verdict_is_judged_again(graded):
    _, rows = graded
    row = by_key(rows)["mallory", "s2_q2"]
    assert (row["verdict"], row["points"]) == ("incorrect", "0") and "notebook said correct" in row["detail"]


def test_the_huge_notebook_is_graded_when_the_limit_allows(tmp_path):
    out = tmp_path / "heidi.csv"
    assert run_cli(SUBMISSIONS / "heidi", "--out", out).returncode == 0
    rows = read_rows(out)
    assert rows[0]["status"] == "ok" and by_key(rows)["01_lora_math", "TOTAL"]["points"] == "2"


def test_questions_option_fixes_the_rows_and_rejects_unknown_ids(tmp_path):
    out = tmp_path / "q.csv"
    assert run_cli(SUBMISSIONS / "alice", "--questions", "s2_q2,s3_q1", "--out", out).returncode == 0
    rows = read_rows(out)
    assert [r["question"] for r in rows] == ["(file)", "s2_q1", "s2_q2", "s3_q1", "s4_q2", "TOTAL"]
    assert [r["status"] for r in rows if r["question"] in ("s2_q1", "s4_q2")] == ["extra", "extra"]
    assert (rows[-1]["points"], rows[-1]["max_points"]) == ("1", "2")  # s2_q2 right, s3_q1 missing
    bad = run_cli(SUBMISSIONS, "--questions", "s9_q9", "--out", out)
    assert bad.returncode == 2 and "unknown ids ['s9_q9']" in bad.stderr
    missing = run_cli(tmp_path / "nowhere", "--out", out)
    assert missing.returncode == 2 and "neither a file nor a folder" in missing.stderr


def test_records_stored_as_json_text_and_unknown_ids_are_read():
    record = {"question": "s2_q2", "answer": 96.875, "verdict": "correct", "timestamp": "2026-01-01T00:00:00+00:00"}
    nb = {"nbformat": 4, "cells": [
        {"cell_type": "code", "source": 'checkpoint("s2_q2")', "outputs": [
            {"output_type": "display_data", "data": {RECORD_MIME: json.dumps(record)}},
            {"output_type": "display_data", "data": {RECORD_MIME: {**record, "question": "s99_q1"}}},
            {"output_type": "display_data", "data": {RECORD_MIME: "not json"}}]}]}
    records, errors, referenced = grade._records_and_errors(nb)
    assert [r["question"] for r in records] == ["s2_q2", "s99_q1"] and not errors and referenced == {"s2_q2"}
    submission = grade.Submission("x", Path("x.ipynb"), "x.ipynb")
    rows = by_key(grade.grade([grade.FileResult(submission, "ok", records=records, referenced=referenced)]))
    assert rows["x", "s99_q1"]["status"] == "unknown_question" and rows["x", "s2_q2"]["points"] == "1"


def test_the_csv_is_replaced_atomically(tmp_path, monkeypatch):
    out = tmp_path / "grades.csv"
    out.write_text("old\n", encoding="utf-8")

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(grade.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        grade.write_csv([{c: "" for c in grade.COLUMNS}], out)
    assert out.read_text(encoding="utf-8") == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]
    monkeypatch.undo()
    grade.write_csv([{c: "v" for c in grade.COLUMNS}], out)
    assert out.read_text(encoding="utf-8-sig").splitlines() == [",".join(grade.COLUMNS),
                                                                ",".join("v" * len(grade.COLUMNS))]


def test_the_fixture_generator_reproduces_the_committed_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "submissions")
    made = sorted(p.relative_to(tmp_path / "submissions") for p in (tmp_path / "submissions").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(SUBMISSIONS) for p in SUBMISSIONS.rglob("*") if p.is_file())
    assert made == committed
    for relative in made:
        assert (tmp_path / "submissions" / relative).read_bytes() == (SUBMISSIONS / relative).read_bytes(), relative


def test_execute_runs_each_notebook_fresh_and_survives_errors(tmp_path):
    folder = tmp_path / "class"
    for student in ("frank", "bob", "mallory"):
        shutil.copytree(SUBMISSIONS / student, folder / student)
    out = tmp_path / "executed.csv"
    run = run_cli(folder, EXECUTE, "--timeout", "300", "--out", out)
    assert run.returncode == 0, run.stderr
    rows = read_rows(out)
    files = {r["student"]: r["status"] for r in rows if r["question"] == grade.FILE_ROW}
    assert files == {"bob": "cell_error", "frank": "ok", "mallory": "ok"}
    rows = by_key(rows)
    assert {rows["frank", q]["status"] for q in ("s2_q1", "s2_q2", "s4_q2")} == {"not_attempted"}  # really ran
    assert rows["bob", "s2_q2"]["verdict"] == "incorrect" and rows["bob", "s2_q1"]["status"] == "needs_review"
    assert rows["mallory", "s2_q2"]["verdict"] == "incorrect" and "notebook said" not in rows["mallory", "s2_q2"][
        "detail"]  # run afresh: the forged verdict is gone
    assert all(r["answered_at"] == "" for r in rows.values())  # no time of the grading run in the CSV
    again = tmp_path / "again.csv"  # two sandboxes at once: the same bytes
    assert run_cli(folder, EXECUTE, "--timeout", "300", "--jobs", "2", "--out", again).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_execute_stops_an_infinite_loop_at_the_timeout(tmp_path):
    out = tmp_path / "loop.csv"
    run = run_cli(SUBMISSIONS / "ivan", EXECUTE, "--timeout", "20", "--out", out)
    assert run.returncode == 0, run.stderr
    rows = read_rows(out)
    assert rows[0]["status"] == "timeout" and "--timeout 20" in rows[0]["detail"]
    rows = by_key(rows)
    assert rows["01_lora_math", "s2_q1"]["status"] == "needs_review"  # answered before the loop
