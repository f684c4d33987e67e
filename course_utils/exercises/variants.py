"""Per-student variants of the assignment: ``start_assignment(STUDENT_ID)`` and the seed each question draws from.

The assignment edition opens with a cell ``STUDENT_ID = None`` that the student fills in and that calls
:func:`start_assignment`. From then on, questions whose answer comes from a formula (s2_q2's rank and matrix size,
notebook 00's model size, notebook 03's model size) draw their numbers from a seed derived from the student id:
the prompt shows the student's own numbers, ``check()`` judges against them, and the grader recomputes them from
the id in the record. Without a student id (the practice edition) every question uses its default variant: the
numbers of the lecture, which no student's variant repeats.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

SALT = "peft-course-2026/variant"
Params = dict[str, Any]
Draw = Callable[[random.Random], Params]

_STATE: dict[str, Any] = {"student": None, "assignment": False, "verdicts": False, "max_attempts": None,
                          "attempts": {}}


def normalize_id(raw: object) -> str:
    """A student id (or folder name) as compared: Unicode NFC (macOS zips write NFD), trimmed, case-folded."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise TypeError(f"student id must be a string or an integer, got {raw!r}")
    text = unicodedata.normalize("NFC", str(raw)).strip().casefold()
    if not text:
        raise ValueError("student id is empty")
    return text


def seed_for(student_id: str, question_id: str) -> int:
    """A stable 64-bit seed for one student and one question (sha256 of salt, id, question)."""
    digest = hashlib.sha256(f"{SALT}/{normalize_id(student_id)}/{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def pick(rng: random.Random, choices: Sequence[Params], default: Params) -> Params:
    """One of `choices` (never the default variant) drawn with `rng`."""
    allowed = [dict(c) for c in choices if dict(c) != dict(default)]
    if not allowed:
        raise ValueError("choices: no variant other than the default")
    return allowed[rng.randrange(len(allowed))]


def params_for(question_id: str, draw: Draw | None, default: Mapping[str, Any], student: str | None) -> Params:
    """The numbers of one question for `student` (the default variant when there is no student or no draw)."""
    if draw is None or student is None:
        return dict(default)
    return draw(random.Random(seed_for(student, question_id)))


def start_assignment(student_id: object, *, verdicts: bool = False, max_attempts: int | None = None) -> str:
    """Set the student of this session (the assignment edition's first cell); returns the normalized id.

    Args:
        student_id: the student's id (a string or an integer).
        verdicts: the feedback policy: whether check() says right or wrong (default: no, it only records).
        max_attempts: how many answers per question check() records (None: no limit).
    """
    if student_id is None or (isinstance(student_id, str) and not student_id.strip()):
        raise ValueError("STUDENT_ID를 적으세요: 예) STUDENT_ID = \"2026123456\" (학번을 따옴표 안에)")
    if not isinstance(verdicts, bool):
        raise TypeError(f"verdicts must be True or False, got {verdicts!r}")
    if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
                                     or max_attempts < 1):
        raise ValueError(f"max_attempts must be a positive integer or None, got {max_attempts!r}")
    student = normalize_id(student_id)
    if student != _STATE["student"]:
        _STATE["attempts"] = {}
    _STATE.update(student=student, assignment=True, verdicts=verdicts, max_attempts=max_attempts)
    print(f"학번 {student} 님의 과제를 시작합니다. 계산 문제의 숫자는 학번마다 다릅니다.")
    return student


def end_assignment() -> None:
    """Back to the practice edition (no student, default variants, solutions shown)."""
    _STATE.update(student=None, assignment=False, verdicts=False, max_attempts=None, attempts={})


def current_student() -> str | None:
    """The normalized student id of this session, or None in the practice edition."""
    return _STATE["student"]


def assignment_mode() -> bool:
    """True in the assignment edition (after start_assignment): solutions are withheld."""
    return bool(_STATE["assignment"])


def policy() -> dict[str, Any]:
    """The session's feedback policy: {"verdicts": bool, "max_attempts": int | None}."""
    return {"verdicts": _STATE["verdicts"], "max_attempts": _STATE["max_attempts"]}


def attempts(question_id: str) -> list[dict[str, Any]]:
    """The answers this session recorded for `question_id` (the list itself: the engine appends to it)."""
    return _STATE["attempts"].setdefault(question_id, [])
