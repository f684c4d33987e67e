"""The grading policy: one TOML file (``grade --policy grading.toml``), read with :mod:`tomllib`.

Every key is optional; without ``--policy`` the grader behaves as it always did (1 point per automatically judged
question, written answers reviewed but not counted, the latest answer, no deadline, a record without STUDENT_ID
judged against the default variant). A policy file's own defaults differ only where noted::

    [points]                  # points per question (auto and written); a question not named: `auto` / `written`
    auto = 1                  # each automatically judged question
    written = 0               # each written question (0: reviewed, not counted)
    s2_q2 = 2
    s2_q1 = 3

    [feedback]                # what the assignment edition's check() does (written into the release's first cell)
    verdicts = false          # say right / wrong at once
    max_attempts = 3          # answers recorded per question (omit: no limit)

    [attempts]
    count = "last"            # "first", "last" or "best" of a student's recorded attempts
    penalty = 0.0             # share of the question's points taken off per attempt after the first

    [deadline]
    due = 2026-12-01T23:59:00+09:00
    late_penalty_per_day = 0.1  # share of the total taken off per started day late
    max_late_penalty = 0.5
    submissions = "times.csv"   # optional: student,submitted_at (else the LMS download's file names)

    [variants]
    without_id = "folder"     # a record without STUDENT_ID: "folder" (the submitting folder's variant) or "default"

    [lms]
    roster = "roster.csv"
    kind = "canvas"           # or "moodle"
    assignment = "PEFT 과제 1"
    assignment_id = 0         # Canvas: the assignment's id (0: a new assignment is created on import)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

COUNTS = ("first", "last", "best")
WITHOUT_ID = ("folder", "default")
LMS_KINDS = ("canvas", "moodle")
SECTIONS = {"points", "feedback", "attempts", "deadline", "variants", "lms"}


@dataclass(frozen=True)
class Policy:
    """How the grader turns answers into points (see the module docstring for the file)."""

    points: dict[str, float] = field(default_factory=dict)
    auto_points: float = 1.0
    written_points: float = 0.0
    verdicts: bool = False
    max_attempts: int | None = None
    count: str = "last"
    attempt_penalty: float = 0.0
    due: datetime | None = None
    late_penalty_per_day: float = 0.0
    max_late_penalty: float = 1.0
    submissions: str = ""
    without_id: str = "default"
    roster: str = ""
    lms: str = ""
    assignment: str = "PEFT 과제"
    assignment_id: int = 0

    def max_points(self, question_id: str, checkable: bool) -> float:
        """The question's maximum (0: not counted)."""
        return float(self.points.get(question_id, self.auto_points if checkable else self.written_points))


def _number(section: dict[str, Any], key: str, default: float, where: str, low: float = 0.0,
            high: float = float("inf")) -> float:
    """A number from the policy, checked to lie in [low, high]."""
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"--policy {where}: [{key}] must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def load(path: str | Path) -> Policy:
    """The policy in the TOML file `path`; a ValueError names the bad key and the allowed values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--policy: no file {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"--policy {path}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise ValueError(f"--policy {path}: unknown sections {unknown}; allowed: {sorted(SECTIONS)}")
    points, feedback, attempts = data.get("points", {}), data.get("feedback", {}), data.get("attempts", {})
    deadline, lms = data.get("deadline", {}), data.get("lms", {})
    per_question = {k: _number(points, k, 0, path.name) for k in points if k not in ("auto", "written")}
    count = attempts.get("count", "last")
    without_id = data.get("variants", {}).get("without_id", "folder")
    kind = lms.get("kind", "")
    for key, value, allowed in (("attempts.count", count, COUNTS), ("variants.without_id", without_id, WITHOUT_ID),
                                ("lms.kind", kind, ("", *LMS_KINDS))):
        if value not in allowed:
            raise ValueError(f"--policy {path.name}: {key} must be one of {', '.join(map(repr, allowed))}, "
                             f"got {value!r}")
    due = deadline.get("due")
    if isinstance(due, str):
        try:
            due = datetime.fromisoformat(due)
        except ValueError:
            raise ValueError(f"--policy {path.name}: deadline.due must be a date-time, got {due!r}") from None
    if due is not None and (not isinstance(due, datetime) or due.tzinfo is None):
        raise ValueError(f"--policy {path.name}: deadline.due needs a time zone, e.g. 2026-12-01T23:59:00+09:00")
    max_attempts = feedback.get("max_attempts")
    if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
                                     or max_attempts < 1):
        raise ValueError(f"--policy {path.name}: feedback.max_attempts must be a positive integer")
    return Policy(points=per_question, auto_points=_number(points, "auto", 1.0, path.name),
                  written_points=_number(points, "written", 0.0, path.name),
                  verdicts=bool(feedback.get("verdicts", False)), max_attempts=max_attempts, count=count,
                  attempt_penalty=_number(attempts, "penalty", 0.0, path.name, high=1.0), due=due,
                  late_penalty_per_day=_number(deadline, "late_penalty_per_day", 0.0, path.name, high=1.0),
                  max_late_penalty=_number(deadline, "max_late_penalty", 1.0, path.name, high=1.0),
                  submissions=str(deadline.get("submissions", "")), without_id=without_id,
                  roster=str(lms.get("roster", "")), lms=kind, assignment=str(lms.get("assignment", "PEFT 과제")),
                  assignment_id=int(_number(lms, "assignment_id", 0, path.name)))
