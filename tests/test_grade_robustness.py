"""Grading robustness (issue 15, item 4), variants in grading (item 2), partial credit and the wide CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_utils.exercises import engine as checkpoints
from course_utils.exercises import variants
from course_utils.exercises.catalog import RECORD_MIME, checkpoint
from course_utils.grading import grade

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

ROOT = Path(__file__).resolve().parent.parent
STAMP = "2026-11-20T10:{:02d}:00+00:00"


def output(question_id: str, answer: object, student: str | None = None, minute: int = 0, **context) -> dict:
    """The display_data output of checkpoint(question_id).check(answer) by `student`, at a fixed time."""
    bundles: list[dict] = []
    emit, checkpoints._emit = checkpoints._emit, bundles.append
    try:
        if student is None:
            variants.end_assignment()
        else:
            variants.start_assignment(student)
        checkpoint(question_id).check(answer, **context)
    finally:
        checkpoints._emit = emit
        variants.end_assignment()
    bundle = bundles[-1]
    bundle[RECORD_MIME]["timestamp"] = STAMP.format(minute)
    return new_output("display_data", data=bundle)


def save(path: Path, cells: list[tuple[str, list[dict]]]) -> Path:
    """A saved notebook: one code cell per (source, outputs)."""
    nb = new_notebook(cells=[new_code_cell(src, outputs=outs, execution_count=i + 1)
                             for i, (src, outs) in enumerate(cells)])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def call(question_id: str) -> str:
    """The source of an answer cell."""
    return f'q = checkpoint("{question_id}")\nq.check(answer)'


def rows_of(*paths: Path, questions=None, strict_ids=False) -> dict[tuple[str, str], dict[str, str]]:
    """Grade in-process; rows keyed by (student, question)."""
    results = [grade.read_submission(s) for s in grade.discover(paths)]
    return {(r["student"], r["question"]): r for r in grade.grade(results, questions, strict_ids)
            if r["question"] != grade.FILE_ROW}


def test_two_checks_in_one_cell_the_later_counts(tmp_path):
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875), output("s2_q2", 50.0)])])
    row = rows_of(tmp_path / "c")["ann", "s2_q2"]
    assert (row["answer"], row["points"]) == ("50.0", "0")


def test_a_later_blank_copy_never_overrides_a_real_answer(tmp_path):
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875, minute=1)]),
                                              (call("s2_q2"), [output("s2_q2", None, minute=9)])])
    row = rows_of(tmp_path / "c")["ann", "s2_q2"]
    assert (row["answer"], row["verdict"], row["points"]) == ("96.875", "correct", "1")


def test_a_placeholder_with_a_forged_correct_verdict_earns_nothing(tmp_path):
    forged = output("s2_q2", None)
    forged["data"][RECORD_MIME]["verdict"] = "correct"
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [forged])])
    row = rows_of(tmp_path / "c")["ann", "s2_q2"]
    assert (row["status"], row["points"]) == ("not_attempted", "0") and "notebook said correct" in row["detail"]


def test_a_forged_verdict_on_a_written_answer_stays_needs_review(tmp_path):
    forged = output("s2_q1", "모르겠습니다")
    forged["data"][RECORD_MIME]["verdict"] = "correct"
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q1"), [forged])])
    row = rows_of(tmp_path / "c")["ann", "s2_q1"]
    assert (row["status"], row["verdict"], row["points"]) == ("needs_review", "recorded", "")


def test_run_dependent_answers_are_rechecked_where_inputs_can_be_rebuilt(tmp_path):
    gauss = torch.randn(1 << 18, generator=torch.Generator().manual_seed(0))
    forged = output("s4_q1", 1.0, data=gauss)
    forged["data"][RECORD_MIME]["verdict"] = "correct"
    other = torch.randn(1 << 10, generator=torch.Generator().manual_seed(5))
    unknown = output("s4_q1", 1.0, data=other)
    unknown["data"][RECORD_MIME]["verdict"] = "correct"
    measured = output("s6_q2", 0.9, measured=0.42)
    measured["data"][RECORD_MIME]["verdict"] = "correct"
    old = output("s6_q1", 1.3, measured=1.3)
    del old["data"][RECORD_MIME]["context"]  # a record from before contexts were recorded
    save(tmp_path / "c" / "ann" / "03.ipynb", [(call("s4_q1"), [forged])])
    save(tmp_path / "c" / "bea" / "03.ipynb", [(call("s4_q1"), [unknown])])
    save(tmp_path / "c" / "ann" / "04.ipynb", [(call("s6_q2"), [measured]), (call("s6_q1"), [old])])
    rows = rows_of(tmp_path / "c")
    assert rows["ann", "s4_q1"]["verdict"] == "incorrect" and "seeded inputs rebuilt" in rows["ann", "s4_q1"]["detail"]
    assert rows["bea", "s4_q1"]["verdict"] == "correct" and "as is" in rows["bea", "s4_q1"]["detail"]
    assert rows["ann", "s6_q2"]["verdict"] == "incorrect" and "taken from the record as is" in rows["ann", "s6_q2"][
        "detail"]
    assert rows["ann", "s6_q1"]["verdict"] == "correct" and "verdict taken from the record as is" in rows[
        "ann", "s6_q1"]["detail"]


def test_student_names_are_unicode_normalized(tmp_path):
    nfd = unicodedata.normalize("NFD", "김민수")
    save(tmp_path / "c" / nfd / "01.ipynb", [(call("s2_q1"), [output("s2_q1", "답")])])
    save(tmp_path / "c" / "김민수__02.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875)])])
    results = [grade.read_submission(s) for s in grade.discover([tmp_path / "c"])]
    assert {r.submission.student for r in results} == {"김민수"}


def test_a_folder_without_a_readable_notebook_still_gets_a_row(tmp_path):
    (tmp_path / "c" / "empty").mkdir(parents=True)
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875)])])
    rows = grade.grade([grade.read_submission(s) for s in grade.discover([tmp_path / "c"])])
    mine = [r for r in rows if r["student"] == "empty"]
    assert [(r["question"], r["status"]) for r in mine] == [("(file)", "no_notebook"), ("s2_q2", "missing"),
                                                             ("TOTAL", "total")]


def test_symlinks_back_into_the_class_folder_never_create_a_student(tmp_path):
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875)])])
    os.symlink(tmp_path / "c" / "ann", tmp_path / "c" / "ghost")
    os.symlink(tmp_path / "c", tmp_path / "c" / "ann" / "loop")
    os.symlink(tmp_path / "c" / "ann" / "01.ipynb", tmp_path / "c" / "ann" / "copy.ipynb")
    found = grade.discover([tmp_path / "c"])
    assert [(s.student, s.name) for s in found] == [("ann", "ann/01.ipynb")]


def test_one_students_extra_question_never_changes_everyones_maximum(tmp_path):
    for name in ("ann", "bea", "cid"):
        save(tmp_path / "c" / name / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875)])])
    save(tmp_path / "c" / "cid" / "extra.ipynb", [(call("s7_q1"), [output("s7_q1", ["lora", "qlora"])])])
    rows = rows_of(tmp_path / "c")
    assert {rows[s, "TOTAL"]["max_points"] for s in ("ann", "bea", "cid")} == {"1"}
    assert rows["cid", "s7_q1"]["status"] == "extra" and rows["cid", "TOTAL"]["points"] == "1"
    assert ("ann", "s7_q1") not in rows


def test_csv_escapes_formulas_and_opens_with_korean_in_excel(tmp_path):
    save(tmp_path / "c" / "=cmd" / "01.ipynb", [(call("s2_q1"), [output("s2_q1", "=HYPERLINK(\"http://x\")")]),
                                                (call("s2_q2"), [output("s2_q2", -5)])])
    save(tmp_path / "c" / "김민수" / "01.ipynb", [(call("s2_q1"), [output("s2_q1", "@SUM(A1) 한국어 답")])])
    out = tmp_path / "grades.csv"
    run = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "김민수".encode() in raw
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = [v for r in rows for k, v in r.items() if k not in ("points", "max_points")]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in cells)
    assert "'=HYPERLINK(\"http://x\")" in cells and "'@SUM(A1) 한국어 답" in cells and "'=cmd" in cells
    wide = out.with_name("grades_wide.csv").read_bytes()
    assert wide.startswith(b"\xef\xbb\xbf") and b"'=cmd" in wide


# -- variants in grading --------------------------------------------------------------------------------------


def test_a_number_copied_from_another_student_fails_in_grade(tmp_path):
    q = checkpoint("s2_q2")
    bobs = q._expected(q.params("bob"))
    save(tmp_path / "c" / "bob" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", bobs, "bob")])])
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", bobs, "ann")])])
    copied = output("s2_q2", bobs, "ann")
    copied["data"][RECORD_MIME]["verdict"] = "correct"  # forged, and her variant claimed to be Bob's
    copied["data"][RECORD_MIME]["variant"] = q.params("bob")
    save(tmp_path / "c" / "cid" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", bobs, "bob")])])  # Bob's notebook
    save(tmp_path / "c" / "dee" / "01.ipynb", [(call("s2_q2"), [copied])])
    rows = rows_of(tmp_path / "c")
    assert rows["bob", "s2_q2"]["points"] == "1" and rows["ann", "s2_q2"]["points"] == "0"
    assert rows["dee", "s2_q2"]["status"] == "id_mismatch" and rows["dee", "s2_q2"]["points"] == "0"
    assert rows["cid", "s2_q2"]["status"] == "id_mismatch" and "'bob'" in rows["cid", "s2_q2"]["detail"]


def test_a_missing_student_id_is_flagged_and_strict_ids_use_the_folders_variant(tmp_path):
    save(tmp_path / "c" / "ann" / "01.ipynb", [(call("s2_q2"), [output("s2_q2", 96.875)])])
    assert rows_of(tmp_path / "c")["ann", "s2_q2"]["status"] == "no_student_id"
    strict = rows_of(tmp_path / "c", strict_ids=True)["ann", "s2_q2"]
    assert strict["points"] == "0" and "folder's variant" in strict["detail"]


def test_partial_credit_gives_fractional_points_and_totals(tmp_path):
    save(tmp_path / "c" / "ann" / "05.ipynb", [(call("s5_q2"), [output("s5_q2", ["nf4", "double_quant"])]),
                                              (call("s5_q3"), [output("s5_q3", ["same_data"])])])
    rows = rows_of(tmp_path / "c")
    assert rows["ann", "s5_q2"]["points"] == "0.83" and rows["ann", "s5_q3"]["points"] == "0"
    assert (rows["ann", "TOTAL"]["points"], rows["ann", "TOTAL"]["max_points"]) == ("0.83", "2")
    columns, wide = grade.wide_rows(list(rows.values()))
    assert columns == ["student", "s5_q2", "s5_q3", "total", "max_points", "needs_review"]
    assert wide == [{"student": "ann", "s5_q2": "0.83", "s5_q3": "0", "total": "0.83", "max_points": "2",
                     "needs_review": "0"}]


def make_class(folder: Path, n: int) -> None:
    """`n` assignment submissions (students s000..): a mix of right, copied, wrong, written and blank answers."""
    cache: dict[tuple, dict] = {}
    for i in range(n):
        student = f"s{i:03d}"
        q = checkpoint("s2_q2")
        mine = q._expected(q.params(student))
        answers = [("s2_q1", "랭크가 낮은 변화로 충분합니다." if i % 3 else None), ("s2_q2", mine if i % 4 else 96.875),
                   ("s2_q3", "새 언어처럼 먼 작업에서 심합니다."), ("s5_q2", ["nf4", "double_quant"][: 1 + i % 2])]
        cells = []
        for minute, (qid, answer) in enumerate(answers):
            key = (qid, repr(answer), student)
            if key not in cache:
                cache[key] = output(qid, answer, student, minute)
            cells.append((call(qid), [cache[key]]))
        save(folder / student / "01_lora_math.ipynb", cells)


def test_grading_200_submissions_with_a_report_is_fast(tmp_path):
    make_class(tmp_path / "c", 200)
    out, report = tmp_path / "grades.csv", tmp_path / "report.html"
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "c"), "--out", str(out),
                          "--report", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stderr
    assert "graded 200 students, 200 files" in run.stdout
    print(f"grading 200 submissions (with the report): {seconds:.1f} s")
    assert seconds < 120
