"""Grading a whole class: seconds for 300 students × 6 notebooks, read-only, with report, feedback and LMS file.

    python benchmarks/grade_class.py                    # 300 students, every question of notebooks 00-05
    python benchmarks/grade_class.py --students 50 --keep /tmp/class

A class folder is written first (each student's notebooks hold the assignment edition's records of every question
of that notebook, half of the numeric answers right), with a Canvas roster and a policy file; then
``python -m course_utils grade`` runs in-process on it with --report, --feedback-dir, --roster/--lms canvas and
--policy, and the wall-clock seconds are printed. The target is <= 60 s on a quiet 2-core CPU. This is a
benchmark script, not a test: a busy machine makes every number larger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("COURSE_PROFILE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from course_utils.exercises import engine, variants  # noqa: E402
from course_utils.exercises.catalog import QUESTIONS, RECORD_MIME  # noqa: E402
from course_utils.grading import grade  # noqa: E402

NOTEBOOKS = ("00_peft_motivation", "01_lora_math", "02_dora_decomposition", "03_nf4_quantization",
             "04_qlora_training", "05_method_comparison")
POLICY = '[points]\nauto = 2\nwritten = 3\n[attempts]\ncount = "best"\n[lms]\nassignment = "PEFT 과제 1"\n'


def _answer(question, context: dict, student: str, n: int) -> object:
    """A plausible answer: right for every other student on numeric questions."""
    if question.kind == "written":
        return f"{student}의 답: 필요한 변화의 랭크가 낮기 때문입니다. " * 3
    if question.kind == "choice":
        return question.options[n % len(question.options)]
    if question.kind == "set":
        return list(question.options)[: 1 + n % 3]
    if question.kind == "tuple":
        return context.get("measured", (8, 57))
    right = question._expected(question._ctx(context, student))
    return right if n % 2 else right * 1.5


def _contexts() -> dict[str, dict]:
    """The run context of every question that needs one (rebuilt once; a measured value otherwise)."""
    out = {}
    for question in QUESTIONS.values():
        if question.context:
            out[question.id] = question.rebuild() if question.rebuild else {
                "measured": (8, 57) if question.kind == "tuple" else 1.37}
    return out


def make_class(folder: Path, students: int) -> None:
    """Write `students` folders with six notebooks each, a Canvas roster and grading.toml."""
    contexts = _contexts()
    bundles: list[dict] = []
    engine._emit = bundles.append  # type: ignore[assignment]  (this process only records)
    roster = ["Student,ID,SIS User ID,SIS Login ID,Section"]
    for n in range(students):
        student = f"2026{n:06d}"
        roster.append(f'"학생{n:03d}, 김",{1000 + n},{student},s{n}@uni.ac.kr,A')
        variants.start_assignment(student)
        for notebook in NOTEBOOKS:
            cells = []
            for question in [q for q in QUESTIONS.values() if q.notebook == notebook]:
                context = contexts.get(question.id, {})
                for attempt in range(1 + n % 2):
                    question.check(_answer(question, context, student, n + attempt), **context)
                cells.append({"cell_type": "code", "execution_count": 1, "metadata": {}, "id": question.id,
                              "source": f'q = checkpoint("{question.id}")\nq.check(answer)',
                              "outputs": [{"output_type": "display_data", "metadata": {},
                                           "data": {RECORD_MIME: bundles[-1][RECORD_MIME],
                                                    "text/plain": bundles[-1]["text/plain"]}}]})
            nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            path = folder / "class" / student / f"{notebook}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    variants.end_assignment()
    (folder / "roster.csv").write_text("\n".join(roster) + "\n", encoding="utf-8")
    (folder / "grading.toml").write_text(POLICY, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--keep", default="", help="write the class here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(args.keep or temp)
        start = time.perf_counter()
        make_class(folder, args.students)
        made = time.perf_counter() - start
        start = time.perf_counter()
        code = grade.main([str(folder / "class"), "--out", str(folder / "out" / "grades.csv"), "--policy",
                           str(folder / "grading.toml"), "--report", str(folder / "out" / "report.html"),
                           "--feedback-dir", str(folder / "out" / "feedback"), "--roster", str(folder / "roster.csv"),
                           "--lms", "canvas"])
        graded = time.perf_counter() - start
    print(f"class of {args.students} students x {len(NOTEBOOKS)} notebooks: written in {made:.1f} s; "
          f"graded (report, feedback, Canvas file) in {graded:.1f} s (target <= 60 s on 2 cores)")
    return code


if __name__ == "__main__":
    sys.exit(main())
